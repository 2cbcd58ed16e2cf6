"""The main flows in a real Chromium against the real UI, worker and API processes.

Run: `.venv/bin/pytest tests/e2e -q -m browser`. Screenshots land in test-artifacts/e2e/.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.browser import screenshot, wait_idle
from tests.e2e.conftest import ADMIN, World

pytestmark = pytest.mark.browser

LONG = 60_000  # ms: the worker, the live fragment and a busy 2-core machine
expect.set_options(timeout=20_000)


# -- helpers ---------------------------------------------------------------------------------------


def log_in(page: Any, world: World, user: tuple[str, str]) -> None:
    page.goto(world.stack.ui_url)
    wait_idle(page)
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_role("textbox", name="Username").fill(user[0])
    page.get_by_role("textbox", name="Password").fill(user[1])
    page.get_by_role("button", name="Log in").click()
    wait_idle(page)
    expect(page.get_by_text(f"Logged in as {user[0]}")).to_be_visible()


def go_to(page: Any, title: str) -> None:
    """Click a page in the sidebar menu (a client-side switch: the session stays logged in)."""
    nav = page.get_by_test_id("stSidebarNav")
    more = nav.get_by_text(re.compile(r"^View \d+ more$"))
    if more.count():
        more.click()
    nav.get_by_role("link", name=title, exact=True).click()
    wait_idle(page)


def no_exception(page: Any) -> None:
    expect(page.get_by_test_id("stException")).to_have_count(0)


def metric(page: Any, label: str) -> Any:
    """The value element of the st.metric whose label is exactly `label`."""
    return (
        page.get_by_test_id("stMetric")
        .filter(has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
        .get_by_test_id("stMetricValue")
    )


# -- flows -----------------------------------------------------------------------------------------


def test_admin_logs_in_and_every_page_renders(page: Any, world: World) -> None:
    log_in(page, world, ADMIN)
    screenshot(page, "01-dashboard")
    for title in [
        "Campaigns",
        "New campaign",
        "Notifications",
        "Contacts",
        "WhatsApp numbers",
        "Users",
        "API tokens",
        "Account",
        "Audit log",
        "My profile",
    ]:
        go_to(page, title)
        no_exception(page)
        screenshot(page, f"02-page-{title}")
