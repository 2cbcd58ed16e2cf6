"""The outcome writer: a send's outcome committed before its lane claims again ("group commit").

Outcomes that arrive together are written in one transaction by whichever lane comes first;
the others wait for that commit. On SQLite, where every write queues for the one writer, this
turns many short transactions into few. On PostgreSQL the sends that went through (nearly all)
are written in one statement in autocommit, however many arrived together; the rest in one
transaction. An outcome that cannot be written in a batch is written
on its own, retried while the database is briefly away; one that still cannot be written is
logged, and its recipient stays `sending` until recovery marks it `unknown` (never resent).
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from core import instances
from core.base import Settings
from core.messaging import SendResult
from core.sending._claims import Claim
from core.sending._database import WorkerDatabase
from core.sending._outcome_rules import apply_outcome, completes_plainly, mark_sent_many

log = logging.getLogger("worker")
ATTEMPTS_ALONE = 5


@dataclass
class _Pending:
    claim: Claim
    result: SendResult
    done: datetime
    confirmed_down: bool = False
    status: str | None = None
    written: bool = False
    committed: threading.Event = field(default_factory=threading.Event)


class OutcomeWriter:
    def __init__(
        self,
        database: WorkerDatabase,
        settings: Settings,
        rng: random.Random,
        stopping: threading.Event,
    ) -> None:
        self.database = database
        self.settings = settings
        self.rng = rng
        self.stopping = stopping
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._writing = False
        self._touched: set[int] = set()  # campaigns with outcomes since `take_touched`
        self._touched_lock = threading.Lock()

    def record(
        self, claim: Claim, result: SendResult, done: datetime, confirmed_down: bool = False
    ) -> str | None:
        """Write the outcome; returns the recipient's new status (None: the claim was lost or
        the outcome could not be written). Committed when this returns. `confirmed_down`: a
        check confirmed this server-side failure is the server's (the circuit opens now)."""
        entry = _Pending(claim, result, done, confirmed_down)
        with self._queue_lock:
            self._queue.append(entry)
            leader = not self._writing
            self._writing = True
        if not leader:
            entry.committed.wait()
            return entry.status
        while True:
            with self._queue_lock:
                batch, self._queue = self._queue, []
                if not batch:
                    self._writing = False
                    break
            try:
                self._write_batch(batch)
            except Exception:  # noqa: BLE001 - one by one then, each retried
                for item in batch:
                    if not item.written:
                        item.status = self._write_alone(item)
            for item in batch:
                item.committed.set()
        return entry.status

    def note_touched(self, campaign_ids: set[int] | list[int]) -> None:
        with self._touched_lock:
            self._touched.update(campaign_ids)

    def take_touched(self) -> set[int]:
        """The campaigns whose recipients changed since the last call (their stats are stale)."""
        with self._touched_lock:
            touched, self._touched = self._touched, set()
        return touched

    def _apply(self, connection: Connection, item: _Pending) -> str | None:
        settings = self.settings
        return apply_outcome(
            connection,
            item.claim,
            item.result,
            item.done,
            max_attempts=settings.max_attempts,
            backoff_base=settings.retry_backoff_base_seconds,
            backoff_max=settings.retry_backoff_max_seconds,
            rng=self.rng,
            breaker_threshold=1 if item.confirmed_down else settings.breaker_threshold,
            check_after=instances.check_backoff(0, settings),
        )

    def _write_batch(self, batch: list[_Pending]) -> None:
        plain: list[_Pending] = []
        if self.database.postgres:
            # The sends that went through: one statement in autocommit, however many.
            plain = [i for i in batch if completes_plainly(i.claim, i.result)]
        if plain:
            with self.database.statements() as connection:
                sends = [(item.claim, item.result, item.done) for item in plain]
                statuses = mark_sent_many(connection, sends)
            for item, status in zip(plain, statuses, strict=True):
                item.status, item.written = status, True
            self.note_touched({item.claim.campaign_id for item in plain})
        rest = [item for item in batch if not item.written]
        if rest:
            with self.database.transaction() as connection:
                statuses = [self._apply(connection, item) for item in rest]
            for item, status in zip(rest, statuses, strict=True):
                item.status, item.written = status, True
            self.note_touched({item.claim.campaign_id for item in rest})

    def _write_alone(self, item: _Pending) -> str | None:
        claim = item.claim
        last_error: Exception | None = None
        for attempt in range(ATTEMPTS_ALONE):  # the database may be briefly unavailable
            try:
                with self.database.transaction() as connection:
                    status = self._apply(connection, item)
                self.note_touched({claim.campaign_id})
                return status
            except Exception as error:  # noqa: BLE001 - retried, then logged
                last_error = error
                self.stopping.wait(0.2 * (attempt + 1))
        log.error(
            "could not record a send's outcome; the recipient will become unknown",
            extra={"recipient_id": claim.recipient_id, "error": type(last_error).__name__},
        )
        return None
