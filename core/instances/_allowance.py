"""Today's allowance of a number: what its warm-up ladder and daily cap let it send today, and
what is left (the same count the worker's claim makes: the number's sends of the local day)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.base import utcnow
from core.instances._warmup import age_start, allowance_on, ladder_of
from core.models import Account, InstanceSend, SenderInstance


@dataclass(frozen=True)
class Allowance:
    warmup: int | None  # what the ladder allows today (None: no warm-up today)
    daily_cap: int | None
    sent_today: int
    age_days: int | None  # day 1 is the first (None: the number has not sent yet)
    resets_at: datetime  # the next local midnight, UTC

    @property
    def limit(self) -> int | None:
        limits = [x for x in (self.warmup, self.daily_cap) if x]
        return min(limits) if limits else None

    @property
    def left(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.sent_today)

    @property
    def exhausted(self) -> bool:
        return self.left == 0

    def json(self) -> dict[str, object]:
        return {
            "warmup": self.warmup,
            "daily_cap": self.daily_cap,
            "limit": self.limit,
            "sent_today": self.sent_today,
            "left": self.left,
            "age_days": self.age_days,
            "resets_at": self.resets_at.isoformat(),
        }


def today_allowance(
    session: Session, instance: SenderInstance, now: datetime | None = None
) -> Allowance:
    now = now or utcnow()
    timezone = session.scalar(select(Account.timezone).where(Account.id == instance.account_id))
    zone = ZoneInfo(timezone or "UTC")
    local = now.astimezone(zone)
    day_start = datetime.combine(local.date(), time(0), tzinfo=zone).astimezone(UTC)
    resets = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    sent = session.scalar(
        select(func.count())
        .select_from(InstanceSend)
        .where(InstanceSend.instance_id == instance.id, InstanceSend.sent_at >= day_start)
    )
    start = age_start(instance.number_since, instance.first_sent_at, zone)
    return Allowance(
        warmup=allowance_on(ladder_of(instance.warmup), start, local.date(), instance.health_score),
        daily_cap=instance.daily_cap,
        sent_today=int(sent or 0),
        age_days=None if start is None else (local.date() - start).days + 1,
        resets_at=resets.astimezone(UTC),
    )
