"""The worker's way to the database: short transactions, queued in order on SQLite.

SQLite has one writer at a time: the worker's threads queue for it on an in-process lock, in
order, instead of sleeping in the driver's busy handler (which backs off in steps of up to
100 ms). PostgreSQL gets a few transactions at once (`WORKER_DB_CONNECTIONS`, 8 by default): a
hundred backends fighting for two cores are slower than eight, and the same number bounds the
worker's connections, so its pool needs no more. No transaction of the worker nests another, so
the lock never deadlocks.

On PostgreSQL the worker keeps the connections it used (at most that many, each idle no longer
than `HELD_FOR`) instead of handing them back to the pool after every statement: the pool pings
a connection each time it hands one out (`pool_pre_ping`), a round trip of its own. The hot path
(`statements()`) runs in autocommit: each of its statements is atomic on its own, and the
BEGIN and COMMIT a transaction costs (two more round trips with psycopg) are saved. A held
connection the server dropped fails one step (its claim is retried, its outcome written alone);
the others are then given back and pinged anew.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from time import monotonic
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

POSTGRESQL_CONCURRENCY = 8
HELD_FOR = 10.0  # seconds a connection is kept unused before it goes back to the pool


class WorkerDatabase:
    def __init__(self, engine: Engine, concurrency: int = POSTGRESQL_CONCURRENCY) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self.lock: Any = (
            threading.BoundedSemaphore(concurrency) if self.postgres else threading.RLock()
        )
        self._held: list[tuple[float, Connection]] = []
        self._held_lock = threading.Lock()
        self._closed = False

    @contextlib.contextmanager
    def statements(self) -> Iterator[Connection]:
        """The sending hot path's Connection: autocommit on PostgreSQL (each statement its own
        transaction, so only statements that are atomic alone belong here); on SQLite a write
        transaction, committed at the end, as `transaction()`."""
        if not self.postgres:
            with self.transaction() as connection:
                yield connection
            return
        with self.lock, self._connection(autocommit=True) as connection:
            yield connection

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A bare Connection in a transaction, committed at the end."""
        if not self.postgres:
            with self.lock, self.engine.begin() as connection:
                yield connection
            return
        with self.lock, self._connection(autocommit=False) as connection, connection.begin():
            yield connection

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session for the periodic jobs; the caller commits."""
        if not self.postgres:
            with self.lock, Session(self.engine, expire_on_commit=False) as session:
                yield session
            return
        with (
            self.lock,
            self._connection(autocommit=False) as connection,
            Session(bind=connection, expire_on_commit=False) as session,
        ):
            yield session

    def session_factory(self) -> Session:
        """A Session usable as a context manager whose transactions queue with the sends'
        (for jobs that take a factory, such as the notification webhooks)."""
        return _LockedSession(self.lock, self.engine, expire_on_commit=False)

    def close(self) -> None:
        """Give the held connections back to the pool (the worker stops)."""
        with self._held_lock:
            self._closed = True
        self._give_all_back()

    @contextlib.contextmanager
    def _connection(self, *, autocommit: bool) -> Iterator[Connection]:
        connection = self._take()
        try:
            level = "AUTOCOMMIT" if autocommit else connection.default_isolation_level
            connection.execution_options(isolation_level=level)  # no round trip
            yield connection
            if connection.in_transaction():
                connection.commit()  # autocommit: ends SQLAlchemy's own bookkeeping only
        except BaseException:
            if connection.invalidated:
                self._give_all_back()  # the server went away: the others are stale too
            connection.close()
            raise
        with self._held_lock:
            if self._closed:
                connection.close()
            else:
                self._held.append((monotonic(), connection))

    def _take(self) -> Connection:
        stale = []
        found = None
        with self._held_lock:
            while self._held:
                used, connection = self._held.pop()
                if monotonic() - used < HELD_FOR:
                    found = connection
                    break
                stale.append(connection)
        for connection in stale:
            connection.close()
        return found if found is not None else self.engine.connect()

    def _give_all_back(self) -> None:
        with self._held_lock:
            held, self._held = self._held, []
        for _used, connection in held:
            connection.close()


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
