"""Shared fixtures: isolated settings, a fresh database per test, a seeded account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.base import make_engine, reset_settings_cache
from core.models import Account, Base, Role, SenderInstance
from core.people import Actor
from tests.builders import make_account, make_actor, make_sender_instance
from tests.database import (
    postgres_schema,
    require_postgres,
    reset_engine_cache,
    test_database_url,
)
from tests.fake_evolution import fake_evolution  # noqa: F401  (fixture)
from tests.worker_harness import kill_leftover_workers

TEST_SECRET = "test-secret-key-not-for-production"


@pytest.fixture(autouse=True)
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets its own data directory and a known secret; nothing touches ./data."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET)
    monkeypatch.delenv("SECRET_KEY_PREVIOUS", raising=False)
    monkeypatch.delenv("PUBLIC_API_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{data_dir / 'campaigns.db'}")
    monkeypatch.chdir(tmp_path)  # a stray .env in the checkout must not leak in
    reset_settings_cache()
    reset_engine_cache()
    yield data_dir
    kill_leftover_workers()
    reset_engine_cache()
    reset_settings_cache()


@pytest.fixture
def db_url(settings_env: Path) -> Iterator[str]:
    """SQLite by default; a fresh PostgreSQL schema when TEST_DATABASE_URL points at one."""
    url = test_database_url()
    if url and url.startswith("postgresql"):
        with postgres_schema(require_postgres()) as schema_url:
            yield schema_url
    else:
        yield f"sqlite:///{settings_env / 'campaigns.db'}"


def _engine_for(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("DATABASE_URL", url)  # services, the CLI and subprocesses use it too
    reset_settings_cache()
    reset_engine_cache()
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()
    reset_engine_cache()


@pytest.fixture
def engine(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    yield from _engine_for(db_url, monkeypatch)


@pytest.fixture
def pg_engine(settings_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """Always PostgreSQL (for races between workers); skips without it, except on CI."""
    with postgres_schema(require_postgres()) as url:
        yield from _engine_for(url, monkeypatch)


@pytest.fixture
def client(engine: Engine) -> Iterator[TestClient]:
    """The API app in process, over this test's database."""
    from api.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def account(session: Session) -> Account:
    account = make_account(session, "Loja da Ana", timezone="America/Sao_Paulo")
    account.default_country = "BR"
    session.commit()
    return account


@pytest.fixture
def admin(session: Session, account: Account) -> Actor:
    actor = make_actor(session, account, Role.ADMIN, "ana")
    session.commit()
    return actor


@pytest.fixture
def manager(session: Session, account: Account) -> Actor:
    actor = make_actor(session, account, Role.MANAGER, "bruno")
    session.commit()
    return actor


@pytest.fixture
def viewer(session: Session, account: Account) -> Actor:
    actor = make_actor(session, account, Role.VIEWER, "carla")
    session.commit()
    return actor


@pytest.fixture
def number(session: Session, account: Account) -> SenderInstance:
    """The account's one sending number, "main"."""
    instance = make_sender_instance(session, account, "main")
    session.commit()
    return instance
