"""Claim before send: what decides whether, what and when an instance sends.

`claim_next` (1) proves this worker still holds the instance's lease and that its account's
campaigns are enabled, (2) checks the daily cap and the pacing from the database, (3) picks and
claims a pending recipient of a campaign that is still running and inside its send window, in
one `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`, (4) records an
`InstanceSend` row and the next gap — all committed before the HTTP call is made. Nothing is
sent for an unclaimed recipient. The statements are built once.

On SQLite it is one short write transaction of several statements (`_claim_statements`; the
write lock serialises claims). On PostgreSQL it is two statements in autocommit, no BEGIN or
COMMIT (`_postgres_statements`): one read of the number's whole pacing state, then one statement
that locks the number's row, re-checks that nothing changed since the read, claims and records.

Pacing: `SenderInstance.next_send_at` keeps the gap (claim to claim: 60/rate + random extra), and
the `InstanceSend` rows of the last minute keep the window. Their `sent_at` is the claim time while
the request is in flight and the moment the answer came back afterwards — the latest moment the
server can have sent the message — so "at most `rate` in any 60 s" holds at the server as well,
whatever the latency did (or the typing delay: "typing…" shown for it, the message after it).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, exists, select
from sqlalchemy.orm import Session

from core import instances
from core.campaigns import TEST_SEND_STATUSES, effective_window, multimedia_of
from core.models import (
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Circuit,
    RecipientStatus,
    campaign_instances,
)
from core.sending._campaign_cache import CampaignCache
from core.sending._claim_recording import Claim, Recording
from core.sending._claim_statements import (
    CLAIM_ONE,
    CLAIM_TEST,
    CLAIM_ZONED,
    CONTINUATION,
    INSTANCE,
    RATE_TH,
    SENT_SINCE,
    campaigns_of,
    pending_left,
    pending_zones,
)
from core.sending._postgres_statements import (
    CONTINUE_RECORDED,
    RECENT_KEPT,
    RECORDED,
    STATE,
    campaigns_in,
)

IDLE_RECHECK = timedelta(seconds=1)

WINDOW_RECHECK = timedelta(seconds=30)
WARMUP_REACHED = "warm-up allowance reached"


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


def local_day_bounds(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    local = now.astimezone(zone)
    start = datetime.combine(local.date(), time(0), tzinfo=zone)
    end = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def claim_next(
    connection: Session | Connection,
    instance_id: int,
    worker_id: str,
    now: datetime,
    *,
    rng: random.Random | None = None,
    campaigns: CampaignCache | None = None,
    continuation: bool = True,
) -> ClaimStep:
    """Claim the instance's next send, if it may send now. The caller commits before sending
    (nothing left to commit on a Connection in autocommit, as the worker's on PostgreSQL).

    Works on a Session or a Connection (the worker uses a bare Connection: every statement here
    is built once, with bind parameters). On SQLite `campaigns` may cache the instance's campaign list
    for a second (their status is re-checked by the claim itself); `continuation=False` skips
    the look-up of a half-sent message when the caller knows there is none.
    """
    params = {"p_instance": instance_id, "p_worker": worker_id, "p_now": now}
    # PostgreSQL: one read of the whole pacing state, then claim and record in one statement
    # (`_postgres_statements`); SQLite: short statements under its write lock.
    postgres = _dialect_of(connection) == "postgresql"
    if postgres:
        state = {"p_cutoff": now - instances.RATE_WINDOW, "p_continuation": continuation}
        instance = connection.execute(STATE, {**params, **state}).first()
    else:
        instance = connection.execute(INSTANCE, params).first()
    if instance is None:
        return NotOwner()
    if (
        not instance.is_active
        or instance.circuit != Circuit.CLOSED
        or not instance.campaigns_enabled
    ):
        return Idle(now + WINDOW_RECHECK)
    if instance.health_paused_at is not None:
        # Paused for its health: the worker's maintenance lifts it when the score recovers.
        return Idle(now + WINDOW_RECHECK)
    zone = _zone(instance.timezone)
    # Falling health lowers the rate by itself (core.instances._health); the window and the
    # gap below both follow the lowered rate.
    rate = instances.effective_rate(instance.rate_per_minute, instance.health_score)

    # The day's limit: the daily cap and the warm-up ladder's allowance, whichever is lower,
    # counted from the number's sends of the local day (every campaign's, across restarts).
    allowance = instances.allowance_today(
        instance.warmup,
        instance.number_since,
        instance.first_sent_at,
        now,
        zone,
        instance.health_score,
        step=instance.warmup_step,  # the kept position on the ladder (core.instances)
    )
    limits = [limit for limit in (instance.daily_cap, allowance) if limit]
    if limits:
        day_start, day_end = local_day_bounds(now, zone)
        sent_today = (
            instance.sent_today
            if postgres
            else connection.execute(
                SENT_SINCE, {"p_instance": instance_id, "p_since": day_start}
            ).scalar()
        )
        if (sent_today or 0) >= min(limits):
            if allowance is not None and allowance <= min(limits):
                return Wait(day_end, WARMUP_REACHED)
            return Wait(day_end, "daily cap reached")

    # Only the rate-th most recent send of the last minute matters for the window.
    if postgres and rate <= RECENT_KEPT:
        recent = instance.recent or []
        rate_th = recent[rate - 1] if len(recent) >= rate else None
    elif postgres and rate == instance.rate_per_minute:
        rate_th = instance.nominal_rate_th
    else:
        rate_th = connection.execute(
            RATE_TH,
            {
                "p_instance": instance_id,
                "p_cutoff": now - instances.RATE_WINDOW,
                "p_offset": max(0, rate - 1),
            },
        ).scalar()
    earliest = now if rate_th is None else max(now, rate_th + instances.RATE_WINDOW)
    if instance.next_send_at is not None:
        earliest = max(earliest, instance.next_send_at)
    if earliest > now:
        return Wait(earliest, "pacing")

    recording = Recording(connection, instance, rate, now, rng, postgres)
    if continuation and postgres:
        # The second part of a message already under way (audio after its text) comes first.
        if instance.continuing_id is not None:
            multimedia = multimedia_of(
                instance.continuing_multimedia,
                instance.continuing_variants,
                instance.continuing_variant,
            )
            parts = message_parts(multimedia, instance.continuing_text)
            if instance.continuing_parts_sent < len(parts):
                row = recording.run(
                    CONTINUE_RECORDED, {**params, "p_recipient": instance.continuing_id}
                )
                if row is None:
                    return Idle(now + IDLE_RECHECK)  # the number changed since the read
                if row.id is not None:
                    multimedia = multimedia_of(row.multimedia, row.variants, row.variant)
                    parts = message_parts(multimedia, row.rendered_text)
                    return recording.claim(row, multimedia, parts, row.send_id)
    elif continuation:
        row = connection.execute(CONTINUATION, params).first()
        if row is not None:
            multimedia = multimedia_of(row.multimedia, row.variants, row.variant)
            parts = message_parts(multimedia, row.rendered_text)
            if row.parts_sent < len(parts):
                return recording.record(row, multimedia, parts, continuing=True)

    if postgres:
        rows: list[Any] = campaigns_in(instance.campaigns)  # read with the state
    elif campaigns is not None:
        rows = campaigns.get(connection, instance_id)
    else:
        rows = campaigns_of(connection, instance_id)
    media_of = {c.id: (c.multimedia, c.variants) for c in rows}
    open_running: list[int] = []
    zoned: list[tuple[int, list[str]]] = []  # campaigns open in some recipients' zones
    test_ok: list[int] = []
    reopen: list[datetime] = []
    for campaign in rows:
        test_ok.append(campaign.id)  # tests go to staff's own phones: no window
        if campaign.status != CampaignStatus.RUNNING:
            continue
        start, end, days = effective_window(campaign, instance)
        windowed = start is not None or end is not None or days is not None
        if campaign.deliver_in_recipient_timezone and windowed:
            # Each recipient's own window: the zones of its pending recipients open now.
            names = (
                campaigns.zones(connection, campaign.id)
                if campaigns is not None
                else pending_zones(connection, campaign.id)
            )
            open_zones = []
            for name in names:
                local = _zone(name or instance.timezone)
                if instances.in_send_window(now, local, start, end, days):
                    open_zones.append(name or instance.timezone)
                else:
                    opens = instances.next_window_open(now, local, start, end, days)
                    if opens is not None:
                        reopen.append(opens)
            if open_zones:
                zoned.append((campaign.id, open_zones))
            continue
        if instances.in_send_window(now, zone, start, end, days):
            open_running.append(campaign.id)
        else:
            opens = instances.next_window_open(now, zone, start, end, days)
            if opens is not None:
                reopen.append(opens)

    attempts: list[tuple[Any, dict[str, Any]]] = []
    if test_ok and (not postgres or instance.test_waiting):
        attempts.append((CLAIM_TEST, {**params, "p_campaigns": test_ok}))
    for campaign_id in open_running:
        attempts.append((CLAIM_ONE, {**params, "p_campaign": campaign_id}))
    for campaign_id, open_zones in zoned:
        zoned_values = {"p_campaign": campaign_id, "p_zones": open_zones}
        zoned_values["p_default_zone"] = instance.timezone or "UTC"  # frozen without a zone
        attempts.append((CLAIM_ZONED, {**params, **zoned_values}))
    for statement, values in attempts:
        for _ in range(3):  # another worker may win the row on PostgreSQL: take the next
            if postgres:
                row = recording.run(RECORDED[id(statement)], values)
                if row is None:
                    return Idle(now + IDLE_RECHECK)  # the number changed since the read
                if row.id is not None:
                    multimedia = multimedia_of(
                        *media_of.get(row.campaign_id, (None, None)), row.variant
                    )
                    parts = message_parts(multimedia, row.rendered_text)
                    return recording.claim(row, multimedia, parts, row.send_id)
            else:
                row = connection.execute(statement, values).first()
                if row is not None:
                    multimedia = multimedia_of(
                        *media_of.get(row.campaign_id, (None, None)), row.variant
                    )
                    parts = message_parts(multimedia, row.rendered_text)
                    return recording.record(row, multimedia, parts, continuing=False)
            if not pending_left(connection, statement, values):
                break
    if reopen and not open_running and not zoned:
        return Wait(min(min(reopen), now + WINDOW_RECHECK), "outside the send window")
    return Idle(now + IDLE_RECHECK)


@lru_cache(maxsize=64)
def _zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name or "UTC")


def _dialect_of(connection: Session | Connection) -> str:
    bind = connection.get_bind() if isinstance(connection, Session) else connection
    return bind.dialect.name


def instances_with_work(session: Session, instance_ids: set[int], worker_id: str) -> set[int]:
    """Of `instance_ids`, those with a pending recipient of a campaign that may send, or a
    message this worker left half sent (the periodic tick's look-up)."""
    if not instance_ids:
        return set()
    pending = exists().where(
        CampaignRecipient.campaign_id == Campaign.id,
        CampaignRecipient.status == RecipientStatus.PENDING,
        (Campaign.status == CampaignStatus.RUNNING) | CampaignRecipient.is_test.is_(True),
    )
    ids = list(instance_ids)
    found = set(
        session.scalars(
            select(campaign_instances.c.instance_id)
            .join(Campaign, Campaign.id == campaign_instances.c.campaign_id)
            .join(Account, Account.id == Campaign.account_id)
            .where(
                campaign_instances.c.instance_id.in_(ids),
                Campaign.status.in_(TEST_SEND_STATUSES),
                Account.campaigns_enabled.is_(True),
                pending,
            )
            .distinct()
        )
    )
    found |= set(
        session.scalars(
            select(CampaignRecipient.instance_id)
            .where(
                CampaignRecipient.status == RecipientStatus.SENDING,
                CampaignRecipient.claimed_by == worker_id,
                CampaignRecipient.parts_sent > 0,
                CampaignRecipient.instance_id.in_(ids),
            )
            .distinct()
        )
    )
    return found
