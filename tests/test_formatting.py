"""Dates, times and numbers as each UI language writes them, in the account's timezone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core import i18n
from core.i18n import (
    _catalogs,
    format_date,
    format_datetime,
    format_duration,
    format_number,
    format_percent,
    format_time,
    set_language,
)

# 17:05 UTC is 14:05 in São Paulo (UTC-3) and already the next day in Tokyo (UTC+9 -> 02:05).
# CLDR puts a narrow no-break space (U+202F) before AM/PM.
MOMENT = datetime(2026, 11, 28, 17, 5, tzinfo=UTC)


def test_a_utc_moment_is_shown_in_the_accounts_timezone_and_language() -> None:
    assert format_datetime(MOMENT, "America/Sao_Paulo", "en") == "Nov 28, 2026, 2:05:00\u202fPM"
    assert format_datetime(MOMENT, "America/Sao_Paulo", "pt_BR") == "28 de nov. de 2026 14:05:00"
    assert format_datetime(MOMENT, "America/Mexico_City", "es") == "28 nov 2026, 11:05:00\u202fa.m."


def test_the_day_is_the_accounts_local_day_not_the_utc_day() -> None:
    late = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
    assert format_date(late, "Asia/Tokyo", "en") == "Nov 29, 2026"
    assert format_date(late, "America/Bogota", "es") == "28 nov 2026"
    assert format_date(date(2026, 1, 2), None, "pt_BR") == "2 de jan. de 2026"


def test_short_formats_order_day_and_month_by_language() -> None:
    assert format_datetime(MOMENT, "UTC", "en", "short") == "11/28/26, 5:05\u202fPM"
    assert format_datetime(MOMENT, "UTC", "pt_BR", "short") == "28/11/2026 17:05"
    assert format_time(MOMENT, "America/Sao_Paulo", "pt_BR") == "14:05"


def test_a_naive_value_is_taken_as_utc_and_a_bad_timezone_does_not_break_the_page() -> None:
    naive = MOMENT.replace(tzinfo=None)
    assert format_datetime(naive, "America/Sao_Paulo", "en") == format_datetime(
        MOMENT, "America/Sao_Paulo", "en"
    )
    assert format_datetime(MOMENT, "Not/AZone", "en") == format_datetime(MOMENT, "UTC", "en")


def test_numbers_use_the_languages_separators() -> None:
    assert format_number(1234567, "en") == "1,234,567"
    assert format_number(1234567, "pt_BR") == "1.234.567"
    assert format_number(1234.5, "pt_BR", decimals=2) == "1.234,50"
    assert format_number(2.5, "en", decimals=0) == "2"  # half to even, as Babel rounds


def test_percentages() -> None:
    assert format_percent(0.1234, "en") == "12.3%"
    assert format_percent(0.1234, "pt_BR") == "12,3%"
    assert format_percent(1, "es", decimals=0) == "100%"


@pytest.mark.parametrize(
    ("value", "language", "expected"),
    [
        (5700, "en", "1 hr 35 min"),
        (timedelta(minutes=95), "pt_BR", "1 h 35 min"),
        (timedelta(days=2, seconds=5), "en", "2 days"),  # consecutive units only
        (timedelta(days=2, hours=3), "es", "2 d 3 h"),
        (42, "pt_BR", "42 s"),
        (0, "en", "0 sec"),
        (-65, "en", "-1 min 5 sec"),
    ],
)
def test_durations_name_their_two_largest_units(value, language, expected) -> None:
    assert format_duration(value, language) == expected


def test_missing_values_read_as_a_dash() -> None:
    assert format_datetime(None, "UTC", "en") == i18n.MISSING
    assert format_date(None) == format_number(None) == format_percent(None) == "—"
    assert format_duration(None) == "—"


def test_without_a_language_the_runs_language_is_used() -> None:
    token = _catalogs._current.set(None)  # put back afterwards: later page tests read it
    try:
        set_language("pt_BR")
        assert format_number(1234.5) == "1.234,5"
        set_language("en")
        assert format_number(1234.5) == "1,234.5"
    finally:
        _catalogs._current.reset(token)
