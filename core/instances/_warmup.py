"""Warm-up: a number's daily allowance grows with its age, along a ladder (pure functions).

A new WhatsApp number that sends hundreds of messages on its first day is the classic ban; the
practice is a ladder such as 20 → 50 → 100 → 200 a day. The number's age counts from the date
staff enter (`number_since`, the day it came into use) or else from its first send through this
tool, in days of the account's timezone: day 1 is the first. Past the last step the ladder ends
and only the daily cap (if any) limits the number. What a day allows is counted from that day's
sends of the number, whatever campaign they belong to, so restarts and several campaigns share
one allowance.

The position on the ladder is kept (`_warmup_days`): once a local day the number's health
decides whether it climbs a step, holds or steps back (`next_step`); until first judged the step
is the number's age.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from typing import Any

from core.base import ValidationError
from core.instances._health import FULL_RATE_FROM, WARMUP_ADVANCE_FROM, WARMUP_BACK_BELOW

OFF = "off"
PRESETS: dict[str, tuple[int, ...]] = {
    # Two weeks from 20 a day to 500; then free (the daily cap still holds).
    "new_number": (20, 20, 50, 50, 100, 100, 150, 200, 200, 300, 300, 400, 400, 500),
    # A number already in use elsewhere: three careful days before full speed here.
    "established": (200, 400, 800),
}
CHOICES = (OFF, *PRESETS)
MAX_STEPS = 365
MAX_ALLOWANCE = 1_000_000


def ladder_of(warmup: Any) -> tuple[int, ...]:
    """The daily allowances of a stored `warmup` value (empty: no warm-up)."""
    if warmup is None or warmup == OFF:
        return ()
    if isinstance(warmup, str):
        return PRESETS.get(warmup, ())
    return tuple(int(step) for step in warmup)


def validate_warmup(value: Any, field: str = "warmup") -> str | list[int] | None:
    """`off`, a preset name, or a list of daily allowances (whole numbers, 1 or more)."""
    if value in (None, "", OFF):
        return None
    if isinstance(value, str):
        name = value.strip()
        if name in PRESETS:
            return name
        raise ValidationError(
            "{name} must be off, new_number, established or a list of daily allowances, "
            "not {value!r}",
            field,
            name=field,
            value=value,
        )
    if not isinstance(value, list | tuple) or not value or len(value) > MAX_STEPS:
        raise ValidationError(
            "{name} must list 1 to {most} daily allowances", field, name=field, most=MAX_STEPS
        )
    steps = []
    for step in value:
        if isinstance(step, bool) or not isinstance(step, int | float) or step != int(step):
            raise ValidationError(
                "{name}: every allowance must be a whole number, not {value!r}",
                field,
                name=field,
                value=step,
            )
        if not 1 <= int(step) <= MAX_ALLOWANCE:
            raise ValidationError(
                "{name}: every allowance must be between {low} and {high}",
                field,
                name=field,
                low=1,
                high=MAX_ALLOWANCE,
            )
        steps.append(int(step))
    return steps


def age_start(
    number_since: date | None, first_sent_at: datetime | None, zone: tzinfo
) -> date | None:
    """The local day the number's age counts from (None: it never sent, today is its first)."""
    if number_since is not None:
        return number_since
    if first_sent_at is not None:
        return first_sent_at.astimezone(zone).date()
    return None


def allowance_on(
    ladder: Sequence[int], start: date | None, day: date, health_score: int | None = None
) -> int | None:
    """What the ladder allows on local `day` (None: no limit, the ladder is over or off).

    A number whose health is not good (below the full-rate score) does not climb: it gets the
    step below its age's, until its health recovers (core.instances._health)."""
    if not ladder:
        return None
    index = 0 if start is None else max(0, (day - start).days)
    if health_score is not None and health_score < FULL_RATE_FROM and 0 < index <= len(ladder):
        index -= 1  # (the first day past the ladder is held at its last step too)
    return ladder[index] if index < len(ladder) else None


def allowance_today(
    warmup: Any,
    number_since: date | None,
    first_sent_at: datetime | None,
    now: datetime,
    zone: tzinfo,
    health_score: int | None = None,
    step: int | None = None,
) -> int | None:
    """Today's allowance: at the kept `step` once the number's days are judged, else by age."""
    ladder = ladder_of(warmup)
    if step is not None:
        return allowance_at(ladder, step)
    return allowance_on(
        ladder,
        age_start(number_since, first_sent_at, zone),
        now.astimezone(zone).date(),
        health_score,
    )


def allowance_at(ladder: Sequence[int], step: int) -> int | None:
    """The allowance of the ladder's `step` (0: day 1; past the end: None, no limit)."""
    return ladder[step] if 0 <= step < len(ladder) else None


def age_step(ladder: Sequence[int], start: date | None, day: date) -> int:
    """The step the number's age alone gives on `day` (its position before any judgement)."""
    index = 0 if start is None else max(0, (day - start).days)
    return min(index, len(ladder))


ADVANCED, HELD, STEPPED_BACK, STARTED = "advanced", "held", "stepped_back", "started"


def next_step(
    ladder: Sequence[int], step: int, judged_on: date, day: date, health_score: int | None
) -> tuple[int, str]:
    """The step for local `day` after the one judged on `judged_on`, and the verdict.

    The day that just ended is judged by the score as it turns (the score covers the last 24 h):
    good health climbs a step, poor health holds, a score below the pause threshold steps back
    one. Days nobody judged in between (no worker ran) count as the age running on."""
    missed = max(0, (day - judged_on).days - 1)
    if health_score is None or health_score >= WARMUP_ADVANCE_FROM:
        change, verdict = 1, ADVANCED
    elif health_score < WARMUP_BACK_BELOW:
        change, verdict = -1, STEPPED_BACK
    else:
        change, verdict = 0, HELD
    return max(0, min(len(ladder), step + missed + change)), verdict
