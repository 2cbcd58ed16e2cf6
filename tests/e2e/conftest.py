"""Browser end-to-end fixtures: one real stack per module (UI, worker, API) on a temporary SQLite
database, seeded through the core services, with the fake Evolution server behind it.

The test process itself talks to the same database (to seed, and to read ids back), so its
environment points at the stack's for the whole module: `settings_env` from tests/conftest.py is
overridden here, since its per-test temporary database would hide the stack's.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core import campaigns, contacts, instances, people
from core.base import (
    DomainError,
    make_engine,
    reset_settings_cache,
    session_scope,
)
from core.models import Role
from core.people import Actor
from tests.database import reset_engine_cache
from tests.e2e.browser import ARTIFACTS, launch, require_browser, screenshot
from tests.e2e.stack import ROOT, Stack, running_stack
from tests.fake_evolution import FakeEvolution

SECRET_KEY = "e2e-secret"
ADMIN = ("ana", "ana-e2e-password-1")
VIEWER = ("carla", "carla-e2e-password-1")
FAST = "loja"  # Evolution instance the campaign of the main flow goes through
SLOW = "lenta"  # one message a minute: its campaign stays running while the test clicks


@dataclass
class World:
    """What the module's tests share: the stack, the fake server, the seeded ids."""

    stack: Stack
    fake: FakeEvolution
    engine: Engine
    account_id: int
    admin: Actor
    viewer: Actor
    instance_ids: dict[str, int]  # Evolution instance name -> SenderInstance.id

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)


def _seed(fake: FakeEvolution) -> tuple[int, Actor, Actor, dict[str, int]]:
    with session_scope() as session:
        account = people.create_account(
            session, "Loja da Ana", "America/Sao_Paulo", default_country="BR"
        )
        users = {}
        for (username, password), role in ((ADMIN, Role.ADMIN), (VIEWER, Role.VIEWER)):
            user = people.create_user(
                session, username, password, account.id, role, must_change_password=False
            )
            users[role] = Actor(user.id, account.id, role, username)
        admin = users[Role.ADMIN]
        ids = {}
        for name, rate in ((FAST, 6), (SLOW, 1)):
            evolution = fake.add_instance(name)
            created = instances.create_instance(
                session,
                admin,
                {
                    "name": name,
                    "base_url": fake.base_url,
                    "instance_name": name,
                    "token": evolution.token,
                    "rate_per_minute": rate,
                    "extra_delay_max_seconds": 0,
                },
            )
            # Created through the service: its webhook is registered at the API's public URL.
            assert created.webhook_error is None, created.webhook_error
            assert created.webhook_registered_at is not None
            ids[name] = created.id
        return account.id, admin, users[Role.VIEWER], ids


@pytest.fixture(scope="session", autouse=True)
def fresh_artifacts() -> None:
    """Screenshots and logs of this run only (a stale FAILED-*.png would mislead)."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_browser()
    data_dir = tmp_path_factory.mktemp("e2e") / "data"
    data_dir.mkdir()
    database_url = f"sqlite:///{data_dir / 'e2e.db'}"
    env = {"DATA_DIR": str(data_dir), "DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("SECRET_KEY_PREVIOUS", raising=False)
        # The database as an operator creates it: through the migrations.
        migrated = subprocess.run(
            [sys.executable, "-m", "core", "migrate"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        with FakeEvolution() as fake, running_stack(data_dir, database_url, env) as stack:
            patch.setenv("PUBLIC_API_URL", stack.api_url)
            reset_settings_cache()
            reset_engine_cache()
            engine = make_engine(database_url)
            try:
                account_id, admin, viewer, ids = _seed(fake)
                for name in ids:
                    assert fake.instance(name).webhook is not None, "webhook/set never arrived"
                yield World(stack, fake, engine, account_id, admin, viewer, ids)
            finally:
                engine.dispose()
                reset_engine_cache()
                reset_settings_cache()
                print(stack.tails(40))  # shown in the report when the module's last test fails
        _keep_logs(data_dir / "logs")


def _keep_logs(logs: Path) -> None:
    """The processes' logs beside the screenshots, for CI's artefacts."""
    target = ARTIFACTS / "logs"
    target.mkdir(parents=True, exist_ok=True)
    for log in logs.glob("*.log"):
        shutil.copy(log, target / log.name)


SLOW_TITLE = "Lembrete lento"


@pytest.fixture(scope="module")
def slow_campaign(world: World) -> Iterator[int]:
    """A campaign on the one-a-minute number, started through the service: it stays running
    for minutes, long enough to pause and resume it and to show a viewer its page."""
    with session_scope() as session:
        for n in range(1, 6):
            contacts.create_contact(
                session, world.admin, f"+55 21 99876-540{n}", f"Cliente lento {n}", ["lento"]
            )
        campaign = campaigns.create(
            session,
            world.admin,
            {
                "title": SLOW_TITLE,
                "message": "Oi {{name}}, lembrete.",
                "audience": {"labels": ["lento"]},
                "instance_ids": [world.instance_ids[SLOW]],
                "status": "draft",
            },
        )
        campaigns.trigger(session, world.admin, campaign.id)
        campaign_id = campaign.id
    yield campaign_id
    # Stop its sending before the stack stops (unless it is already cancelled or finished).
    with contextlib.suppress(DomainError), session_scope() as session:
        campaigns.cancel(session, world.admin, campaign_id)


@pytest.fixture(autouse=True)
def settings_env(world: World) -> Iterator[Path]:
    """Overrides tests/conftest.py's: keep the stack's database and secret for the test process."""
    reset_settings_cache()
    reset_engine_cache()
    yield Path(world.stack.env["DATA_DIR"])


@pytest.fixture(scope="module")
def browser(world: World) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context per test: a new Streamlit session, logged out. A failing test
    leaves a screenshot of where it stopped (test-artifacts/e2e/FAILED-<test>.png)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        yield page
        if request.node.stash.get(_FAILED, False):
            screenshot(page, f"FAILED-{request.node.name}")
    finally:
        context.close()
