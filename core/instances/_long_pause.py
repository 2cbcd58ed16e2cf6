"""Long pauses: after every N sends a number rests for a random few minutes (pure functions).

A person sending by hand stops now and then; a number that sends at a steady beat for hours does
not look like one. The pause comes on top of pacing (the gap and the 60-s window still hold),
and the count since the last pause lives on the number, so a restart does not reset it.
"""

from __future__ import annotations

import random
from datetime import timedelta

MAX_PAUSE_MINUTES = 240.0
MAX_EVERY = 100_000


def long_pause(
    sends_since: int,
    every: int | None,
    min_minutes: float,
    max_minutes: float,
    rng: random.Random | None = None,
) -> tuple[timedelta, int]:
    """After a send that made the count `sends_since` (this send included): the pause to add
    before the next send, and the count to keep (0 after a pause)."""
    if not every or every < 1 or max_minutes <= 0:
        return timedelta(0), 0
    if sends_since < every:
        return timedelta(0), sends_since
    low = max(0.0, min(min_minutes, max_minutes))
    return timedelta(minutes=(rng or random).uniform(low, max_minutes)), 0


def average_long_pause_seconds(every: int | None, min_minutes: float, max_minutes: float) -> float:
    """What long pauses add per send on average (for estimates)."""
    if not every or every < 1 or max_minutes <= 0:
        return 0.0
    low = max(0.0, min(min_minutes, max_minutes))
    return (low + max_minutes) / 2 * 60 / every
