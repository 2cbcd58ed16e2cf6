"""A number's pacing rules and send windows: pure functions, time passed in.

Window semantics used throughout: "no more than `rate` sends in any 60-second window" means
that for sends sorted by time, `s[i + rate] - s[i] >= 60 s` for every i, i.e. every half-open
window `[t, t + 60 s)` holds at most `rate` sends.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

RATE_WINDOW = timedelta(seconds=60)
# Typing presence ("typing…" before each send, Evolution's `delay`): the longest we ask for.
# The HTTP call blocks for it, so the client's read timeout grows by it.
MAX_TYPING_SECONDS = 30.0


def min_gap(rate_per_minute: int) -> timedelta:
    if rate_per_minute < 1:
        raise ValueError("rate_per_minute must be at least 1")
    return timedelta(seconds=60 / rate_per_minute)


def random_extra_delay(
    min_seconds: float, max_seconds: float, rng: random.Random | None = None
) -> timedelta:
    """A uniform random extra delay in [min, max] seconds (0 when max is 0)."""
    if max_seconds <= 0:
        return timedelta(0)
    low = max(0.0, min(min_seconds, max_seconds))
    return timedelta(seconds=(rng or random).uniform(low, max_seconds))


def typing_delay_ms(
    min_seconds: float, max_seconds: float, rng: random.Random | None = None
) -> int:
    """A send's typing delay in milliseconds, uniform in [min, max] seconds (0: none)."""
    high = min(MAX_TYPING_SECONDS, max(0.0, max_seconds or 0.0))
    if high <= 0:
        return 0
    low = max(0.0, min(min_seconds or 0.0, high))
    return round((rng or random).uniform(low, high) * 1000)


# -- send windows ------------------------------------------------------------------------------


def _zone(tz: str | tzinfo) -> tzinfo:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def window_bounds(
    day: date, zone: tzinfo, start: time | None, end: time | None
) -> tuple[datetime, datetime]:
    """UTC [open, close) of the window that opens on local `day`.

    `end` at or before `start` means the window runs past midnight into the next day
    (`start == end`: a full 24 hours). No `start`: from midnight. No `end`: until midnight.
    """
    opening = start or time(0)
    opens = datetime.combine(day, opening, tzinfo=zone)
    if end is None:
        closes = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    elif end > opening:
        closes = datetime.combine(day, end, tzinfo=zone)
    else:
        closes = datetime.combine(day + timedelta(days=1), end, tzinfo=zone)
    # Compare in UTC: aware datetimes sharing a tzinfo compare by wall time, wrong across DST.
    return opens.astimezone(UTC), closes.astimezone(UTC)


def window_opens_on(day: date, days: Sequence[int] | None) -> bool:
    return days is None or day.weekday() in days


def in_send_window(
    now_utc: datetime,
    tz: str | tzinfo,
    start: time | None,
    end: time | None,
    days: Sequence[int] | None,
) -> bool:
    """Whether `now_utc` lies in the local send window.

    `start`/`end` are local wall times (None: open from / until midnight); a window whose end
    is not after its start crosses midnight. `days` are local weekdays (0 = Monday) on which the
    window *opens*, so Friday 22:00-02:00 includes Saturday 01:00. None: every day; an empty
    list: never (forms should refuse it).
    """
    zone = _zone(tz)
    if start is None and end is None and days is None:
        return True
    local_day = now_utc.astimezone(zone).date()
    for day in (local_day - timedelta(days=1), local_day):
        if not window_opens_on(day, days):
            continue
        opens, closes = window_bounds(day, zone, start, end)
        if opens <= now_utc < closes:
            return True
    return False


def next_window_open(
    now_utc: datetime,
    tz: str | tzinfo,
    start: time | None,
    end: time | None,
    days: Sequence[int] | None,
) -> datetime | None:
    """`now_utc` when inside the window, else the UTC moment it next opens (None: never)."""
    if in_send_window(now_utc, tz, start, end, days):
        return now_utc
    zone = _zone(tz)
    local_day = now_utc.astimezone(zone).date()
    for offset in range(0, 9):
        day = local_day + timedelta(days=offset)
        if not window_opens_on(day, days):
            continue
        opens, _closes = window_bounds(day, zone, start, end)
        if opens > now_utc:
            return opens
    return None
