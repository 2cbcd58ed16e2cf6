"""Claim before send: the one transaction that decides whether, what and when an instance sends.

`claim_next` runs in one short transaction that (1) proves this worker still holds the instance's
lease (row lock on PostgreSQL, the write lock on SQLite), (2) checks the daily cap and the pacing
from the database, (3) picks a pending recipient of a campaign that is still running and inside
its send window, (4) marks it `sending` with the claim and records an `InstanceSend` row. The
caller commits, and only then makes the HTTP call. Nothing is sent for an unclaimed recipient.

Pacing: `SenderInstance.next_send_at` keeps the gap (claim to claim: 60/rate + random extra), and
the `InstanceSend` rows of the last minute keep the window. Their `sent_at` is the claim time while
the request is in flight and the moment the answer came back afterwards — the latest moment the
server can have sent the message — so "at most `rate` in any 60 s" holds at the server as well,
whatever the latency did.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from core import pacing
from core.models import (
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Circuit,
    InstanceSend,
    RecipientStatus,
    SenderInstance,
    campaign_instances,
)

R = CampaignRecipient
_NO_SYNC = {"synchronize_session": False}
# Campaign states whose *test* recipients still go out (a test is usually sent from a draft).
TEST_SEND_STATUSES = (
    CampaignStatus.DRAFT,
    CampaignStatus.PENDING,
    CampaignStatus.RUNNING,
    CampaignStatus.PAUSED,
    CampaignStatus.COMPLETED,
)
IDLE_RECHECK = timedelta(seconds=1)
WINDOW_RECHECK = timedelta(seconds=30)
WORKER_LOST = "the worker sending this message stopped; it may have gone out"


@dataclass(frozen=True)
class Claim:
    recipient_id: int
    campaign_id: int
    account_id: int
    instance_id: int
    contact_id: int | None
    worker_id: str
    claimed_at: datetime
    send_id: int
    phone: str
    text: str
    part: int  # index into `parts` of what to send now
    parts: tuple[str, ...]  # ("text",) | ("media",) | ("text", "audio") | ("audio",)
    multimedia: dict[str, Any] | None
    attempts: int  # including this one
    is_test: bool
    base_url: str
    instance_name: str
    api_version: str
    token_encrypted: str


@dataclass(frozen=True)
class Wait:
    """Nothing may be sent before `until` (pacing, window, daily cap)."""

    until: datetime
    reason: str


@dataclass(frozen=True)
class Idle:
    """Nothing to send now; look again at `recheck_at`."""

    recheck_at: datetime


@dataclass(frozen=True)
class NotOwner:
    """This worker does not (any longer) hold the instance's lease."""


ClaimStep = Claim | Wait | Idle | NotOwner


def message_parts(multimedia: dict[str, Any] | None, text: str) -> tuple[str, ...]:
    """Audio carries no caption, so its text goes first as a message of its own."""
    if not multimedia:
        return ("text",)
    if multimedia.get("type") == "audio":
        return ("text", "audio") if text.strip() else ("audio",)
    return ("media",)


def window_earliest(recent: Sequence[datetime], rate_per_minute: int, now: datetime) -> datetime:
    """Earliest moment a new send keeps every 60-s window at `rate_per_minute` or below."""
    if len(recent) < rate_per_minute:
        return now
    ordered = sorted(recent)
    return max(now, ordered[-rate_per_minute] + pacing.WINDOW)


def effective_window(
    campaign: Any, instance: SenderInstance
) -> tuple[time | None, time | None, list[int] | None]:
    """A campaign's own window, when it has one, overrides its instances' windows."""
    if (
        campaign.window_start is not None
        or campaign.window_end is not None
        or campaign.window_days is not None
    ):
        return campaign.window_start, campaign.window_end, campaign.window_days
    return instance.window_start, instance.window_end, instance.window_days


def local_day_bounds(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    local = now.astimezone(zone)
    start = datetime.combine(local.date(), time(0), tzinfo=zone)
    end = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def claim_next(
    session: Session,
    instance_id: int,
    worker_id: str,
    now: datetime,
    *,
    rng: random.Random | None = None,
) -> ClaimStep:
    """Claim the instance's next send, if it may send now. The caller commits before sending."""
    row = session.execute(
        select(SenderInstance, Account.timezone)
        .join(Account, Account.id == SenderInstance.account_id)
        .where(
            SenderInstance.id == instance_id,
            SenderInstance.lease_owner == worker_id,
            SenderInstance.lease_expires_at > now,
        )
        .with_for_update(of=SenderInstance)
    ).first()
    if row is None:
        return NotOwner()
    instance, tz_name = row
    if not instance.is_active or instance.circuit != Circuit.CLOSED:
        return Idle(now + WINDOW_RECHECK)
    zone = ZoneInfo(tz_name or "UTC")

    if instance.daily_cap:
        day_start, day_end = local_day_bounds(now, zone)
        sent_today = session.scalar(
            select(func.count())
            .select_from(InstanceSend)
            .where(InstanceSend.instance_id == instance_id, InstanceSend.sent_at >= day_start)
        )
        if (sent_today or 0) >= instance.daily_cap:
            return Wait(day_end, "daily cap reached")

    # Only the rate-th most recent send of the last minute matters for the window.
    rate_th = session.scalar(
        select(InstanceSend.sent_at)
        .where(
            InstanceSend.instance_id == instance_id,
            InstanceSend.sent_at > now - pacing.WINDOW,
        )
        .order_by(InstanceSend.sent_at.desc())
        .offset(instance.rate_per_minute - 1)
        .limit(1)
    )
    earliest = now if rate_th is None else max(now, rate_th + pacing.WINDOW)
    if instance.next_send_at is not None:
        earliest = max(earliest, instance.next_send_at)
    if earliest > now:
        return Wait(earliest, "pacing")

    # The second part of a message already under way (audio after its text) comes first.
    continuation = session.execute(
        select(R, Campaign.multimedia)
        .join(Campaign, Campaign.id == R.campaign_id)
        .where(
            R.status == RecipientStatus.SENDING,
            R.claimed_by == worker_id,
            R.instance_id == instance_id,
            R.parts_sent > 0,
        )
        .limit(1)
    ).first()
    if continuation is not None:
        recipient, multimedia = continuation
        parts = message_parts(multimedia, recipient.rendered_text)
        if recipient.parts_sent < len(parts):
            return _record_claim(
                session, instance, recipient, multimedia, parts, now, rng, continuing=True
            )

    campaigns = session.execute(
        select(
            Campaign.id,
            Campaign.status,
            Campaign.window_start,
            Campaign.window_end,
            Campaign.window_days,
            Campaign.multimedia,
        )
        .join(campaign_instances, campaign_instances.c.campaign_id == Campaign.id)
        .where(
            campaign_instances.c.instance_id == instance_id,
            Campaign.status.in_(TEST_SEND_STATUSES),
        )
        .order_by(Campaign.id)
    ).all()
    media_of = {c.id: c.multimedia for c in campaigns}
    open_running: list[Any] = []
    test_ok: list[int] = []
    reopen: list[datetime] = []
    for campaign in campaigns:
        test_ok.append(campaign.id)  # tests go to staff's own phones: no window
        if campaign.status != CampaignStatus.RUNNING:
            continue
        start, end, days = effective_window(campaign, instance)
        if pacing.in_send_window(now, zone, start, end, days):
            open_running.append(campaign)
        else:
            opens = pacing.next_window_open(now, zone, start, end, days)
            if opens is not None:
                reopen.append(opens)

    due = or_(R.next_attempt_at.is_(None), R.next_attempt_at <= now)
    candidates: list[tuple[Any, Any]] = []
    if test_ok:
        candidates.append(
            (
                select(R.id)
                .where(
                    R.campaign_id.in_(test_ok),
                    R.status == RecipientStatus.PENDING,
                    R.is_test.is_(True),
                    due,
                )
                .limit(1)
                .with_for_update(skip_locked=True),
                None,
            )
        )
    for campaign in open_running:
        candidates.append(
            (
                select(R.id)
                .where(R.campaign_id == campaign.id, R.status == RecipientStatus.PENDING, due)
                .limit(1)
                .with_for_update(skip_locked=True),
                campaign,
            )
        )
    for query, _campaign in candidates:
        for _ in range(3):  # another instance of the campaign may win a row: take the next
            recipient_id = session.scalar(query)
            if recipient_id is None:
                break
            recipient = _claim_row(session, recipient_id, worker_id, instance_id, now)
            if recipient is not None:
                multimedia = media_of.get(recipient.campaign_id)
                parts = message_parts(multimedia, recipient.rendered_text)
                return _record_claim(
                    session, instance, recipient, multimedia, parts, now, rng, continuing=False
                )
    if reopen and not open_running:
        return Wait(min(min(reopen), now + WINDOW_RECHECK), "outside the send window")
    return Idle(now + IDLE_RECHECK)


_CLAIMED_COLUMNS = (
    R.id,
    R.campaign_id,
    R.contact_id,
    R.phone,
    R.rendered_text,
    R.attempts,
    R.is_test,
    R.parts_sent,
    R.claimed_by,
    R.claimed_at,
)


def _claim_row(
    session: Session, recipient_id: int, worker_id: str, instance_id: int, now: datetime
) -> Any:
    """Compare-and-set pending -> sending, only while its campaign may still send it."""
    campaign_may_send = exists().where(
        Campaign.id == R.campaign_id,
        or_(
            Campaign.status == CampaignStatus.RUNNING,
            and_(R.is_test.is_(True), Campaign.status.in_(TEST_SEND_STATUSES)),
        ),
    )
    result = session.execute(
        update(R)
        .where(R.id == recipient_id, R.status == RecipientStatus.PENDING, campaign_may_send)
        .values(
            status=RecipientStatus.SENDING,
            claimed_by=worker_id,
            claimed_at=now,
            instance_id=instance_id,
            attempts=R.attempts + 1,
            last_attempt_at=now,
        )
        .returning(*_CLAIMED_COLUMNS),
        execution_options=_NO_SYNC,
    )
    return result.first()


def _record_claim(
    session: Session,
    instance: SenderInstance,
    recipient: Any,  # a CampaignRecipient, or a row of _CLAIMED_COLUMNS
    multimedia: dict[str, Any] | None,
    parts: tuple[str, ...],
    now: datetime,
    rng: random.Random | None,
    *,
    continuing: bool,
) -> Claim:
    send_id = session.scalar(
        insert(InstanceSend)
        .values(instance_id=instance.id, recipient_id=recipient.id, sent_at=now)
        .returning(InstanceSend.id)
    )
    extra = pacing.random_extra_delay(0.0, instance.extra_delay_max_seconds or 0.0, rng)
    session.execute(
        update(SenderInstance)
        .where(SenderInstance.id == instance.id)
        .values(next_send_at=now + pacing.min_gap(instance.rate_per_minute) + extra),
        execution_options=_NO_SYNC,
    )
    if continuing:
        session.execute(
            update(R).where(R.id == recipient.id).values(last_attempt_at=now),
            execution_options=_NO_SYNC,
        )
    return Claim(
        recipient_id=recipient.id,
        campaign_id=recipient.campaign_id,
        account_id=instance.account_id,
        instance_id=instance.id,
        contact_id=recipient.contact_id,
        worker_id=recipient.claimed_by or "",
        claimed_at=recipient.claimed_at or now,
        send_id=send_id,
        phone=recipient.phone,
        text=recipient.rendered_text,
        part=min(recipient.parts_sent or 0, len(parts) - 1),
        parts=parts,
        multimedia=multimedia,
        attempts=recipient.attempts,
        is_test=recipient.is_test,
        base_url=instance.base_url,
        instance_name=instance.instance_name,
        api_version=instance.api_version,
        token_encrypted=instance.token_encrypted,
    )


def recover_expired_claims(session: Session, now: datetime) -> list[int]:
    """`sending` rows whose claimer no longer holds the instance's lease become `unknown`.

    The worker died (or lost its lease) somewhere between the claim and the answer: the message
    may have gone out, so it is never resent automatically. Returns the campaign ids touched.
    """
    lease_held = exists().where(
        SenderInstance.id == R.instance_id,
        SenderInstance.lease_owner == R.claimed_by,
        SenderInstance.lease_expires_at > now,
    )
    stale = select(R.id, R.campaign_id).where(R.status == RecipientStatus.SENDING, ~lease_held)
    rows = session.execute(stale).all()
    if not rows:
        return []
    session.execute(
        update(R)
        .where(R.id.in_([r.id for r in rows]), R.status == RecipientStatus.SENDING, ~lease_held)
        .values(
            status=RecipientStatus.UNKNOWN,
            error_kind="worker_lost",
            last_error=WORKER_LOST,
            failed_at=now,
        ),
        execution_options=_NO_SYNC,
    )
    return sorted({r.campaign_id for r in rows})


def recover_own_orphans(
    session: Session, worker_id: str, in_flight: set[int], older_than: datetime, now: datetime
) -> list[int]:
    """This worker's own `sending` rows that no send is working on (their outcome could not be
    saved) become `unknown` too — the lease alone would keep them `sending` for ever."""
    rows = session.execute(
        select(R.id, R.campaign_id).where(
            R.status == RecipientStatus.SENDING,
            R.claimed_by == worker_id,
            R.claimed_at < older_than,
            R.parts_sent == 0,
        )
    ).all()
    orphans = [r for r in rows if r.id not in in_flight]
    if not orphans:
        return []
    session.execute(
        update(R)
        .where(R.id.in_([r.id for r in orphans]), R.status == RecipientStatus.SENDING)
        .values(
            status=RecipientStatus.UNKNOWN,
            error_kind="worker_lost",
            last_error=WORKER_LOST,
            failed_at=now,
        ),
        execution_options=_NO_SYNC,
    )
    return sorted({r.campaign_id for r in orphans})
