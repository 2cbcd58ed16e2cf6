"""The worker's way to the database: short transactions, queued in order on SQLite.

SQLite has one writer at a time: the worker's threads queue for it on an in-process lock, in
order, instead of sleeping in the driver's busy handler (which backs off in steps of up to
100 ms). PostgreSQL gets a few transactions at once (`WORKER_DB_CONNECTIONS`, 8 by default): a
hundred backends fighting for two cores are slower than eight, and the same number bounds the
worker's connections, so its pool needs no more. No transaction of the worker nests another, so
the lock never deadlocks.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

POSTGRESQL_CONCURRENCY = 8


class WorkerDatabase:
    def __init__(self, engine: Engine, concurrency: int = POSTGRESQL_CONCURRENCY) -> None:
        self.engine = engine
        self.lock: Any = (
            threading.RLock()
            if engine.dialect.name == "sqlite"
            else threading.BoundedSemaphore(concurrency)
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A bare Connection in a transaction, committed at the end: the sending hot path."""
        with self.lock, self.engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session for the periodic jobs; the caller commits."""
        with self.lock, Session(self.engine, expire_on_commit=False) as session:
            yield session

    def session_factory(self) -> Session:
        """A Session usable as a context manager whose transactions queue with the sends'
        (for jobs that take a factory, such as the notification webhooks)."""
        return _LockedSession(self.lock, self.engine, expire_on_commit=False)


class _LockedSession(Session):
    """A Session holding the worker's lock while used as a context manager."""

    def __init__(self, lock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._worker_lock = lock

    def __enter__(self) -> _LockedSession:
        self._worker_lock.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.close()
        finally:
            self._worker_lock.__exit__(*exc)
