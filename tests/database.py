"""Fresh databases for tests: a SQLite file, or a PostgreSQL schema of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from core.base._db import get_engine

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def reset_engine_cache() -> None:
    """Dispose of the process's cached engine, so the next session opens the DATABASE_URL of now
    (each test has a database of its own; the product sets its URL once per process)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose()
    get_engine.cache_clear()


def test_database_url() -> str | None:
    """TEST_DATABASE_URL selects PostgreSQL for the whole suite (CI's second run)."""
    return os.environ.get("TEST_DATABASE_URL") or None


def postgres_base_url() -> str:
    url = test_database_url()
    return url if url and url.startswith("postgresql") else DEFAULT_PG_URL


def require_postgres() -> str:
    """The PostgreSQL URL; skips the test without a server, except on CI where that is a failure."""
    url = postgres_base_url()
    try:
        engine = create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except OperationalError as error:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required on CI but unreachable at {url}: {error}")
        pytest.skip(f"PostgreSQL not reachable at {url}")
    return url


@contextmanager
def postgres_schema(base_url: str) -> Iterator[str]:
    """A URL whose connections live in a new, empty schema; the schema is dropped afterwards."""
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{separator}options={quote('-csearch_path=' + schema)}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
