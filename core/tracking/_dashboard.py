"""The dashboard's account-wide figures over a period: campaigns, messages, errors, volume, numbers.

Each function checks `stats.read` and reads only the actor's account. Every number is aggregated in
SQL (GROUP BY, with `time_bucket` for times); Python only rolls the UTC buckets into the account's
local hours and days. A 15-minute bucket lies inside one local hour in every real zone, so that
roll-up is exact across DST changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from core.campaigns import STAT_KEYS
from core.models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    InstanceSend,
    RecipientStatus,
    SenderInstance,
)
from core.people import Actor, require
from core.tracking._sql_time import dialect_of, epoch_seconds, from_epoch, time_bucket, zone_of
from core.tracking._status_groups import (
    FAILURE_STATUSES,
    OPEN_STATUSES,
    REACHED_DELIVERED,
    REACHED_SENT,
)

LOCAL_BUCKET = 900  # seconds: see the module docstring


def _status_filter() -> ColumnElement[str]:
    """The status, hidden from SQLite's planner: otherwise it walks every failed row of every
    account through (status, next_attempt_at) instead of the period's campaigns' rows."""
    return CampaignRecipient.status.concat("")


def _count_if(statuses: Sequence[str]) -> ColumnElement[int]:
    return func.sum(case((CampaignRecipient.status.in_(list(statuses)), 1), else_=0))


def _activity_at() -> ColumnElement[datetime]:
    """When a recipient's outcome happened: sent, failed, or last tried (unknown)."""
    return func.coalesce(
        CampaignRecipient.sent_at, CampaignRecipient.failed_at, CampaignRecipient.last_attempt_at
    )


def _campaigns_touching(account_id: int, start: datetime) -> Any:
    """Ids of the account's campaigns that may have sent in [start, …): a cheap pre-filter.

    Finished campaigns (completed_at before `start`) sent nothing in the period; running or
    paused ones are always kept, whatever completed_at says (a retry re-opens a campaign).
    """
    return select(Campaign.id).where(
        Campaign.account_id == account_id,
        Campaign.started_at.is_not(None),
        (Campaign.completed_at.is_(None))
        | (Campaign.completed_at >= start)
        | Campaign.status.in_([CampaignStatus.RUNNING, CampaignStatus.PAUSED]),
    )


def _in_period(account_id: int, start: datetime, end: datetime, at: Any) -> tuple[Any, ...]:
    return (
        CampaignRecipient.campaign_id.in_(_campaigns_touching(account_id, start)),
        CampaignRecipient.is_test.is_(False),
        at >= start,
        at < end,
    )


def campaigns_by_status(session: Session, actor: Actor) -> dict[str, int]:
    require(actor, "stats.read")
    rows = session.execute(
        select(Campaign.status, func.count())
        .where(Campaign.account_id == actor.account_id)
        .group_by(Campaign.status)
    ).all()
    counts = dict.fromkeys((status.value for status in CampaignStatus), 0)
    counts.update(dict(rows))
    return counts


@dataclass(frozen=True)
class LiveCampaign:
    id: int
    title: str
    status: str
    total: int
    done: int  # recipients no longer pending or sending


def live_campaigns(session: Session, actor: Actor, limit: int = 10) -> list[LiveCampaign]:
    """Running and paused campaigns, with how far each got (one grouped query)."""
    require(actor, "stats.read")
    campaigns = session.execute(
        select(Campaign.id, Campaign.title, Campaign.status)
        .where(
            Campaign.account_id == actor.account_id,
            Campaign.status.in_([CampaignStatus.RUNNING, CampaignStatus.PAUSED]),
        )
        .order_by(Campaign.started_at.desc(), Campaign.id.desc())
        .limit(limit)
    ).all()
    ids = [row.id for row in campaigns]
    progress = {
        campaign_id: (int(total), int(still_open or 0))
        for campaign_id, total, still_open in session.execute(
            select(CampaignRecipient.campaign_id, func.count(), _count_if(OPEN_STATUSES))
            .where(
                CampaignRecipient.campaign_id.in_(ids),
                CampaignRecipient.is_test.is_(False),
                CampaignRecipient.status != RecipientStatus.HELD_OUT,  # never to be sent
            )
            .group_by(CampaignRecipient.campaign_id)
        )
    }
    result = []
    for row in campaigns:
        total, still_open = progress.get(row.id, (0, 0))
        result.append(LiveCampaign(row.id, row.title, row.status, total, total - still_open))
    return result


@dataclass(frozen=True)
class MessageTotals:
    sent: int  # reached sent (includes delivered and read)
    delivered: int  # reached delivered (includes read)
    read: int
    failed: int
    unknown: int
    replied: int = 0  # of the messages sent, answered within the reply window

    @property
    def reply_rate(self) -> float | None:
        return self.replied / self.sent if self.sent else None

    @property
    def success_rate(self) -> float | None:
        """Share of the outcomes that went out; None when there were none."""
        outcomes = self.sent + self.failed + self.unknown
        return self.sent / outcomes if outcomes else None

    @property
    def confirmed_rate(self) -> float | None:
        """Share of the outcomes WhatsApp confirmed (delivered or read): a send without a
        receipt is no proven success, whatever the API answered."""
        outcomes = self.sent + self.failed + self.unknown
        return self.delivered / outcomes if outcomes else None

    @property
    def unconfirmed(self) -> int:
        """Sent, with no delivery receipt (yet)."""
        return self.sent - self.delivered


def message_totals(session: Session, actor: Actor, start: datetime, end: datetime) -> MessageTotals:
    """Outcomes of the messages sent (or, never sent, that failed or went unknown) in [start, end).

    Two index-friendly parts: rows sent in the period (read from the campaign/sent_at index
    alone), and failed/unknown rows never sent whose failure or last try falls in the period.
    """
    require(actor, "stats.read")
    sent_rows = session.execute(
        select(CampaignRecipient.status, func.count(), func.count(CampaignRecipient.replied_at))
        .where(*_in_period(actor.account_id, start, end, CampaignRecipient.sent_at))
        .group_by(CampaignRecipient.status)
    ).all()
    sent = [(status, count) for status, count, _ in sent_rows]
    unsent_at = func.coalesce(CampaignRecipient.failed_at, CampaignRecipient.last_attempt_at)
    unsent = session.execute(
        select(CampaignRecipient.status, func.count())
        .where(
            *_in_period(actor.account_id, start, end, unsent_at),
            _status_filter().in_(FAILURE_STATUSES),
            CampaignRecipient.sent_at.is_(None),
        )
        .group_by(CampaignRecipient.status)
    ).all()
    counts: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
    for status, count in [*sent, *unsent]:
        counts[status] += int(count)
    return MessageTotals(
        sent=sum(counts[status] for status in REACHED_SENT),
        delivered=sum(counts[status] for status in REACHED_DELIVERED),
        read=counts[RecipientStatus.READ],
        failed=counts[RecipientStatus.FAILED],
        unknown=counts[RecipientStatus.UNKNOWN],
        replied=sum(int(replied) for _, _, replied in sent_rows),
    )


@dataclass(frozen=True)
class DayCounts:
    day: Any  # datetime.date in the account's timezone
    sent: int  # messages that went out that day
    failed: int  # recipients that failed that day


def _local_days(rows: Sequence[Any], zone: tzinfo) -> dict[Any, int]:
    days: dict[Any, int] = {}
    for epoch, count in rows:
        day = from_epoch(epoch).astimezone(zone).date()
        days[day] = days.get(day, 0) + int(count)
    return days


def messages_over_time(
    session: Session, actor: Actor, start: datetime, end: datetime
) -> list[DayCounts]:
    """Per local day of the period: messages sent, and recipients that failed."""
    require(actor, "stats.read")
    zone = zone_of(session, actor.account_id)
    dialect = dialect_of(session)
    sent_bucket = time_bucket(CampaignRecipient.sent_at, LOCAL_BUCKET, dialect).label("bucket")
    sent = session.execute(
        select(sent_bucket, func.count())
        .where(*_in_period(actor.account_id, start, end, CampaignRecipient.sent_at))
        .group_by(sent_bucket)
    ).all()
    failed_bucket = time_bucket(CampaignRecipient.failed_at, LOCAL_BUCKET, dialect).label("bucket")
    failed = session.execute(
        select(failed_bucket, func.count())
        .where(
            *_in_period(actor.account_id, start, end, CampaignRecipient.failed_at),
            _status_filter() == RecipientStatus.FAILED,
        )
        .group_by(failed_bucket)
    ).all()
    sent_days, failed_days = _local_days(sent, zone), _local_days(failed, zone)
    return [
        DayCounts(day, sent_days.get(day, 0), failed_days.get(day, 0))
        for day in sorted(sent_days.keys() | failed_days.keys())
    ]


def average_execution_time(
    session: Session, actor: Actor, start: datetime, end: datetime
) -> tuple[timedelta | None, int]:
    """Mean completed_at - started_at of campaigns completed in [start, end), and how many."""
    require(actor, "stats.read")
    dialect = dialect_of(session)
    duration = epoch_seconds(Campaign.completed_at, dialect) - epoch_seconds(
        Campaign.started_at, dialect
    )
    mean, count = session.execute(
        select(func.avg(duration), func.count()).where(
            Campaign.account_id == actor.account_id,
            Campaign.status == CampaignStatus.COMPLETED,
            Campaign.started_at.is_not(None),
            Campaign.completed_at >= start,
            Campaign.completed_at < end,
        )
    ).one()
    return (timedelta(seconds=float(mean)) if mean is not None else None), int(count)


def errors_by_type(
    session: Session, actor: Actor, start: datetime, end: datetime
) -> list[tuple[str, int]]:
    """Failed and unknown recipients of the period per error kind, largest first."""
    require(actor, "stats.read")
    kind = func.coalesce(CampaignRecipient.error_kind, CampaignRecipient.status).label("kind")
    rows = session.execute(
        select(kind, func.count())
        .where(
            *_in_period(actor.account_id, start, end, _activity_at()),
            _status_filter().in_(FAILURE_STATUSES),
        )
        .group_by(kind)
        .order_by(func.count().desc(), kind)
    ).all()
    return [(str(name), int(count)) for name, count in rows]


@dataclass(frozen=True)
class SendVolume:
    hourly: list[tuple[datetime, int]]  # local hour start, messages sent in it
    heatmap: list[list[int]]  # [weekday 0=Monday][local hour 0..23]

    @property
    def total(self) -> int:
        return sum(count for _, count in self.hourly)


def send_volume(session: Session, actor: Actor, start: datetime, end: datetime) -> SendVolume:
    """Messages sent per local hour, and per (weekday, hour of day) — in the account's timezone."""
    require(actor, "stats.read")
    zone = zone_of(session, actor.account_id)
    bucket = time_bucket(CampaignRecipient.sent_at, LOCAL_BUCKET, dialect_of(session)).label(
        "bucket"
    )
    rows = session.execute(
        select(bucket, func.count())
        .where(*_in_period(actor.account_id, start, end, CampaignRecipient.sent_at))
        .group_by(bucket)
    ).all()
    hourly: dict[datetime, int] = {}
    heatmap = [[0] * 24 for _ in range(7)]
    for epoch, count in rows:
        local = from_epoch(epoch).astimezone(zone)
        hour = local.replace(minute=0, second=0, microsecond=0)
        hourly[hour] = hourly.get(hour, 0) + count
        heatmap[local.weekday()][local.hour] += count
    return SendVolume(sorted(hourly.items()), heatmap)


@dataclass(frozen=True)
class InstanceHealth:
    id: int
    name: str
    is_active: bool
    state: str
    circuit: str
    circuit_reason: str | None
    sent_today: int  # HTTP sends since local midnight
    daily_cap: int | None
    rate_per_minute: int
    next_send_at: datetime | None


def instance_health(session: Session, actor: Actor, now: datetime) -> list[InstanceHealth]:
    """Every instance of the account: connection, circuit, today's sends against its cap."""
    require(actor, "stats.read")
    zone = zone_of(session, actor.account_id)
    midnight = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    today = (
        select(InstanceSend.instance_id, func.count().label("n"))
        .join(SenderInstance, SenderInstance.id == InstanceSend.instance_id)
        .where(
            SenderInstance.account_id == actor.account_id,
            InstanceSend.sent_at >= midnight.astimezone(UTC),
        )
        .group_by(InstanceSend.instance_id)
        .subquery()
    )
    rows = session.execute(
        select(SenderInstance, func.coalesce(today.c.n, 0))
        .outerjoin(today, today.c.instance_id == SenderInstance.id)
        .where(SenderInstance.account_id == actor.account_id)
        .order_by(SenderInstance.name)
    ).all()
    return [
        InstanceHealth(
            id=instance.id,
            name=instance.name,
            is_active=instance.is_active,
            state=instance.state,
            circuit=instance.circuit,
            circuit_reason=instance.circuit_reason,
            sent_today=int(sent),
            daily_cap=instance.daily_cap,
            rate_per_minute=instance.rate_per_minute,
            next_send_at=instance.next_send_at,
        )
        for instance, sent in rows
    ]
