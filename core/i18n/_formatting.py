"""Dates, times and numbers as a reader of the UI language expects them, in the account's timezone.

Values are stored in UTC; every function here takes the UTC value plus the account's IANA timezone
and our language code (`core.i18n.LANGUAGES`). `language=None` means the language of this run.
Missing values read as an em dash, so tables need no special cases.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from babel import units as babel_units

from core.i18n._catalogs import current_language

MISSING = "—"

# CLDR locales for our languages: Latin American Spanish and Brazilian Portuguese.
BABEL_LOCALES = {"en": "en_US", "es": "es_419", "pt_BR": "pt_BR"}
# es_419 has odd short day units ("2 dd."); plain Spanish's are the ones Latin America reads.
_UNIT_LOCALES = {"en": "en_US", "es": "es", "pt_BR": "pt_BR"}

Number = int | float | Decimal


def babel_locale(language: str | None = None) -> str:
    return BABEL_LOCALES.get(language or current_language(), "en_US")


def _zone(timezone: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")  # a bad setting must not break a page; settings validate names


def to_local(value_utc: datetime, timezone: str | None) -> datetime:
    """The moment in the account's timezone (a naive value is taken as UTC, as stored)."""
    if value_utc.tzinfo is None:
        value_utc = value_utc.replace(tzinfo=UTC)
    return value_utc.astimezone(_zone(timezone))


def format_datetime(
    value_utc: datetime | None,
    timezone: str | None,
    language: str | None = None,
    format: str = "medium",
) -> str:
    """`Nov 28, 2026, 2:05:00 PM` / `28 nov 2026, 2:05:00 p.m.` / `28 de nov. de 2026 14:05:00`.

    `format` is `short`, `medium`, `long`, `full` or a CLDR pattern.
    """
    if value_utc is None:
        return MISSING
    local = to_local(value_utc, timezone)
    return babel_dates.format_datetime(
        local, format, tzinfo=local.tzinfo, locale=babel_locale(language)
    )


def format_date(
    value: datetime | date | None,
    timezone: str | None = None,
    language: str | None = None,
    format: str = "medium",
) -> str:
    """The calendar day: a UTC datetime is first moved to the account's timezone."""
    if value is None:
        return MISSING
    if isinstance(value, datetime):
        value = to_local(value, timezone).date()
    return babel_dates.format_date(value, format, locale=babel_locale(language))


def format_time(
    value_utc: datetime | None,
    timezone: str | None,
    language: str | None = None,
    format: str = "short",
) -> str:
    if value_utc is None:
        return MISSING
    local = to_local(value_utc, timezone)
    return babel_dates.format_time(
        local, format, tzinfo=local.tzinfo, locale=babel_locale(language)
    )


def format_number(
    value: Number | None, language: str | None = None, decimals: int | None = None
) -> str:
    """`1,234,567` / `1.234.567` with the language's separators; `decimals` fixes the fraction."""
    if value is None:
        return MISSING
    if decimals is None:
        return babel_numbers.format_decimal(value, locale=babel_locale(language))
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "")
    return babel_numbers.format_decimal(value, pattern, locale=babel_locale(language))


def format_percent(value: Number | None, language: str | None = None, decimals: int = 1) -> str:
    """A ratio (0.123) as a percentage (`12.3%`, `12,3 %`...)."""
    if value is None:
        return MISSING
    pattern = "#,##0" + ("." + "0" * decimals if decimals > 0 else "") + "%"
    return babel_numbers.format_percent(value, pattern, locale=babel_locale(language))


_UNITS = (
    ("duration-day", 86400),
    ("duration-hour", 3600),
    ("duration-minute", 60),
    ("duration-second", 1),
)


def format_duration(
    value: timedelta | Number | None, language: str | None = None, parts: int = 2
) -> str:
    """A span (a timedelta or seconds) in its `parts` largest units: `1 hr 35 min`, `2 d 4 h`.

    Precise rather than rounded ("about 2 hours") because staff read it as a campaign's ETA.
    """
    if value is None:
        return MISSING
    seconds = int(round(value.total_seconds() if isinstance(value, timedelta) else float(value)))
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    locale = _UNIT_LOCALES.get(language or current_language(), "en_US")
    amounts: list[tuple[str, int]] = []
    for unit, size in _UNITS:
        amount, seconds = divmod(seconds, size)
        amounts.append((unit, amount))
    first = next((i for i, (_unit, amount) in enumerate(amounts) if amount), None)
    if first is None:
        return babel_units.format_unit(0, "duration-second", length="short", locale=locale)
    # consecutive units from the largest: "2 d" rather than "2 d 5 s"
    pieces = [
        babel_units.format_unit(amount, unit, length="short", locale=locale)
        for unit, amount in amounts[first : first + parts]
        if amount
    ]
    return sign + " ".join(pieces)
