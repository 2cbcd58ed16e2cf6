"""Which of a campaign's numbers wait for tomorrow's allowance (warm-up ladder or daily cap):
the campaign page says so, so a campaign that stops mid-afternoon does not look stuck."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from core import instances
from core.base import utcnow
from core.models import Campaign
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
