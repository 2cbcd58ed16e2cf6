"""When a running campaign will finish, from where it stands: its pending recipients, its
numbers' current allowances (the kept warm-up step climbing a step a day, the daily cap, less
what each number already sent today, whatever campaign), their effective rates and windows,
and each recipient's own zone when it delivers in local time. What the campaign page says when
it waits for tomorrow's allowance: "at the current allowance it will finish around …".

Several zones share the numbers in proportion to their pending recipients (an estimate, not a
schedule): each zone's part is estimated in its own window, within the account's days (whose
allowance it shares), and the last one to finish is the answer.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import instances
from core.base import utcnow
from core.campaigns._allowance_waits import effective_window
from core.campaigns._estimate import estimate, pace_of
from core.campaigns._queries import load_account
from core.models import Campaign, CampaignRecipient, RecipientStatus
from core.people import Actor, load_owned, require

_LEFT = (RecipientStatus.PENDING, RecipientStatus.SENDING)


def finish_estimate(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> datetime | None:
    """Around when the campaign's last pending recipient goes out (None: never, at these
    windows; `now` when nothing is left)."""
    require(actor, "campaigns.read")
    campaign = load_owned(session, actor, Campaign, campaign_id, "campaign")
    now = now or utcnow()
    account = load_account(session, actor.account_id)
    zone = ZoneInfo(account.timezone)
    today = now.astimezone(zone).date()
    left = dict(
        session.execute(
            select(CampaignRecipient.timezone, func.count())
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.status.in_(_LEFT),
                CampaignRecipient.is_test.is_(False),
            )
            .group_by(CampaignRecipient.timezone)
        ).all()
    )
    total = sum(left.values())
    if not total:
        return now
    paces = []
    for number in campaign.instances:
        allowance = instances.today_allowance(session, number, now)
        paces.append(
            pace_of(
                number,
                zone,
                today,
                rate_per_minute=instances.effective_rate(
                    number.rate_per_minute, number.health_score
                ),
                sent_today=allowance.sent_today,
            )
        )
    window = (campaign.window_start, campaign.window_end, campaign.window_days)
    windowed = any(effective_window(campaign, n) != (None, None, None) for n in campaign.instances)
    if (
        not campaign.deliver_in_recipient_timezone
        or not windowed
        or len(left) == 1
        and None in left
    ):
        return estimate(total, paces, now, account.timezone, window).ends_at
    ends: list[datetime] = []
    for name, count in left.items():
        their_zone = name or account.timezone
        shared = [replace(p, share=count / total, window_zone=their_zone) for p in paces]
        ends_at = estimate(count, shared, now, account.timezone, window).ends_at
        if ends_at is None:
            return None
        ends.append(ends_at)
    return max(ends)
