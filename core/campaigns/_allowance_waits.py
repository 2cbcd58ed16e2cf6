"""Which of a campaign's numbers wait for tomorrow's allowance (warm-up ladder or daily cap):
the campaign page says so, so a campaign that stops mid-afternoon does not look stuck."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import instances
from core.base import utcnow
from core.models import Campaign, CampaignRecipient, RecipientStatus
from core.people import Actor, load_owned, require


@dataclass(frozen=True)
class AllowanceWait:
    instance_name: str
    limit: int  # what the number may send today, all reached
    warmup: bool  # the warm-up ladder set the limit (else the daily cap)
    resumes_at: datetime  # the account's next midnight (UTC)


def allowance_waits(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> list[AllowanceWait]:
    require(actor, "campaigns.read")
    campaign = load_owned(session, actor, Campaign, campaign_id, "campaign")
    now = now or utcnow()
    waits = []
    for instance in campaign.instances:
        allowance = instances.today_allowance(session, instance, now)
        if allowance.exhausted and allowance.limit is not None:
            waits.append(
                AllowanceWait(
                    instance.name,
                    allowance.limit,
                    allowance.warmup is not None and allowance.warmup <= allowance.limit,
                    allowance.resets_at,
                )
            )
    return waits


def waiting_for_local_window(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> int:
    """How many pending recipients of a campaign delivering in local time wait for their own
    window to open (0 when it does not deliver in local time, or has no window)."""
    require(actor, "campaigns.read")
    campaign = load_owned(session, actor, Campaign, campaign_id, "campaign")
    if not campaign.deliver_in_recipient_timezone or not campaign.instances:
        return 0
    now = now or utcnow()
    windows = [effective_window(campaign, number) for number in campaign.instances]
    if all(w == (None, None, None) for w in windows):
        return 0
    rows = session.execute(
        select(CampaignRecipient.timezone, func.count())
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.status == RecipientStatus.PENDING,
            CampaignRecipient.is_test.is_(False),
        )
        .group_by(CampaignRecipient.timezone)
    ).all()
    waiting = 0
    for name, count in rows:
        zone = ZoneInfo(name or "UTC")
        # Waiting: no number of the campaign has its window open in the recipient's zone.
        if not any(instances.in_send_window(now, zone, *window) for window in windows):
            waiting += count
    return waiting


def effective_window(campaign: Any, number: Any) -> tuple[Any, Any, Any]:
    """The campaign's own window when it has one, else the number's: what the worker's claim
    and this page's count both read."""
    if (
        campaign.window_start is not None
        or campaign.window_end is not None
        or campaign.window_days is not None
    ):
        return campaign.window_start, campaign.window_end, campaign.window_days
    return number.window_start, number.window_end, number.window_days
