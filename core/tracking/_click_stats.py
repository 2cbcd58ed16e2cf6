"""Clicks over time, and the period's click rate: what the statistics can honestly say of clicks.

No click's time is kept on its own. What is kept:
- `CampaignRecipient.clicked_at`, a recipient's first click on any of its links: the people who
  clicked are placed in time exactly;
- per tracked link (one recipient's copy of one link), its first and last click time and how many
  clicks. A link clicked once or twice has each click placed in time; of a link clicked three
  times or more, the clicks between its first and its last are counted (`clicks`) but have no
  time (`unplaced`). Pages and the API say so rather than spread them out by guess. Over a
  period (the dashboard), a click counts when it is known to lie in the period: the middle clicks
  of a link only when its first and last both do.

Times are bucketed in SQL at 15 minutes (`time_bucket`, SQLite and PostgreSQL alike) and rolled up
in Python into the account's local hours, or local days when the clicks (the dashboard: the
period) span more than `HOURLY_SPAN`. A 15-minute bucket lies inside one local hour in every real
zone, so the roll-up is exact across DST changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Campaign, CampaignRecipient, TrackedLink
from core.people import Actor, require
from core.tracking._campaign_stats import owned_campaign
from core.tracking._sql_time import dialect_of, from_epoch, time_bucket, zone_of

HOURLY_SPAN = timedelta(days=3)  # longer than this: per day
_BUCKET = 900  # seconds: see the module docstring
Window = tuple[datetime, datetime]  # [start, end)


@dataclass(frozen=True)
class ClickPoint:
    start: datetime  # the local hour's or day's start, in the account's zone
    people: int  # recipients whose first click falls in it
    clicks: int  # clicks known to fall in it (each link's first and last)


@dataclass(frozen=True)
class ClickSeries:
    bucket: str  # "hour" or "day"
    points: list[ClickPoint]  # only buckets with clicks, oldest first
    people: int  # recipients who clicked
    clicks: int  # every click (of the period: known to be in it), placed in time or not
    unplaced: int  # of `clicks`, those with no known time (see the module docstring)
    timezone: tzinfo

    @property
    def bucket_step(self) -> timedelta:
        return timedelta(hours=1) if self.bucket == "hour" else timedelta(days=1)


def _bucketed(
    session: Session, column: Any, where: Sequence[Any], window: Window | None
) -> list[tuple[int, int]]:
    bucket = time_bucket(column, _BUCKET, dialect_of(session)).label("bucket")
    rows = session.execute(
        select(bucket, func.count())
        .where(column.is_not(None), *where, *_within(column, window))
        .group_by(bucket)
    ).all()
    return [(int(epoch), int(count)) for epoch, count in rows]


def _within(column: Any, window: Window | None) -> tuple[Any, ...]:
    return () if window is None else (column >= window[0], column < window[1])


def _local_start(epoch: int, zone: tzinfo, daily: bool) -> datetime:
    local = from_epoch(epoch).astimezone(zone)
    if daily:
        return datetime.combine(local.date(), time(), zone)
    return local.replace(minute=0, second=0, microsecond=0)


def _roll_up(
    people: Sequence[tuple[int, int]],
    clicks: Sequence[tuple[int, int]],
    zone: tzinfo,
    daily: bool,
) -> list[ClickPoint]:
    points: dict[datetime, list[int]] = {}
    for index, rows in enumerate((people, clicks)):
        for epoch, count in rows:
            points.setdefault(_local_start(epoch, zone, daily), [0, 0])[index] += count
    return [ClickPoint(start, *counts) for start, counts in sorted(points.items())]


def _series(
    session: Session,
    zone: tzinfo,
    recipients: Sequence[Any],
    links: Sequence[Any],
    window: Window | None = None,
) -> ClickSeries:
    """`recipients` / `links` choose the rows, `window` the times; the bucket follows the
    window's span, or without one the clicks' own."""
    people = _bucketed(session, CampaignRecipient.clicked_at, recipients, window)
    placed = [
        *_bucketed(session, TrackedLink.first_clicked_at, links, window),
        *_bucketed(session, TrackedLink.last_clicked_at, [TrackedLink.clicks >= 2, *links], window),
    ]
    # The clicks between a link's first and last are the window's only when both are in it.
    unplaced = session.scalar(
        select(func.coalesce(func.sum(TrackedLink.clicks - 2), 0)).where(
            TrackedLink.clicks > 2,
            *links,
            *_within(TrackedLink.first_clicked_at, window),
            *_within(TrackedLink.last_clicked_at, window),
        )
    )
    if window is not None:
        span = window[1] - window[0]
    else:
        epochs = [epoch for epoch, _count in (*people, *placed)]
        span = timedelta(seconds=max(epochs) - min(epochs)) if epochs else timedelta(0)
    daily = span > HOURLY_SPAN
    return ClickSeries(
        bucket="day" if daily else "hour",
        points=_roll_up(people, placed, zone, daily),
        people=sum(count for _epoch, count in people),
        clicks=sum(count for _epoch, count in placed) + int(unplaced or 0),
        unplaced=int(unplaced or 0),
        timezone=zone,
    )


def campaign_clicks_over_time(session: Session, actor: Actor, campaign_id: int) -> ClickSeries:
    """A campaign's people who clicked and clicks per local hour (per day over many days)."""
    campaign = owned_campaign(session, actor, campaign_id)
    return _series(
        session,
        zone_of(session, campaign.account_id),
        [CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.is_test.is_(False)],
        [TrackedLink.campaign_id == campaign_id],
    )


def _tracking_campaigns(account_id: int) -> Any:
    # Every campaign of the account that tracks links: clicks keep coming after it finished.
    return select(Campaign.id).where(
        Campaign.account_id == account_id,
        Campaign.track_links.is_(True),
        Campaign.started_at.is_not(None),
    )


def period_clicks_over_time(
    session: Session, actor: Actor, start: datetime, end: datetime
) -> ClickSeries:
    """The account's clicks made in [start, end), per local hour (per day over many days)."""
    require(actor, "stats.read")
    campaigns = _tracking_campaigns(actor.account_id)
    return _series(
        session,
        zone_of(session, actor.account_id),
        [CampaignRecipient.campaign_id.in_(campaigns), CampaignRecipient.is_test.is_(False)],
        [TrackedLink.campaign_id.in_(campaigns)],
        window=(start, end),
    )


@dataclass(frozen=True)
class ClickRate:
    sent: int  # messages sent in the period by campaigns that track links
    clicked: int  # of them, whose recipient clicked (so far)

    @property
    def rate(self) -> float | None:
        return self.clicked / self.sent if self.sent else None


def period_click_rate(session: Session, actor: Actor, start: datetime, end: datetime) -> ClickRate:
    """Of the messages sent in [start, end) with tracked links, the share whose recipient clicked.
    Campaigns that track no links are left out: their recipients could not have clicked."""
    require(actor, "stats.read")
    sent, clicked = session.execute(
        select(func.count(), func.count(CampaignRecipient.clicked_at)).where(
            CampaignRecipient.campaign_id.in_(_tracking_campaigns(actor.account_id)),
            CampaignRecipient.is_test.is_(False),
            CampaignRecipient.sent_at >= start,
            CampaignRecipient.sent_at < end,
        )
    ).one()
    return ClickRate(int(sent), int(clicked))
