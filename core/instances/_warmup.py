"""Warm-up: a number's daily allowance grows with its age, along a ladder (pure functions).

A new WhatsApp number that sends hundreds of messages on its first day is the classic ban; the
practice is a ladder such as 20 → 50 → 100 → 200 a day. The number's age counts from the date
staff enter (`number_since`, the day it came into use) or else from its first send through this
tool, in days of the account's timezone: day 1 is the first. Past the last step the ladder ends
and only the daily cap (if any) limits the number. What a day allows is counted from that day's
sends of the number, whatever campaign they belong to, so restarts and several campaigns share
one allowance.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, tzinfo
from typing import Any

from core.base import ValidationError
from core.instances._health import FULL_RATE_FROM

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
) -> int | None:
    return allowance_on(
        ladder_of(warmup),
        age_start(number_since, first_sent_at, zone),
        now.astimezone(zone).date(),
        health_score,
    )
