"""Backoff between attempts: the one formula for every retry (sends, webhooks, syncs)."""

from __future__ import annotations

import random
from datetime import timedelta


def retry_delay(
    attempt: int,
    base: float,
    maximum: float,
    rng: random.Random | None = None,
    *,
    jitter: bool = True,
) -> timedelta:
    """Backoff before retry number `attempt` (1 = first retry), in seconds `base`, `maximum`.

    cap = min(maximum, base * 2**(attempt-1)). With `jitter` ("equal jitter") the wait lies in
    [cap/2, cap]: never shorter than half, so a busy server is not hit again at once, and spread
    so retries do not come in step. Without it the wait is the cap (a schedule staff can read).
    """
    if attempt < 1:
        raise ValueError("attempt starts at 1")
    if base <= 0 or maximum <= 0:
        raise ValueError("base and maximum must be positive")
    cap = min(maximum, base * 2 ** min(attempt - 1, 62))
    if not jitter:
        return timedelta(seconds=cap)
    half = cap / 2
    return timedelta(seconds=half + (rng or random).random() * half)
