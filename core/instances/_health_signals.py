"""A number's health from what is stored (recipients, contacts, notifications), kept on the
number by the worker's maintenance: the score and its explanation, and the pause when it falls
too low (with a notification naming the signal). Thresholds: `_health`.

Signals, over the last `WINDOW` of the number's real sends (test sends left out): attempts and
their outcomes (sent, not on WhatsApp, other failures and unknown), receipts (delivered, read),
replies, contacts who opted out after the message reached them (a STOP reply opts the contact
out, core.tracking._replies, so it counts here), the times its circuit opened, and sends whose
receipt is overdue while receipts still reach us for the account's numbers.
One grouped query per signal covers every number the worker scores.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.orm import Session

from core.base import stored_text
from core.instances._health import (
    EVERY,
    RECEIPT_OVERDUE,
    WINDOW,
    Health,
    Signals,
    score,
    should_pause,
)
from core.instances._health_history import record_samples
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
    session: Session, instance_ids: Iterable[int], since: datetime, now: datetime | None = None
) -> dict[int, Signals]:
    ids = list(instance_ids)
    counts: dict[int, dict[str, Any]] = defaultdict(dict)
    if not ids:
        return {}
    now = now or since + WINDOW
    r = CampaignRecipient
    accepted = r.status.in_(_ACCEPTED)
    not_on_whatsapp = r.error_kind == "not_on_whatsapp"
    receipt = r.delivered_at.is_not(None) | r.read_at.is_not(None)
    overdue = accepted & (r.sent_at <= now - RECEIPT_OVERDUE)

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
            total(receipt),
            total(r.read_at.is_not(None)),
            total(accepted & r.replied_at.is_not(None)),
            total(overdue),
            total(overdue & ~receipt),
            func.min(case((overdue & ~receipt, r.sent_at))),
        )
        .where(
            r.instance_id.in_(ids),
            r.is_test.is_(False),
            r.last_attempt_at >= since,
            r.status.in_(_FINAL),
        )
        .group_by(r.instance_id)
    ).all()
    first_unconfirmed: dict[int, datetime] = {}
    for row in rows:
        instance_id, attempts, sent, off, errors, delivered, read, replied = row[:8]
        counts[instance_id].update(
            attempts=attempts,
            sent=int(sent or 0),
            not_on_whatsapp=int(off or 0),
            errors=int(errors or 0),
            delivered=int(delivered or 0),
            read=int(read or 0),
            replied=int(replied or 0),
            overdue=int(row[8] or 0),
            overdue_unconfirmed=int(row[9] or 0),
        )
        if row[10] is not None:
            first_unconfirmed[instance_id] = as_utc(row[10])
    for instance_id, flowing in _receipts_flowing(session, first_unconfirmed, since).items():
        counts[instance_id]["receipts_flowing"] = flowing
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


def as_utc(moment: datetime) -> datetime:
    """Aggregates come back naive on SQLite (no column type to convert them)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _receipts_flowing(
    session: Session, first_unconfirmed: dict[int, datetime], since: datetime
) -> dict[int, bool]:
    """Whether a receipt reached us, for any number of the same account (this one's earlier
    sends included), after each number's oldest unconfirmed send went out — and the number's
    own webhook is registered. Otherwise the silence is the webhook's, not WhatsApp's."""
    if not first_unconfirmed:
        return {}
    numbers = session.execute(
        select(
            SenderInstance.id,
            SenderInstance.account_id,
            SenderInstance.webhook_registered_at,
            SenderInstance.webhook_error,
        ).where(SenderInstance.id.in_(list(first_unconfirmed)))
    ).all()
    accounts = {account_id for _i, account_id, _r, _e in numbers}
    r = CampaignRecipient
    latest: dict[int, datetime] = {}
    for account_id, delivered, read in session.execute(
        select(SenderInstance.account_id, func.max(r.delivered_at), func.max(r.read_at))
        .join(SenderInstance, SenderInstance.id == r.instance_id)
        .where(
            SenderInstance.account_id.in_(accounts),
            r.sent_at >= since,
            r.delivered_at.is_not(None) | r.read_at.is_not(None),
        )
        .group_by(SenderInstance.account_id)
    ).all():
        moments = [as_utc(m) for m in (delivered, read) if m is not None]
        if moments:
            latest[account_id] = max(moments)
    return {
        instance_id: registered is not None
        and not error
        and account_id in latest
        and latest[account_id] > first_unconfirmed[instance_id]
        for instance_id, account_id, registered, error in numbers
    }


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
    signals = gather_signals(session, [row.id for row in due], now - WINDOW, now)
    scored: dict[int, Health] = {}
    samples: dict[int, tuple[Health, bool]] = {}
    for row in due:
        health = score(signals[row.id])
        scored[row.id] = health
        paused = row.health_paused_at is not None
        pause = should_pause(health.score, paused)
        samples[row.id] = (health, pause)
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
    record_samples(session, samples, now)  # the history: when it moved, or every 15 min
    return scored
