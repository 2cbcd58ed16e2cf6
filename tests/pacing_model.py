"""The pacing rules as a model, the oracle the worker is checked against.

The worker enforces them in SQL (`core.sending._claims`); tests measure what actually went out
with `max_in_any_window`, and `next_send_at` states the rule in a few lines to drive property tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from core.instances import RATE_WINDOW, min_gap


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
