"""The small parsers of a number's settings, and its deliverability fields (long pauses,
warm-up), each raising a ValidationError that names the field."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from core.base import ValidationError, utcnow
from core.instances._long_pause import MAX_EVERY, MAX_PAUSE_MINUTES
from core.instances._warmup import validate_warmup
from core.models import SenderInstance


def date_field(value: Any, field: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(
            "{name}: use YYYY-MM-DD, not {value!r}", field, name=field, value=value
        ) from None


def time_field(value: Any, field: str) -> time | None:
    if value in (None, ""):
        return None
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    try:
        return time.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(
            "{name}: use HH:MM (24 hours), not {value!r}", field, name=field, value=value
        ) from None


def int_field(value: Any, field: str, low: int, high: int | None = None) -> int:
    try:
        number = int(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
    except (TypeError, ValueError):
        raise ValidationError(
            "{name} must be a whole number, not {value!r}", field, name=field, value=value
        ) from None
    if number < low or (high is not None and number > high):
        if high is None:
            raise ValidationError(
                "{name} must be at least {low} (got {number})",
                field,
                name=field,
                low=low,
                number=number,
            )
        raise ValidationError(
            "{name} must be between {low} and {high} (got {number})",
            field,
            name=field,
            low=low,
            high=high,
            number=number,
        )
    return number


def seconds_field(value: Any, field: str, high: float) -> float:
    try:
        seconds = float(value or 0)
    except (TypeError, ValueError):
        raise ValidationError("{name} must be a number", field, name=field) from None
    if not 0 <= seconds <= high:  # also refuses NaN
        raise ValidationError(
            "{name} must be between {low} and {high}", field, name=field, low=0, high=high
        )
    return seconds


def validate_deliverability(
    data: dict[str, Any], clean: dict[str, Any], current: SenderInstance | None
) -> None:
    """Long pauses and warm-up (core.instances._long_pause, _warmup)."""
    if "long_pause_every" in data:
        every = data["long_pause_every"]
        clean["long_pause_every"] = (
            None if every in (None, "", 0) else int_field(every, "long_pause_every", 1, MAX_EVERY)
        )
    for field in ("long_pause_min_minutes", "long_pause_max_minutes"):
        if field in data:
            clean[field] = seconds_field(data[field], field, MAX_PAUSE_MINUTES)
    low = clean.get("long_pause_min_minutes", current.long_pause_min_minutes if current else 0.0)
    high = clean.get("long_pause_max_minutes", current.long_pause_max_minutes if current else 0.0)
    if (low or 0.0) > (high or 0.0):
        raise ValidationError(
            "long_pause_min_minutes must not be above long_pause_max_minutes ({low} > {high})",
            "long_pause_min_minutes",
            low=low,
            high=high,
        )
    if "warmup" in data:
        clean["warmup"] = validate_warmup(data["warmup"])
    if "number_since" in data:
        since = date_field(data["number_since"], "number_since")
        if since is not None and since > utcnow().date() + timedelta(days=1):
            raise ValidationError("number_since must not be in the future", "number_since")
        clean["number_since"] = since
