"""The editor's risk meter: the chosen numbers' rates, ages, health and today's allowances
against the audience, before staff press send ("this campaign needs 3 days on a 2-week-old
number", "over 60 an hour on a new number is risky")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import instances
from core.campaigns._estimate import estimate_for
from core.models import SenderInstance
from core.people import Actor, require

NEW_NUMBER_DAYS = 14  # younger than this, a number counts as new
SAFE_PER_HOUR_NEW = 60  # what practitioners call safe per hour for a new number
LONG_CAMPAIGN_DAYS = 2  # a campaign taking longer than this many days is pointed out


@dataclass(frozen=True)
class RiskItem:
    """One point of the meter: `kind` names the sentence, `params` fill it."""

    kind: str  # fast_new_number | warmup_off_new | health_low | health_paused | days_needed
    level: str  # caution | risky
    params: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Risk:
    items: tuple[RiskItem, ...]

    @property
    def level(self) -> str:
        levels = {item.level for item in self.items}
        return "risky" if "risky" in levels else ("caution" if levels else "ok")


def risk_for(
    session: Session,
    actor: Actor,
    recipients: int,
    instance_ids: Sequence[int],
    start_at: datetime,
) -> Risk:
    require(actor, "campaigns.read")
    numbers = (
        session.scalars(
            select(SenderInstance)
            .where(
                SenderInstance.account_id == actor.account_id,
                SenderInstance.id.in_(list(instance_ids)),
            )
            .order_by(SenderInstance.name)
        ).all()
        if instance_ids
        else []
    )
    items: list[RiskItem] = []
    youngest: int | None = None
    for number in numbers:
        allowance = instances.today_allowance(session, number, start_at)
        age = allowance.age_days or 1
        if number.number_since is None and number.first_sent_at is None:
            age = 1  # never sent from here and no date given: treat as new
        youngest = age if youngest is None else min(youngest, age)
        rate = instances.effective_rate(number.rate_per_minute, number.health_score)
        new = age < NEW_NUMBER_DAYS
        if new and rate * 60 > SAFE_PER_HOUR_NEW:
            items.append(
                RiskItem(
                    "fast_new_number",
                    "risky",
                    {"number": number.name, "per_hour": rate * 60, "age": age},
                )
            )
        if new and not instances.ladder_of(number.warmup):
            items.append(RiskItem("warmup_off_new", "risky", {"number": number.name, "age": age}))
        if number.health_paused_at is not None:
            items.append(
                RiskItem(
                    "health_paused",
                    "risky",
                    {"number": number.name, "score": number.health_score or 0},
                )
            )
        elif number.health_score is not None and rate < number.rate_per_minute:
            items.append(
                RiskItem(
                    "health_low",
                    "caution",
                    {"number": number.name, "score": number.health_score, "rate": rate},
                )
            )
    if numbers and recipients > 0:
        result = estimate_for(session, actor, recipients, [n.id for n in numbers], start_at)
        if result.ends_at is not None:
            days = math.ceil((result.ends_at - start_at).total_seconds() / 86400)
            if days >= LONG_CAMPAIGN_DAYS:
                items.append(
                    RiskItem(
                        "days_needed",
                        "caution",
                        {"days": days, "age": youngest or 1},
                    )
                )
    return Risk(tuple(items))
