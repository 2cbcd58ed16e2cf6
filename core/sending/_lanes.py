"""Lanes: one thread at a time per instance, woken exactly at its next slot.

A lane runs the send step for its instance again and again: after a send it either waits in
place (the next slot is within 20 ms) or arms a timer that starts the lane again at that slot,
and ends; `Wait` arms a timer the same way, `Idle` ends the lane until the periodic tick finds
work, `NotOwner` forgets the instance. One lane per instance means one request in flight per
number, which is what keeps its pace. The periodic tick alone would start a lane up to a tick
late; the timer thread is what makes slots land on time.
"""

from __future__ import annotations

import heapq
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from time import monotonic

from core.sending._claims import Idle, Wait
from core.sending._send_step import Sent, Step

log = logging.getLogger("worker")
SLEEP_IN_LANE = 0.02  # a next slot closer than this (seconds) is waited for in the lane itself
RESTART_AFTER_FAILURE = timedelta(seconds=5)


class Lanes:
    def __init__(
        self,
        step: Callable[[int, datetime | None], Step],
        next_slot: Callable[[Sent], datetime | None],
        clock: Callable[[], datetime],
        max_threads: int,
        stopping: threading.Event,
    ) -> None:
        self._step = step
        self._next_slot = next_slot
        self._clock = clock
        self._stopping = stopping
        self._pool = ThreadPoolExecutor(max_threads, thread_name_prefix="lane")
        self._lock = threading.Lock()
        self._owned: set[int] = set()  # instances whose lease this worker holds
        self._running: set[int] = set()  # instances with a lane running now
        self._due: dict[int, datetime] = {}  # the next slot known per instance
        self._timers: list[tuple[float, int]] = []
        self._timer_wakeup = threading.Condition()
        self._timer_thread: threading.Thread | None = None

    # -- what the dispatcher asks --------------------------------------------------------------

    @property
    def owned(self) -> set[int]:
        with self._lock:
            return set(self._owned)

    def set_owned(self, owned: set[int]) -> None:
        with self._lock:
            self._owned = set(owned)

    def running(self) -> set[int]:
        with self._lock:
            return set(self._running)

    def idle_and_due(self, now: datetime) -> set[int]:
        """Owned instances with no lane running and no known slot still ahead (a timer starts
        those on time)."""
        with self._lock:
            idle = self._owned - self._running
        return {i for i in idle if self._due.get(i, now) <= now}

    def take_due(self, instance_id: int) -> datetime | None:
        """The slot the instance was woken for, if any (for the lateness figures)."""
        return self._due.pop(instance_id, None)

    def start(self, instance_id: int) -> bool | None:
        """Hand the instance to a lane: True started, False one is running, None not ours."""
        with self._lock:
            if self._stopping.is_set() or instance_id not in self._owned:
                return None
            if instance_id in self._running:
                return False
            self._running.add(instance_id)
        self._pool.submit(self._lane, instance_id)
        return True

    def stop(self, timeout: float | None) -> set[int]:
        """No new lanes; wait up to `timeout` (None: for ever) for running ones. Returns the
        instances whose lane is still running (a send hanging past the timeout)."""
        with self._timer_wakeup:
            self._timer_wakeup.notify_all()
        self._pool.shutdown(wait=timeout is None, cancel_futures=True)
        if timeout is not None:
            deadline = monotonic() + timeout
            while monotonic() < deadline and self.running():
                threading.Event().wait(0.05)
        return self.running()

    # -- the lane ------------------------------------------------------------------------------

    def _lane(self, instance_id: int) -> None:
        try:
            while not self._stopping.is_set():
                step = self._step(instance_id, self.take_due(instance_id))
                now = self._clock()
                if isinstance(step, Sent):
                    slot = self._next_slot(step)
                    if slot is not None and slot > now:
                        self._due[instance_id] = slot
                        delay = (slot - now).total_seconds()
                        if delay > SLEEP_IN_LANE:
                            self._wake_at(instance_id, delay)
                            return
                        self._stopping.wait(delay)
                    continue
                if isinstance(step, Wait):
                    self._due[instance_id] = step.until
                    delay = (step.until - now).total_seconds()
                    if delay <= SLEEP_IN_LANE:
                        self._stopping.wait(max(0.0, delay))
                        continue
                    self._wake_at(instance_id, delay)
                    return
                if isinstance(step, Idle):
                    self._due[instance_id] = step.recheck_at
                    return
                with self._lock:  # NotOwner
                    self._owned.discard(instance_id)
                return
        except Exception:
            log.exception("lane failed", extra={"instance_id": instance_id})
            self._due[instance_id] = self._clock() + RESTART_AFTER_FAILURE
        finally:
            with self._lock:
                self._running.discard(instance_id)

    def _wake_at(self, instance_id: int, delay: float) -> None:
        """Start the instance's lane again in `delay` seconds."""
        with self._timer_wakeup:
            heapq.heappush(self._timers, (monotonic() + delay, instance_id))
            if self._timer_thread is None:
                self._timer_thread = threading.Thread(
                    target=self._timer_loop, name="lane-timer", daemon=True
                )
                self._timer_thread.start()
            self._timer_wakeup.notify()

    def _timer_loop(self) -> None:
        while not self._stopping.is_set():
            with self._timer_wakeup:
                while not self._timers or self._timers[0][0] > monotonic():
                    if self._stopping.is_set():
                        return
                    timeout = self._timers[0][0] - monotonic() if self._timers else 1.0
                    self._timer_wakeup.wait(min(1.0, max(0.0, timeout)))
                _at, instance_id = heapq.heappop(self._timers)
            if self.start(instance_id) is False:
                # Its lane is just finishing: look again in a moment.
                with self._timer_wakeup:
                    heapq.heappush(self._timers, (monotonic() + 0.005, instance_id))
