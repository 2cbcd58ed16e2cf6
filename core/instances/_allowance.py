"""Today's allowance of a number: what its warm-up ladder and daily cap let it send today, and
what is left (the same count the worker's claim makes: the number's sends of the local day)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.base import utcnow
from core.instances._warmup import age_start, age_step, allowance_today, ladder_of
from core.models import Account, InstanceSend, SenderInstance


@dataclass(frozen=True)
class Allowance:
    warmup: int | None  # what the ladder allows today (None: no warm-up today)
    daily_cap: int | None
    sent_today: int
    age_days: int | None  # day 1 is the first (None: the number has not sent yet)
    resets_at: datetime  # the next local midnight, UTC
    step: int | None = None  # today's ladder step, 1 first (None: no ladder)
    steps: int = 0  # the ladder's length
    # The last day's judgement of the warm-up: {"verdict": advanced|held|stepped_back|started,
    # "score": the health that decided it, "day"} (None: not judged yet).
    judgement: dict[str, object] | None = None

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
            "step": self.step,
            "steps": self.steps,
            "judgement": self.judgement,
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
    ladder = ladder_of(instance.warmup)
    step = kept_step(instance, ladder, start, local.date())
    return Allowance(
        warmup=allowance_today(
            instance.warmup,
            instance.number_since,
            instance.first_sent_at,
            now,
            zone,
            instance.health_score,
            step=instance.warmup_step,
        ),
        daily_cap=instance.daily_cap,
        sent_today=int(sent or 0),
        age_days=None if start is None else (local.date() - start).days + 1,
        resets_at=resets.astimezone(UTC),
        step=None if not ladder else step + 1,
        steps=len(ladder),
        judgement=instance.warmup_judgement if ladder else None,
    )


def kept_step(
    instance: SenderInstance, ladder: tuple[int, ...], start: date | None, day: date
) -> int:
    """The step the number is on (0: day 1): the kept one, else its age's."""
    if instance.warmup_step is not None:
        return instance.warmup_step
    return age_step(ladder, start, day)


def ladder_start(instance: SenderInstance, zone: ZoneInfo, today: date) -> date | None:
    """The day the ladder would have started for the number to be on its kept step on the day
    it was judged: what estimates read, assuming good health climbs a step a day from there."""
    if instance.warmup_step is None:
        return age_start(instance.number_since, instance.first_sent_at, zone)
    return (instance.warmup_step_on or today) - timedelta(days=instance.warmup_step)
