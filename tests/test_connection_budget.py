"""A worker that would need more PostgreSQL connections than the server has left says so at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from core.base import ValidationError, check_connection_budget, make_engine, pool_size_of
from tests.database import postgres_schema, require_postgres

ROOT = Path(__file__).resolve().parent.parent


def _server_limit(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        most = connection.execute(text("SHOW max_connections")).scalar_one()
    engine.dispose()
    return int(most)


def test_a_pool_within_the_servers_room_passes_and_one_beyond_it_is_refused_with_the_numbers():
    with postgres_schema(require_postgres()) as url:
        engine = make_engine(url, pool_size=2, max_overflow=1)
        try:
            assert pool_size_of(engine) == 3
            check_connection_budget(engine, pool_size_of(engine), "worker")
            too_many = _server_limit(url) + 1
            with pytest.raises(ValidationError) as refused:
                check_connection_budget(engine, too_many, "worker")
        finally:
            engine.dispose()
    message = str(refused.value)
    assert refused.value.field == "DATABASE_URL"
    assert f"this worker may open {too_many}" in message
    assert "max_connections" in message and "WORKER_DB_CONNECTIONS" in message


def test_sqlite_has_no_budget_to_check(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    check_connection_budget(engine, 10_000, "worker")  # one file, no server limit
    engine.dispose()


def test_a_worker_asking_for_more_connections_than_postgresql_has_stops_with_one_clear_line(
    tmp_path,
):
    with postgres_schema(require_postgres()) as url:
        stopped = subprocess.run(
            [sys.executable, "scheduler_service.py"],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": url,
                "DATA_DIR": str(tmp_path),
                "SECRET_KEY": "budget-test",
                "WORKER_DB_CONNECTIONS": str(_server_limit(url) + 5),
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert stopped.returncode != 0
    assert stopped.stderr.strip().startswith("error: PostgreSQL allows")
    assert "Traceback" not in stopped.stderr


def test_a_malformed_pgbouncer_flag_is_named():
    stopped = subprocess.run(
        [sys.executable, "scheduler_service.py"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_PGBOUNCER": "perhaps"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stopped.returncode != 0
    assert stopped.stderr.strip().startswith(
        "error: DATABASE_PGBOUNCER must be true or false (got 'perhaps')"
    )


def test_behind_pgbouncer_no_statement_is_prepared_on_the_server(monkeypatch):
    from core.base import reset_settings_cache

    with postgres_schema(require_postgres()) as url:
        for flag, expected in (("false", 5), ("true", None)):  # psycopg prepares after 5 by default
            monkeypatch.setenv("DATABASE_PGBOUNCER", flag)
            reset_settings_cache()
            engine = make_engine(url)
            try:
                with engine.connect() as connection:
                    assert connection.connection.driver_connection.prepare_threshold == expected
            finally:
                engine.dispose()
    monkeypatch.delenv("DATABASE_PGBOUNCER")
    reset_settings_cache()
