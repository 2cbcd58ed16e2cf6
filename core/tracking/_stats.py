"""Delivery statistics, always derived from the recipient rows (the truth).

Every number is aggregated in SQL (GROUP BY, with `time_bucket` for times); Python only rolls the
UTC buckets into the account's local hours and days (SQLite knows no time zones; a 15-minute
bucket lies inside one local hour in every real zone, so the roll-up is exact across DST).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, Integer, case, cast, func, select
from sqlalchemy.orm import Session

from core.campaigns import STAT_KEYS, campaign_counts
from core.models import (
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Circuit,
    InstanceSend,
    RecipientStatus,
    SenderInstance,
)
from core.people import Actor, load_owned, require

R = CampaignRecipient
REACHED_SENT = (RecipientStatus.SENT, RecipientStatus.DELIVERED, RecipientStatus.READ)
REACHED_DELIVERED = (RecipientStatus.DELIVERED, RecipientStatus.READ)
OPEN_STATUSES = (RecipientStatus.PENDING, RecipientStatus.SENDING)
FAILURE_STATUSES = (RecipientStatus.FAILED, RecipientStatus.UNKNOWN)
PACE_WINDOW = timedelta(minutes=10)


# --- Time in SQL, on SQLite and PostgreSQL alike -------------------------------------------------


def epoch_seconds(column: Any, dialect: str) -> ColumnElement[int]:
    """Whole seconds since 1970 (UTC) of a stored time, as an integer SQL expression."""
    if dialect == "sqlite":  # stored as naive UTC text
        if sqlite3.sqlite_version_info >= (3, 38):
            return func.unixepoch(column)  # about twice as fast as strftime('%s')
        return cast(func.strftime("%s", column), Integer)
    return cast(func.floor(func.extract("epoch", column)), BigInteger)  # timestamptz: UTC epoch


def time_bucket(column: Any, seconds: int, dialect: str) -> ColumnElement[int]:
    """Start (epoch seconds, UTC) of the `seconds`-wide bucket the time falls in."""
    return (epoch_seconds(column, dialect) // seconds) * seconds


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def from_epoch(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def account_zone(session: Session, account_id: int) -> tzinfo:
    account = session.get(Account, account_id)
    try:
        return ZoneInfo(account.timezone if account else "UTC")
    except (KeyError, ValueError):
        return UTC


# --- One campaign ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignOverview:
    id: int
    title: str
    status: str
    scheduled_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    error_message: str | None
    error_text: dict[str, Any] | None  # error_message as a stored message (core.stored_text)
    instance_names: list[str]
    rate_per_minute: int  # all its healthy, active instances together
    timezone: tzinfo

    @property
    def is_live(self) -> bool:
        """Worth refreshing by itself: the numbers move."""
        return self.status in (CampaignStatus.RUNNING, CampaignStatus.PENDING)


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]  # every recipient status, plus "total"
    funnel: list[tuple[str, int]]  # targeted → sent → delivered → read (each includes the next)
    pace_per_minute: float  # attempts over the last PACE_WINDOW
    rate_per_minute: int
    eta: timedelta | None  # None: nothing is moving and no healthy instance to estimate from

    @property
    def total(self) -> int:
        return self.counts["total"]

    @property
    def remaining(self) -> int:
        return sum(self.counts[status] for status in OPEN_STATUSES)

    @property
    def done(self) -> int:
        return self.total - self.remaining

    @property
    def fraction_done(self) -> float:
        return self.done / self.total if self.total else 1.0


def _campaign(session: Session, actor: Actor, campaign_id: int) -> Campaign:
    require(actor, "campaigns.read")
    return load_owned(session, actor, Campaign, campaign_id, "campaign")


def _healthy_rate(instances: Sequence[SenderInstance]) -> int:
    return sum(
        instance.rate_per_minute
        for instance in instances
        if instance.is_active and instance.circuit == Circuit.CLOSED
    )


def campaign_overview(session: Session, actor: Actor, campaign_id: int) -> CampaignOverview:
    campaign = _campaign(session, actor, campaign_id)
    return CampaignOverview(
        id=campaign.id,
        title=campaign.title,
        status=campaign.status,
        scheduled_at=campaign.scheduled_at,
        started_at=campaign.started_at,
        completed_at=campaign.completed_at,
        error_message=campaign.error_message,
        error_text=campaign.error_text,
        instance_names=[instance.name for instance in campaign.instances],
        rate_per_minute=_healthy_rate(campaign.instances),
        timezone=account_zone(session, campaign.account_id),
    )


def funnel_stages(counts: dict[str, int]) -> list[tuple[str, int]]:
    return [
        ("targeted", counts["total"]),
        ("sent", sum(counts[status] for status in REACHED_SENT)),
        ("delivered", sum(counts[status] for status in REACHED_DELIVERED)),
        ("read", counts[RecipientStatus.READ]),
    ]


def campaign_progress(session: Session, actor: Actor, campaign_id: int, now: datetime) -> Progress:
    """Counts, funnel, current pace and the time left at that pace (or at the rate limit)."""
    campaign = _campaign(session, actor, campaign_id)
    counts = campaign_counts(session, campaign_id)
    attempted_at = func.coalesce(R.last_attempt_at, R.sent_at, R.failed_at)
    recent = session.scalar(
        select(func.count()).where(
            R.campaign_id == campaign_id, R.is_test.is_(False), attempted_at >= now - PACE_WINDOW
        )
    )
    # A campaign younger than the window has had less time to send: divide by what it had, or a
    # slow start reads as a pace far below the rate (4 left at 1/min shown as 40 minutes).
    window = PACE_WINDOW
    if campaign.started_at is not None:
        window = min(PACE_WINDOW, max(now - campaign.started_at, timedelta(minutes=1)))
    pace = (recent or 0) / (window.total_seconds() / 60)
    rate = _healthy_rate(campaign.instances)
    remaining = sum(counts[status] for status in OPEN_STATUSES)
    speed = pace or (rate if campaign.status == CampaignStatus.RUNNING else 0)
    if rate:
        speed = min(speed, rate)  # it can never go faster than its numbers allow
    if remaining == 0:
        eta: timedelta | None = timedelta(0)
    elif speed:
        eta = timedelta(minutes=remaining / speed)
    else:
        eta = None
    return Progress(counts, funnel_stages(counts), pace, rate, eta)


@dataclass(frozen=True)
class SendSeries:
    bucket_seconds: int
    points: list[tuple[datetime, int]]  # bucket start (UTC), messages sent in it
    limit_per_bucket: int  # the instances' rate limit, scaled to the bucket


def sends_over_time(session: Session, actor: Actor, campaign_id: int) -> SendSeries:
    """Messages sent per minute (per 10 minutes / hour for long campaigns) against the rate."""
    campaign = _campaign(session, actor, campaign_id)
    scope = (R.campaign_id == campaign_id, R.is_test.is_(False), R.sent_at.is_not(None))
    first, last = session.execute(
        select(func.min(R.sent_at), func.max(R.sent_at)).where(*scope)
    ).one()
    span = (last - first) if first and last else timedelta(0)
    bucket = 60 if span <= timedelta(hours=12) else 600 if span <= timedelta(days=5) else 3600
    column = time_bucket(R.sent_at, bucket, dialect_of(session)).label("bucket")
    rows = session.execute(
        select(column, func.count()).where(*scope).group_by(column).order_by(column)
    ).all()
    return SendSeries(
        bucket_seconds=bucket,
        points=[(from_epoch(start), count) for start, count in rows],
        limit_per_bucket=_healthy_rate(campaign.instances) * bucket // 60,
    )


@dataclass(frozen=True)
class FailureReason:
    status: str  # failed / unknown
    error_kind: str | None
    last_error: str | None
    count: int
    examples: list[tuple[str, str | None]]  # (phone, name) of a few recipients


def failure_reasons(
    session: Session, actor: Actor, campaign_id: int, examples: int = 3, limit: int = 50
) -> list[FailureReason]:
    """Failed and unknown recipients grouped by (status, error kind, error text), largest first."""
    _campaign(session, actor, campaign_id)
    scope = (R.campaign_id == campaign_id, R.is_test.is_(False), R.status.in_(FAILURE_STATUSES))
    keys = (R.status, R.error_kind, R.last_error)
    groups = session.execute(
        select(*keys, func.count().label("n"))
        .where(*scope)
        .group_by(*keys)
        .order_by(func.count().desc(), R.error_kind, R.last_error)
        .limit(limit)
    ).all()
    numbered = (
        select(
            *keys,
            R.phone,
            R.name,
            func.row_number().over(partition_by=keys, order_by=R.id).label("rn"),
        )
        .where(*scope)
        .subquery()
    )
    samples: dict[tuple[Any, ...], list[tuple[str, str | None]]] = {}
    for status, kind, error, phone, name in session.execute(
        select(
            numbered.c.status,
            numbered.c.error_kind,
            numbered.c.last_error,
            numbered.c.phone,
            numbered.c.name,
        ).where(numbered.c.rn <= examples)
    ):
        samples.setdefault((status, kind, error), []).append((phone, name))
    return [
        FailureReason(status, kind, error, count, samples.get((status, kind, error), []))
        for status, kind, error, count in groups
    ]


@dataclass(frozen=True)
class RecipientRow:
    id: int
    phone: str
    name: str | None
    status: str
    attempts: int
    error_kind: str | None
    last_error: str | None
    http_status: int | None
    instance: str | None
    last_attempt_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None


def _log_query(campaign_id: int, statuses: Sequence[str] | None, search: str | None) -> Any:
    query = (
        select(
            R.id,
            R.phone,
            R.name,
            R.status,
            R.attempts,
            R.error_kind,
            R.last_error,
            R.http_status,
            SenderInstance.name,
            R.last_attempt_at,
            R.sent_at,
            R.delivered_at,
            R.read_at,
            R.failed_at,
        )
        .outerjoin(SenderInstance, SenderInstance.id == R.instance_id)
        .where(R.campaign_id == campaign_id, R.is_test.is_(False))
    )
    if statuses:
        query = query.where(R.status.in_(list(statuses)))
    if search:
        pattern = f"%{search.strip()}%"
        query = query.where(R.phone.like(pattern) | R.name.ilike(pattern))
    return query


def recipient_log(
    session: Session,
    actor: Actor,
    campaign_id: int,
    statuses: Sequence[str] | None = None,
    page: int = 1,
    per_page: int = 50,
    search: str | None = None,
) -> tuple[list[RecipientRow], int]:
    """One page of the recipients (in the order they were frozen), and how many match."""
    _campaign(session, actor, campaign_id)
    query = _log_query(campaign_id, statuses, search)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    rows = session.execute(query.order_by(R.id).limit(per_page).offset((page - 1) * per_page))
    return [RecipientRow(*row) for row in rows], total


EXPORT_HEADERS = [
    "phone",
    "name",
    "status",
    "attempts",
    "error_kind",
    "last_error",
    "http_status",
    "instance",
    "last_attempt_at",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
]


def recipient_export_rows(
    session: Session, actor: Actor, campaign_id: int, statuses: Sequence[str] | None = None
) -> Iterator[list[Any]]:
    """Every matching recipient as a row of EXPORT_HEADERS, times in the account's timezone."""
    campaign = _campaign(session, actor, campaign_id)
    zone = account_zone(session, campaign.account_id)
    query = _log_query(campaign_id, statuses, None).order_by(R.id)
    for row in session.execute(query.execution_options(yield_per=2000)):
        values = astuple(RecipientRow(*row))[1:]
        yield [
            value.astimezone(zone).replace(tzinfo=None) if isinstance(value, datetime) else value
            for value in values
        ]


# --- The account's dashboard -------------------------------------------------------------------

LOCAL_BUCKET = 900  # seconds: see the module docstring


def _status_filter() -> ColumnElement[str]:
    """The status, hidden from SQLite's planner: otherwise it walks every failed row of every
    account through (status, next_attempt_at) instead of the period's campaigns' rows."""
    return R.status.concat("")


def _count_if(statuses: Sequence[str]) -> ColumnElement[int]:
    return func.sum(case((R.status.in_(list(statuses)), 1), else_=0))


def _activity_at() -> ColumnElement[datetime]:
    """When a recipient's outcome happened: sent, failed, or last tried (unknown)."""
    return func.coalesce(R.sent_at, R.failed_at, R.last_attempt_at)


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
        R.campaign_id.in_(_campaigns_touching(account_id, start)),
        R.is_test.is_(False),
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
        campaign_id: (int(total), int(open_ or 0))
        for campaign_id, total, open_ in session.execute(
            select(R.campaign_id, func.count(), _count_if(OPEN_STATUSES))
            .where(R.campaign_id.in_(ids), R.is_test.is_(False))
            .group_by(R.campaign_id)
        )
    }
    result = []
    for row in campaigns:
        total, open_ = progress.get(row.id, (0, 0))
        result.append(LiveCampaign(row.id, row.title, row.status, total, total - open_))
    return result


@dataclass(frozen=True)
class MessageTotals:
    sent: int  # reached sent (includes delivered and read)
    delivered: int  # reached delivered (includes read)
    read: int
    failed: int
    unknown: int

    @property
    def success_rate(self) -> float | None:
        """Share of the outcomes that went out; None when there were none."""
        outcomes = self.sent + self.failed + self.unknown
        return self.sent / outcomes if outcomes else None


def message_totals(session: Session, actor: Actor, start: datetime, end: datetime) -> MessageTotals:
    """Outcomes of the messages sent (or, never sent, that failed or went unknown) in [start, end).

    Two index-friendly parts: rows sent in the period (read from the campaign/sent_at index
    alone), and failed/unknown rows never sent whose failure or last try falls in the period.
    """
    require(actor, "stats.read")
    sent = session.execute(
        select(R.status, func.count())
        .where(*_in_period(actor.account_id, start, end, R.sent_at))
        .group_by(R.status)
    ).all()
    unsent_at = func.coalesce(R.failed_at, R.last_attempt_at)
    unsent = session.execute(
        select(R.status, func.count())
        .where(
            *_in_period(actor.account_id, start, end, unsent_at),
            _status_filter().in_(FAILURE_STATUSES),
            R.sent_at.is_(None),
        )
        .group_by(R.status)
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
    zone = account_zone(session, actor.account_id)
    dialect = dialect_of(session)
    sent_bucket = time_bucket(R.sent_at, LOCAL_BUCKET, dialect).label("bucket")
    sent = session.execute(
        select(sent_bucket, func.count())
        .where(*_in_period(actor.account_id, start, end, R.sent_at))
        .group_by(sent_bucket)
    ).all()
    failed_bucket = time_bucket(R.failed_at, LOCAL_BUCKET, dialect).label("bucket")
    failed = session.execute(
        select(failed_bucket, func.count())
        .where(
            *_in_period(actor.account_id, start, end, R.failed_at),
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
    kind = func.coalesce(R.error_kind, R.status).label("kind")
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
    zone = account_zone(session, actor.account_id)
    bucket = time_bucket(R.sent_at, LOCAL_BUCKET, dialect_of(session)).label("bucket")
    rows = session.execute(
        select(bucket, func.count())
        .where(*_in_period(actor.account_id, start, end, R.sent_at))
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
    zone = account_zone(session, actor.account_id)
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
