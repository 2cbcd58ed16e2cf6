"""Dates and times that enter from outside (API bodies, forms, the command line), bounded.

Python's datetime stops at years 1 and 9999: a time at either edge overflows as soon as it is
moved to another zone, and every later computation on it (an estimate, a window) breaks. Nothing
this application schedules is before 2000 or after 2100, so anything outside is refused here,
as a `ValidationError` naming the field, before it reaches a column.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.base._errors import ValidationError

MIN_YEAR = 2000
MAX_YEAR = 2100
EARLIEST = datetime(MIN_YEAR, 1, 1, tzinfo=UTC)
LATEST = datetime(MAX_YEAR, 12, 31, 23, 59, 59, tzinfo=UTC)
FIRST_DAY = date(MIN_YEAR, 1, 1)
LAST_DAY = date(MAX_YEAR, 12, 31)


def parse_datetime(value: Any, field: str, timezone: str = "UTC") -> datetime | None:
    """ISO 8601 text or a datetime, as an aware UTC datetime within years 2000-2100.

    None or "" is None. A time without an offset is in `timezone` (the account's).
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
        except (ValueError, OverflowError):
            raise ValidationError(
                "{name} {value!r} is not an ISO 8601 date and time",
                field,
                name=field,
                value=text[:64],
            ) from None
    if not isinstance(value, datetime):
        raise ValidationError("{name} must be an ISO 8601 date and time", field, name=field)
    # Checked before any conversion: a year inside the range moves to any zone without overflow.
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise _out_of_range(field)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    try:
        moment = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise _out_of_range(field) from None
    if not EARLIEST <= moment <= LATEST:
        raise _out_of_range(field)
    return moment


def _out_of_range(field: str) -> ValidationError:
    return ValidationError(
        "{name} must be between the years {low} and {high}",
        field,
        name=field,
        low=MIN_YEAR,
        high=MAX_YEAR,
    )
