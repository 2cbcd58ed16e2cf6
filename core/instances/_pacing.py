"""Pacing, backoff and send windows: pure functions, time passed in.

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


def min_gap(rate_per_minute: int) -> timedelta:
    if rate_per_minute < 1:
        raise ValueError("rate_per_minute must be at least 1")
    return timedelta(seconds=60 / rate_per_minute)


def next_send_at(
    recent: Sequence[datetime],
    rate_per_minute: int,
    now: datetime,
    extra_delay: timedelta = timedelta(0),
) -> datetime:
    """Earliest moment the instance may send again (never before `now`).

    `recent` holds the instance's sends of the last minute (older ones may be included; they
    change nothing). Both rules hold for the returned moment: a gap of at least
    `60 / rate + extra_delay` after the last send, and no more than `rate_per_minute` sends in
    any 60-second window counting the new one. The gap alone is not enough: random extra
    delays shrink and grow, and a backlog released at once would otherwise bunch up.
    """
    gap = min_gap(rate_per_minute)
    if extra_delay < timedelta(0):
        raise ValueError("extra_delay must not be negative")
    if not recent:
        return now
    ordered = sorted(recent)
    earliest = max(now, ordered[-1] + gap + extra_delay)
    if len(ordered) >= rate_per_minute:
        # The rate-th most recent send must be a full window behind the new one.
        earliest = max(earliest, ordered[-rate_per_minute] + RATE_WINDOW)
    return earliest


def count_in_window(sends: Sequence[datetime], end: datetime) -> int:
    """How many of `sends` fall in the 60-second window `(end - 60 s, end]`."""
    start = end - RATE_WINDOW
    return sum(1 for s in sends if start < s <= end)


def max_in_any_window(sends: Sequence[datetime]) -> int:
    """The largest number of sends any half-open 60-second window holds."""
    ordered = sorted(sends)
    best = 0
    left = 0
    for right, moment in enumerate(ordered):
        while moment - ordered[left] >= RATE_WINDOW:
            left += 1
        best = max(best, right - left + 1)
    return best


def random_extra_delay(
    min_seconds: float, max_seconds: float, rng: random.Random | None = None
) -> timedelta:
    """A uniform random extra delay in [min, max] seconds (0 when max is 0)."""
    if max_seconds <= 0:
        return timedelta(0)
    low = max(0.0, min(min_seconds, max_seconds))
    return timedelta(seconds=(rng or random).uniform(low, max_seconds))


def retry_delay(
    attempt: int, base: float, maximum: float, rng: random.Random | None = None
) -> timedelta:
    """Backoff before retry number `attempt` (1 = first retry), in [cap/2, cap].

    cap = min(maximum, base * 2**(attempt-1)). "Equal jitter": never shorter than half the
    cap, so a busy server is not hit again at once, and spread so retries do not come in step.
    """
    if attempt < 1:
        raise ValueError("attempt starts at 1")
    if base <= 0 or maximum <= 0:
        raise ValueError("base and maximum must be positive")
    cap = min(maximum, base * 2 ** min(attempt - 1, 62))
    half = cap / 2
    return timedelta(seconds=half + (rng or random).random() * half)


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
