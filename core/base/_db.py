"""Engine and sessions over the one shared database (SQLite file or PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session

from core.base._settings import get_settings

READ_ONLY = "wac_read_only"
# As many connections as SQLAlchemy's default pool opens at most (5 + 10 overflow), all kept
# once opened: one costs little to keep and much to open (SQLite: its PRAGMAs, then the schema
# read again; PostgreSQL: a login), and the default opened and closed the overflow ones for each
# request above five at once, a tenth of an API read's CPU (bench/api_reads.py).
POOL_SIZE = 15


def make_engine(url: str, **kwargs: object) -> Engine:
    in_memory = ":memory:" in url or url.rstrip("/") in ("sqlite:", "sqlite+pysqlite:")
    if not in_memory:  # an in-memory SQLite database has a pool of its own kind
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", 0)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60}, **kwargs)
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql") and get_settings().database_behind_pgbouncer:
        # PgBouncer in transaction mode hands each transaction to any server connection:
        # a statement psycopg prepared on one is unknown on the next.
        kwargs.setdefault("connect_args", {"prepare_threshold": None})
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when transactions begin (see on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        # A deferred transaction that reads, then writes, fails at once with "database is locked"
        # when another process wrote in between; taking the write lock up front makes it wait
        # (busy_timeout) instead. Three processes share this file. Sessions that only read say
        # so (read_only_session) and do not queue behind writers.
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


def new_session() -> Session:
    return Session(get_engine(), expire_on_commit=False)


def read_only_session() -> Session:
    """A session for requests that only read: on SQLite it does not take the write lock, so it
    neither waits for writers nor makes them wait. Writing in it is a bug."""
    return Session(_read_only(get_engine()), expire_on_commit=False)


@lru_cache(maxsize=1)
def _read_only(engine: Engine) -> Engine:
    """The engine's read-only view, made once: making it costs more than the session it serves."""
    return engine.execution_options(**{READ_ONLY: True})


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A unit of work: committed when the block ends, rolled back if it raises."""
    session = Session(engine, expire_on_commit=False) if engine else new_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
