"""The campaigns each instance serves, and their recipients' zones, cached for a second."""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import monotonic
from typing import Any

from core.sending._claim_statements import campaigns_of, pending_zones


class CampaignCache:
    """The campaigns each instance serves, kept `ttl` seconds (a claim re-checks the status of
    the campaign it claims from, so a stale list can delay a start by `ttl`, never send for a
    paused campaign). Thread-safe; one per worker."""

    def __init__(self, ttl: float = 1.0, clock: Callable[[], float] = monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._rows: dict[int, tuple[float, list[Any]]] = {}
        self._lock = threading.Lock()

    def get(self, connection: Any, instance_id: int) -> list[Any]:
        now = self.clock()
        with self._lock:
            cached = self._rows.get(instance_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        rows = campaigns_of(connection, instance_id)
        with self._lock:
            self._rows[instance_id] = (now, rows)
        return rows

    def zones(self, connection: Any, campaign_id: int) -> list[str | None]:
        """The zones of a campaign's pending recipients, kept `ttl` seconds like the list (a
        zone that just emptied costs one claim that finds nobody)."""
        now = self.clock()
        key = -campaign_id  # campaigns' entries apart from the instances'
        with self._lock:
            cached = self._rows.get(key)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        names = pending_zones(connection, campaign_id)
        with self._lock:
            self._rows[key] = (now, names)
        return names

    def forget(self, instance_id: int | None = None) -> None:
        with self._lock:
            if instance_id is None:
                self._rows.clear()
            else:
                self._rows.pop(instance_id, None)
