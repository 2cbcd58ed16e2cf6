"""How long a campaign will take at its instances' rates, send windows and daily caps (pure).

"1,240 recipients · 2 numbers at 12/min · about 52 minutes · ends today 15:42"
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.base import EARLIEST, LATEST
from core.campaigns._queries import load_account
from core.i18n import (
    _,
    format_datetime,
    format_duration,
    format_number,
    format_time,
    ngettext,
    to_local,
)
from core.instances import (
    allowance_on,
    average_long_pause_seconds,
    ladder_of,
    ladder_start,
    today_allowance,
    window_bounds,
    window_opens_on,
)
from core.models import (
    SenderInstance,
)
from core.people import Actor, require

MAX_DAYS = 3660  # beyond ten years the answer is "never" for practical purposes


@dataclass(frozen=True)
class Pace:
    """One sender instance as the estimate sees it (the campaign's window, when set, wins)."""

    rate_per_minute: int
    extra_delay_max_seconds: float = 0.0
    daily_cap: int | None = None
    window_start: time | None = None
    window_end: time | None = None
    window_days: Sequence[int] | None = None
    # Long pauses, spread over the sends: their average length / every N (seconds per send).
    long_pause_seconds_per_send: float = 0.0
    # Warm-up: the daily allowances, day 1 first, and the local day the number's age counts from
    # (None: it has not sent yet, so the campaign's first day is its first).
    warmup: tuple[int, ...] = ()
    age_start: date | None = None
    # What the number already sent on local day `today` (any campaign): it counts against
    # that day's limit.
    sent_today: int = 0
    today: date | None = None
    # The part of the number this estimate gets (several zones sharing it: their share).
    share: float = 1.0
    # Deliver in this zone's window (a recipient's own), counted in the account's days.
    window_zone: str | None = None

    @property
    def per_second(self) -> float:
        # The random extra delay is uniform in [0, max]: on average half of it is added.
        return self.share / (
            60.0 / self.rate_per_minute
            + self.extra_delay_max_seconds / 2
            + self.long_pause_seconds_per_send
        )

    def cap_on(self, day: date, first_day: date) -> float | None:
        """The day's limit: the daily cap and the warm-up allowance, the lower (less what was
        already sent that day), times the share."""
        allowance = allowance_on(self.warmup, self.age_start or first_day, day)
        limits = [x for x in (self.daily_cap, allowance) if x]
        if not limits:
            return None
        cap = min(limits)
        if day == self.today:
            cap = max(0, cap - self.sent_today)
        return cap * self.share


@dataclass(frozen=True)
class Estimate:
    recipients: int
    rates: tuple[int, ...]  # per number
    starts_at: datetime
    ends_at: datetime | None  # None: the send windows never open

    @property
    def numbers(self) -> int:
        return len(self.rates)

    @property
    def duration(self) -> timedelta | None:
        return None if self.ends_at is None else self.ends_at - self.starts_at


def _intervals(
    pace: Pace, day: date, zone: ZoneInfo, start: datetime
) -> list[tuple[datetime, datetime]]:
    """The instance's sending time in the window that opens on local `day`, from `start` on
    (with `window_zone`: that zone's windows, cut to the account's local `day`, whose limit
    they share)."""
    if pace.window_zone is None:
        if not window_opens_on(day, pace.window_days):
            return []
        opens, closes = window_bounds(day, zone, pace.window_start, pace.window_end)
        opens = max(opens, start)
        return [(opens, closes)] if closes > opens else []
    day_opens, day_closes = window_bounds(day, zone, None, None)
    local = ZoneInfo(pace.window_zone)
    intervals = []
    for offset in (-1, 0, 1):
        their_day = day + timedelta(days=offset)
        if not window_opens_on(their_day, pace.window_days):
            continue
        opens, closes = window_bounds(their_day, local, pace.window_start, pace.window_end)
        opens, closes = max(opens, day_opens, start), min(closes, day_closes)
        if closes > opens:
            intervals.append((opens, closes))
    return intervals


def _sent_by(
    moment: datetime, plan: list[tuple[Pace, list[tuple[datetime, datetime]], float]]
) -> float:
    total = 0.0
    for pace, intervals, cap in plan:
        seconds = sum(
            max(0.0, (min(moment, closes) - opens).total_seconds()) for opens, closes in intervals
        )
        total += min(cap, math.floor(seconds * pace.per_second))
    return total


def estimate(
    recipients: int,
    paces: Sequence[Pace],
    start: datetime,
    timezone: str,
    window: tuple[time | None, time | None, Sequence[int] | None] | None = None,
) -> Estimate:
    """When the last of `recipients` goes out if sending begins at `start` (UTC).

    `window` (start, end, days) is the campaign's own send window; it replaces each instance's.
    Daily caps and warm-up allowances count per opening day of the window, less what each
    number already sent on `Pace.today`. A rough figure: retries, replies and other campaigns
    sharing the numbers later are not foreseen.
    """
    rates = tuple(p.rate_per_minute for p in paces)
    if recipients <= 0:
        return Estimate(recipients, rates, start, start)
    if not paces:
        return Estimate(recipients, rates, start, None)
    if window is not None and any(part is not None for part in window):
        paces = [
            replace(p, window_start=window[0], window_end=window[1], window_days=window[2])
            for p in paces
        ]
    if not EARLIEST <= start <= LATEST:
        # Stored before dates were bounded (year 9999): no day arithmetic can be done on it.
        return Estimate(recipients, rates, start, None)
    try:
        return _estimate(recipients, rates, paces, start, ZoneInfo(timezone))
    except OverflowError:  # ten years of windows past 2100 still fit; a guard, not a path
        return Estimate(recipients, rates, start, None)


def _estimate(
    recipients: int, rates: tuple[int, ...], paces: Sequence[Pace], start: datetime, zone: ZoneInfo
) -> Estimate:
    remaining = recipients
    start_day = start.astimezone(zone).date()
    first_day = start_day - timedelta(days=1)  # a window open since yesterday
    for offset in range(MAX_DAYS):
        day = first_day + timedelta(days=offset)
        plan = []
        for pace in paces:
            intervals = _intervals(pace, day, zone, start)
            if intervals:
                cap = pace.cap_on(day, start_day)
                plan.append((pace, intervals, cap if cap is not None else float(1 << 62)))
        if not plan:
            continue
        last_close = max(closes for _p, intervals, _c in plan for _o, closes in intervals)
        capacity = _sent_by(last_close, plan)
        if capacity < remaining:
            remaining -= capacity
            continue
        low = min(opens for _p, intervals, _c in plan for opens, _cl in intervals)
        high = last_close
        while (high - low).total_seconds() > 1:
            middle = low + (high - low) / 2
            if _sent_by(middle, plan) >= remaining:
                high = middle
            else:
                low = middle
        return Estimate(recipients, rates, start, high.replace(microsecond=0))
    return Estimate(recipients, rates, start, None)


def describe_estimate(result: Estimate, timezone: str, now: datetime) -> str:
    """The one-line summary shown before scheduling, in the UI language."""
    parts = [
        ngettext("{n} recipient", "{n} recipients", result.recipients).format(
            n=format_number(result.recipients)
        )
    ]
    if result.rates:
        numbers = ngettext("{n} number", "{n} numbers", result.numbers).format(n=result.numbers)
        if len(set(result.rates)) == 1:
            parts.append(_("{numbers} at {rate}/min").format(numbers=numbers, rate=result.rates[0]))
        else:
            parts.append(
                _("{numbers} at {rate}/min in total").format(
                    numbers=numbers, rate=sum(result.rates)
                )
            )
    else:
        parts.append(_("no WhatsApp number chosen"))
    if result.ends_at is None:
        parts.append(_("the send windows never open"))
        return " · ".join(parts)
    duration = result.duration or timedelta(0)
    if duration >= timedelta(minutes=1):
        duration = timedelta(minutes=round(duration.total_seconds() / 60))
    parts.append(_("about {duration}").format(duration=format_duration(duration)))
    local_end = to_local(result.ends_at, timezone).date()
    today = to_local(now, timezone).date()
    clock = format_time(result.ends_at, timezone)
    if local_end == today:
        parts.append(_("ends today {time}").format(time=clock))
    elif local_end == today + timedelta(days=1):
        parts.append(_("ends tomorrow {time}").format(time=clock))
    else:
        parts.append(
            _("ends {moment}").format(
                moment=format_datetime(result.ends_at, timezone, format="short")
            )
        )
    return " · ".join(parts)


# -- for the editor -----------------------------------------------------------------------------


def estimate_for(
    session: Session,
    actor: Actor,
    recipients: int,
    instance_ids: Sequence[int],
    start_at: datetime,
    window: tuple[time | None, time | None, Sequence[int] | None] | None = None,
) -> Estimate:
    """How long `recipients` take through these numbers, starting at `start_at`."""
    require(actor, "campaigns.read")
    account = load_account(session, actor.account_id)
    zone = ZoneInfo(account.timezone)
    instances = (
        session.scalars(
            select(SenderInstance).where(
                SenderInstance.account_id == actor.account_id,
                SenderInstance.id.in_(list(instance_ids)),
            )
        ).all()
        if instance_ids
        else []
    )
    today = start_at.astimezone(zone).date()
    paces = [
        # Starting today, what the number already sent today counts against today's limit.
        pace_of(
            instance,
            zone,
            today,
            sent_today=today_allowance(session, instance, start_at).sent_today,
        )
        for instance in instances
    ]
    return estimate(recipients, paces, start_at, account.timezone, window)


def pace_of(
    instance: SenderInstance,
    zone: ZoneInfo,
    today: date,
    *,
    rate_per_minute: int | None = None,
    sent_today: int = 0,
) -> Pace:
    """A number as the estimate sees it, from `today` (local) on."""
    return Pace(
        rate_per_minute=max(1, rate_per_minute or instance.rate_per_minute),
        extra_delay_max_seconds=instance.extra_delay_max_seconds or 0.0,
        daily_cap=instance.daily_cap,
        window_start=instance.window_start,
        window_end=instance.window_end,
        window_days=instance.window_days,
        long_pause_seconds_per_send=average_long_pause_seconds(
            instance.long_pause_every,
            instance.long_pause_min_minutes or 0.0,
            instance.long_pause_max_minutes or 0.0,
        ),
        warmup=ladder_of(instance.warmup),
        # The kept ladder step, climbing a step a day from here (good health assumed).
        age_start=ladder_start(instance, zone, today),
        sent_today=sent_today,
        today=today,
    )


def needs_confirmation(session: Session, actor: Actor, recipients: int) -> bool:
    """Above the account's threshold the UI asks staff to confirm before scheduling."""
    return recipients > load_account(session, actor.account_id).confirm_above_recipients
