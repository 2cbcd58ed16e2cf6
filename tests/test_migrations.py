"""Alembic migrations build the same schema on SQLite and PostgreSQL, and match the models.

The lead regenerates migrations/versions/0001 from the models; while a model has a column the
migration lacks, `test_the_models_and_the_migrations_agree` fails on purpose and names it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from core.base import make_engine, upgrade_to_head
from core.models import Base
from tests.database import postgres_schema, require_postgres


def _migrated(url: str) -> Engine:
    engine = make_engine(url)
    with engine.begin() as connection:
        upgrade_to_head(connection)
    return engine


@pytest.fixture
def sqlite_migrated(tmp_path: Path) -> Iterator[Engine]:
    engine = _migrated(f"sqlite:///{tmp_path / 'migrated.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_migrated() -> Iterator[Engine]:
    with postgres_schema(require_postgres()) as url:
        engine = _migrated(url)
        yield engine
        engine.dispose()


def schema(engine: Engine) -> dict[str, set[str]]:
    inspector = inspect(engine)
    return {
        table: {column["name"] for column in inspector.get_columns(table)}
        for table in inspector.get_table_names()
        if table != "alembic_version"
    }


def describe(difference) -> str:  # type: ignore[no-untyped-def]
    """('add_column', schema, table, Column) -> 'add_column table.column'; lists stay as repr."""
    if not isinstance(difference, tuple):
        return repr(difference)
    names = [getattr(p, "name", p) for p in difference[1:] if p is not None]
    return f"{difference[0]} " + ".".join(str(n) for n in names if isinstance(n, str))


def drift(engine: Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "target_metadata": Base.metadata}
        )
        return compare_metadata(context, Base.metadata)


def test_upgrade_head_gives_the_same_tables_and_columns_on_sqlite_and_postgresql(
    sqlite_migrated, pg_migrated
):
    on_sqlite, on_postgres = schema(sqlite_migrated), schema(pg_migrated)

    assert on_sqlite == on_postgres


@pytest.mark.parametrize("backend", ["sqlite_migrated", "pg_migrated"])
def test_the_models_and_the_migrations_agree(request, backend):
    differences = drift(request.getfixturevalue(backend))

    readable = [describe(d) for d in differences]
    assert readable == [], "models differ from migrations/versions (regenerate 0001)"


def test_upgrade_head_twice_changes_nothing(sqlite_migrated):
    before = schema(sqlite_migrated)
    with sqlite_migrated.begin() as connection:
        upgrade_to_head(connection)
    assert schema(sqlite_migrated) == before


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_old_audit_entries_of_numbers_are_filed_under_one_object_type(
    database: str, tmp_path: Path
) -> None:
    from alembic import command

    from core.base._migrations import alembic_config

    def run(url: str) -> set[str]:
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                command.upgrade(alembic_config(connection), "0002")
                for object_type in ("sender_instance", "instance", "campaign"):
                    connection.exec_driver_sql(
                        "INSERT INTO audit_log (actor, action, object_type, object_id, "
                        f"created_at) VALUES ('ana', 'x', '{object_type}', '7', CURRENT_TIMESTAMP)"
                    )
            with engine.begin() as connection:
                upgrade_to_head(connection)
                return {
                    row[0]
                    for row in connection.exec_driver_sql("SELECT object_type FROM audit_log")
                }
        finally:
            engine.dispose()

    if database == "sqlite":
        types = run(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        with postgres_schema(require_postgres()) as url:
            types = run(url)
    assert types == {"instance", "campaign"}
