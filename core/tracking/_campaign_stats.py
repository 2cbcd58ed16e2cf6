"""One campaign's statistics for its page: overview, progress and pace, sends over time, failures.

Each function checks `campaigns.read` and that the campaign is the actor's account's, and counts
in SQL from the recipient rows (test sends left out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.base import as_utc
from core.campaigns import campaign_counts
from core.models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Circuit,
    PauseCause,
    RecipientStatus,
    SenderInstance,
)
from core.people import Actor, load_owned, require
from core.tracking._sql_time import dialect_of, from_epoch, time_bucket, zone_of
from core.tracking._status_groups import (
    FAILURE_STATUSES,
    OPEN_STATUSES,
    REACHED_DELIVERED,
    REACHED_SENT,
)

PACE_WINDOW = timedelta(minutes=10)


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
    pause_cause: str | None = None  # PauseCause while paused
    auto_retry_at: datetime | None = None  # the next automatic retry, when one is planned
    track_links: bool = False

    @property
    def is_live(self) -> bool:
        """Worth refreshing by itself: the numbers move (or it resumes on its own)."""
        waiting = self.status == CampaignStatus.PAUSED and self.pause_cause == PauseCause.CIRCUIT
        return waiting or self.status in (CampaignStatus.RUNNING, CampaignStatus.PENDING)


@dataclass(frozen=True)
class Progress:
    counts: dict[str, int]  # every recipient status, plus "total"
    funnel: list[tuple[str, int]]  # targeted → sent → delivered → read (each includes the next)
    pace_per_minute: float | None  # attempts per minute (see _pace); None: too early to say
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
    def replied(self) -> int:
        return self.counts.get("replied", 0)

    @property
    def reply_rate(self) -> float | None:
        """Replies per recipient the message reached (sent, delivered or read); None: none yet."""
        reached = sum(self.counts[status] for status in REACHED_SENT)
        return self.replied / reached if reached else None

    @property
    def fraction_done(self) -> float:
        return self.done / self.total if self.total else 1.0


def owned_campaign(session: Session, actor: Actor, campaign_id: int) -> Campaign:
    """The actor's campaign, once `campaigns.read` is granted (NotFound for another account's)."""
    require(actor, "campaigns.read")
    return load_owned(session, actor, Campaign, campaign_id, "campaign")


def _healthy_rate(instances: Sequence[SenderInstance]) -> int:
    return sum(
        instance.rate_per_minute
        for instance in instances
        if instance.is_active and instance.circuit == Circuit.CLOSED
    )


def campaign_overview(session: Session, actor: Actor, campaign_id: int) -> CampaignOverview:
    campaign = owned_campaign(session, actor, campaign_id)
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
        timezone=zone_of(session, campaign.account_id),
        pause_cause=campaign.pause_cause if campaign.status == CampaignStatus.PAUSED else None,
        auto_retry_at=campaign.auto_retry_at,
        track_links=bool(campaign.track_links),
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
    campaign = owned_campaign(session, actor, campaign_id)
    counts = campaign_counts(session, campaign_id)
    attempted_at = func.coalesce(
        CampaignRecipient.last_attempt_at, CampaignRecipient.sent_at, CampaignRecipient.failed_at
    )
    pace = _pace(session, campaign, attempted_at, now)
    rate = _healthy_rate(campaign.instances)
    remaining = sum(counts[status] for status in OPEN_STATUSES)
    # Nothing sent lately (just started, or between send windows): a running campaign is
    # estimated at its numbers' rate.
    speed = pace or (rate if campaign.status == CampaignStatus.RUNNING else 0)
    if campaign.status == CampaignStatus.RUNNING and pace is None:
        speed = rate  # too early to measure: the numbers' rate, as the editor estimated
    if rate:
        speed = min(speed, rate)  # it can never go faster than its numbers allow
    if remaining == 0:
        eta: timedelta | None = timedelta(0)
    elif speed:
        eta = timedelta(minutes=remaining / speed)
    else:
        eta = None
    return Progress(counts, funnel_stages(counts), pace, rate, eta)


def _pace(session: Session, campaign: Campaign, attempted_at: Any, now: datetime) -> float | None:
    """Attempts per minute; None until there are two to measure between.

    - A finished campaign (completed, cancelled, failed): its average over the run, frozen.
    - A campaign running for a whole PACE_WINDOW: the attempts in the last window.
    - A younger one: the gaps between its attempts so far, and no more than their count over
      the time since the first (which falls while it stalls). Counting the time since the
      start instead read one send 2 s in as "1.0 per minute, 6 min to finish".
    """
    finished = campaign.status in (
        CampaignStatus.COMPLETED,
        CampaignStatus.CANCELLED,
        CampaignStatus.FAILED,
    )
    young = campaign.started_at is None or now - as_utc(campaign.started_at) < PACE_WINDOW
    since = None if finished or young else now - PACE_WINDOW
    conditions = [
        CampaignRecipient.campaign_id == campaign.id,
        CampaignRecipient.is_test.is_(False),
    ]
    if since is not None:
        conditions.append(attempted_at >= since)
    count, first, last = session.execute(
        select(func.count(attempted_at), func.min(attempted_at), func.max(attempted_at)).where(
            *conditions
        )
    ).one()
    if since is not None:
        return (count or 0) / (PACE_WINDOW.total_seconds() / 60)
    if not count or count < 2 or first is None or last is None:
        return None
    first, last = as_utc(first), as_utc(last)
    minutes = (last - first).total_seconds() / 60
    if minutes <= 0:
        return None
    pace = (count - 1) / minutes
    if not finished:
        pace = min(pace, count / max((now - first).total_seconds() / 60, minutes))
    return pace


@dataclass(frozen=True)
class SendSeries:
    bucket_seconds: int
    points: list[tuple[datetime, int]]  # bucket start (UTC), messages sent in it
    limit_per_bucket: int  # the instances' rate limit, scaled to the bucket


def sends_over_time(session: Session, actor: Actor, campaign_id: int) -> SendSeries:
    """Messages sent per minute (per 10 minutes / hour for long campaigns) against the rate."""
    campaign = owned_campaign(session, actor, campaign_id)
    sent_at = CampaignRecipient.sent_at
    scope = (
        CampaignRecipient.campaign_id == campaign_id,
        CampaignRecipient.is_test.is_(False),
        sent_at.is_not(None),
    )
    first, last = session.execute(select(func.min(sent_at), func.max(sent_at)).where(*scope)).one()
    span = (last - first) if first and last else timedelta(0)
    # Wider buckets for longer campaigns keep the chart to a few hundred bars.
    bucket = 60 if span <= timedelta(hours=12) else 600 if span <= timedelta(days=5) else 3600
    column = time_bucket(sent_at, bucket, dialect_of(session)).label("bucket")
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
    owned_campaign(session, actor, campaign_id)
    scope = (
        CampaignRecipient.campaign_id == campaign_id,
        CampaignRecipient.is_test.is_(False),
        CampaignRecipient.status.in_(FAILURE_STATUSES),
    )
    keys = (CampaignRecipient.status, CampaignRecipient.error_kind, CampaignRecipient.last_error)
    groups = session.execute(
        select(*keys, func.count().label("n"))
        .where(*scope)
        .group_by(*keys)
        .order_by(func.count().desc(), CampaignRecipient.error_kind, CampaignRecipient.last_error)
        .limit(limit)
    ).all()
    # The examples of every group in one query, not one per group.
    numbered = (
        select(
            *keys,
            CampaignRecipient.phone,
            CampaignRecipient.name,
            func.row_number().over(partition_by=keys, order_by=CampaignRecipient.id).label("rn"),
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
