"""A number's health from what is stored (recipients, contacts, notifications), kept on the
number by the worker's maintenance: the score and its explanation, and the pause when it falls
too low (with a notification naming the signal). Thresholds: `_health`.

Signals, over the last `WINDOW` of the number's real sends (test sends left out): attempts and
their outcomes (sent, not on WhatsApp, other failures and unknown), receipts (delivered, read),
contacts who opted out after the message reached them, and the times its circuit opened.
One grouped query per signal covers every number the worker scores.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.orm import Session

from core.base import stored_text
from core.instances._health import (
    EVERY,
    WINDOW,
    Health,
    Signals,
    score,
    should_pause,
)
from core.models import (
    CampaignRecipient,
    Contact,
    Notification,
    RecipientStatus,
    SenderInstance,
)
from core.notifications import notify

log = logging.getLogger("worker")
_NO_SYNC = {"synchronize_session": False}
_ACCEPTED = (RecipientStatus.SENT, RecipientStatus.DELIVERED, RecipientStatus.READ)
_FINAL = (*_ACCEPTED, RecipientStatus.FAILED, RecipientStatus.UNKNOWN)


def gather_signals(
    session: Session, instance_ids: Iterable[int], since: datetime
) -> dict[int, Signals]:
    ids = list(instance_ids)
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if not ids:
        return {}
    r = CampaignRecipient
    accepted = r.status.in_(_ACCEPTED)
    not_on_whatsapp = r.error_kind == "not_on_whatsapp"

    def total(condition):  # type: ignore[no-untyped-def]
        return func.sum(case((condition, 1), else_=0))

    rows = session.execute(
        select(
            r.instance_id,
            func.count(),
            total(accepted),
            total(not_on_whatsapp),
            total(
                r.status.in_((RecipientStatus.FAILED, RecipientStatus.UNKNOWN)) & ~not_on_whatsapp
            ),
            total(r.delivered_at.is_not(None) | r.read_at.is_not(None)),
            total(r.read_at.is_not(None)),
        )
        .where(
            r.instance_id.in_(ids),
            r.is_test.is_(False),
            r.last_attempt_at >= since,
            r.status.in_(_FINAL),
        )
        .group_by(r.instance_id)
    ).all()
    for instance_id, attempts, sent, off, errors, delivered, read in rows:
        counts[instance_id].update(
            attempts=attempts,
            sent=int(sent or 0),
            not_on_whatsapp=int(off or 0),
            errors=int(errors or 0),
            delivered=int(delivered or 0),
            read=int(read or 0),
        )
    opt_outs = session.execute(
        select(r.instance_id, func.count())
        .join(Contact, Contact.id == r.contact_id)
        .where(
            r.instance_id.in_(ids),
            r.is_test.is_(False),
            r.sent_at >= since,
            and_(Contact.opted_out_at.is_not(None), Contact.opted_out_at >= r.sent_at),
        )
        .group_by(r.instance_id)
    ).all()
    for instance_id, n in opt_outs:
        counts[instance_id]["opt_outs"] = n
    drops = session.execute(
        select(Notification.instance_id, func.count())
        .where(
            Notification.instance_id.in_(ids),
            Notification.kind == "instance_down",
            Notification.created_at >= since,
        )
        .group_by(Notification.instance_id)
    ).all()
    for instance_id, n in drops:
        counts[instance_id]["drops"] = n
    return {i: Signals(**counts.get(i, {})) for i in ids}


def refresh_health(
    session: Session, instance_ids: Iterable[int], now: datetime, force: bool = False
) -> dict[int, Health]:
    """Score the numbers (those whose stored score is older than `EVERY`, or all with
    `force`), store what changed (`health_checked_at`: when the score last changed), pause or
    resume them. The caller commits. Returns the health of those scored."""
    rows = session.scalars(
        select(SenderInstance).where(SenderInstance.id.in_(list(instance_ids)))
    ).all()
    due = [
        row
        for row in rows
        if force or row.health_checked_at is None or row.health_checked_at + EVERY <= now
    ]
    if not due:
        return {}
    signals = gather_signals(session, [row.id for row in due], now - WINDOW)
    scored: dict[int, Health] = {}
    for row in due:
        health = score(signals[row.id])
        scored[row.id] = health
        paused = row.health_paused_at is not None
        pause = should_pause(health.score, paused)
        values: dict[str, object] = {
            "health_score": health.score,
            "health_details": health.json(),
            "health_checked_at": now,
        }
        if pause and not paused:
            values["health_paused_at"] = now
        elif paused and not pause:
            values["health_paused_at"] = None
        unchanged = (
            pause == paused
            and row.health_score == health.score
            and row.health_details == values["health_details"]
        )
        if unchanged and not force:
            # Nothing to write: on SQLite every write waits for the one lock the sends need.
            continue
        if not unchanged:
            session.execute(
                update(SenderInstance).where(SenderInstance.id == row.id).values(**values),
                execution_options=_NO_SYNC,
            )
        if pause and not paused:
            signal = health.worst or "unknown"
            log.warning(
                "instance paused for its health",
                extra={"instance_id": row.id, "score": health.score, "signal": signal},
            )
            notify(
                session,
                row.account_id,
                "instance_health_paused",
                {"name": row.name},
                stored_text.text(
                    stored_text.HEALTH_PAUSED_BODY,
                    score=health.score,
                    signal=stored_text.text(stored_text.HEALTH_SIGNALS[signal]),
                ),
                instance_id=row.id,
            )
        elif paused and not pause:
            log.info(
                "instance resumed: its health recovered",
                extra={"instance_id": row.id, "score": health.score},
            )
            notify(
                session,
                row.account_id,
                "instance_health_resumed",
                {"name": row.name},
                stored_text.text(stored_text.HEALTH_RESUMED_BODY, score=health.score),
                instance_id=row.id,
            )
    return scored
