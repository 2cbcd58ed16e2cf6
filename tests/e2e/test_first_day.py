"""A new user's first day in a real Chromium (issue 17): no traceback on coming back to a page,
a reload that keeps the login and the page, the language switch on the login page, charts that
read right with one point and with none, and receipts that say when they cannot arrive.

Run: `.venv/bin/pytest tests/e2e/test_first_day.py -q -m browser`. Screenshots land in
test-artifacts/e2e/.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.browser import screenshot, wait_idle
from tests.e2e.conftest import ADMIN, World
from tests.e2e.test_campaign_flow import go_to, log_in, no_exception

try:
    from playwright.sync_api import expect
except ImportError:  # the `world` fixture's require_browser() skips, or fails on CI
    expect = None

pytestmark = pytest.mark.browser

if expect is not None:
    expect.set_options(timeout=20_000)


def test_new_campaign_opens_again_after_another_page(page: Any, world: World) -> None:
    log_in(page, world, ADMIN)
    go_to(page, "New campaign")
    page.get_by_role("textbox", name="Title").fill("Volta às aulas")
    page.get_by_role("textbox", name="Title").press("Enter")
    wait_idle(page)
    go_to(page, "Dashboard")
    go_to(page, "Contacts")
    go_to(page, "New campaign")
    no_exception(page)
    expect(page.get_by_role("heading", name="New campaign")).to_be_visible()
    expect(page.get_by_role("textbox", name="Title")).to_have_value("Volta às aulas")
    screenshot(page, "30-new-campaign-revisited")


def test_a_reload_keeps_the_login_and_the_page(page: Any, world: World) -> None:
    log_in(page, world, ADMIN)
    go_to(page, "Audit log")
    assert page.url.rstrip("/").endswith("/audit_log")
    page.reload()
    wait_idle(page)
    no_exception(page)
    expect(page.get_by_text(f"Logged in as {ADMIN[0]}")).to_be_visible()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    assert page.url.rstrip("/").endswith("/audit_log")
    screenshot(page, "31-reloaded-audit-log")

    # Logging out ends it: the next reload shows the login page.
    page.get_by_test_id("stSidebar").get_by_role("button", name="Log out").click()
    wait_idle(page)
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.reload()
    wait_idle(page)
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_text(f"Logged in as {ADMIN[0]}")).to_have_count(0)


def test_logging_in_returns_to_the_page_asked_for(page: Any, world: World) -> None:
    page.goto(world.stack.ui_url + "/audit_log")
    wait_idle(page)
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_role("textbox", name="Username").fill(ADMIN[0])
    page.get_by_role("textbox", name="Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    wait_idle(page)
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    assert page.url.rstrip("/").endswith("/audit_log")


def test_a_number_without_webhook_says_why_receipts_cannot_arrive(
    page: Any, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core import instances
    from core.base import reset_settings_cache, session_scope

    # Added where no public address is known: the webhook cannot be registered.
    monkeypatch.delenv("PUBLIC_API_URL", raising=False)
    monkeypatch.delenv("LOCAL_WEBHOOKS", raising=False)
    reset_settings_cache()
    evolution = world.fake.add_instance("semhook")
    with session_scope() as session:
        created = instances.create_instance(
            session,
            world.admin,
            {
                "name": "semhook",
                "base_url": world.fake.base_url,
                "instance_name": "semhook",
                "token": evolution.token,
                "rate_per_minute": 6,
            },
        )
        assert created.webhook_registered_at is None
    reset_settings_cache()

    log_in(page, world, ADMIN)
    go_to(page, "WhatsApp numbers")
    page.get_by_text("semhook", exact=False).first.click()
    wait_idle(page)
    warning = page.get_by_text("Delivered and Read will stay at 0 for semhook")
    expect(warning).to_be_visible()
    expect(page.get_by_text("Set PUBLIC_API_URL", exact=False).first).to_be_visible()
    no_exception(page)
    screenshot(page, "32-number-without-webhook")


def test_charts_with_no_data_and_with_one_point(page: Any, world: World) -> None:
    import time

    from core import campaigns, contacts
    from core.base import session_scope
    from core.models import Campaign

    log_in(page, world, ADMIN)  # nothing sent yet in this module's stack
    expect(page.get_by_text("No data yet").first).to_be_visible()
    no_exception(page)
    screenshot(page, "33-dashboard-no-data")

    with session_scope() as session:
        contacts.create_contact(session, world.admin, "+55 21 99876-5499", "Uma Só", ["um"])
        campaign = campaigns.create(
            session,
            world.admin,
            {
                "title": "Um ponto",
                "message": "Oi {{name}}",
                "audience": {"labels": ["um"]},
                "instance_ids": [world.instance_ids["loja"]],
                "status": "draft",
            },
        )
        campaigns.trigger(session, world.admin, campaign.id)
        campaign_id = campaign.id
    for _ in range(120):  # the worker sends it within seconds
        with world.session() as session:
            if str(session.get(Campaign, campaign_id).status) == "completed":
                break
        time.sleep(0.5)
    page.goto(f"{world.stack.ui_url}/campaign_detail?id={campaign_id}")
    wait_idle(page)
    expect(page.get_by_role("heading", name="Status: Completed")).to_be_visible(timeout=60_000)
    wait_idle(page)
    charts = page.locator(".js-plotly-plot")
    expect(charts.first).to_be_visible()
    ticks = " ".join(page.locator(".js-plotly-plot .xtick text").all_text_contents())
    assert ".999" not in ticks and ".001" not in ticks, ticks  # no millisecond axis
    assert "%" in " ".join(page.locator(".js-plotly-plot text").all_text_contents())
    no_exception(page)
    screenshot(page, "34-campaign-one-point")


LOGIN = {"en": "Log in", "es": "Iniciar sesión", "pt_BR": "Entrar"}
UPLOAD = {"en": "Upload a file", "es": "Subir un archivo", "pt_BR": "Enviar um arquivo"}
PICK = {"en": "English", "es": "Español", "pt_BR": "Português (Brasil)"}
PAGES = [  # url path: one screenshot of each, in each language ("" is the dashboard)
    "",
    "campaigns",
    "campaign_edit",
    "notifications",
    "contacts",
    "instances",
    "users",
    "tokens",
    "account_settings",
    "audit_log",
    "profile",
]


@pytest.mark.parametrize("language", ["en", "es", "pt_BR"])  # en first: nothing saved yet
def test_the_language_switch_on_the_login_page(page: Any, world: World, language: str) -> None:
    page.goto(world.stack.ui_url)
    wait_idle(page)
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()  # the browser's, en-US
    picker = page.get_by_test_id("stSelectbox").first
    picker.locator("input").first.click()
    page.get_by_role("option", name=PICK[language], exact=True).click()
    wait_idle(page)
    expect(page.get_by_role("heading", name=LOGIN[language])).to_be_visible()
    screenshot(page, f"40-{language}-login")
    page.get_by_role("textbox").nth(0).fill(ADMIN[0])
    page.get_by_role("textbox").nth(1).fill(ADMIN[1])
    page.get_by_role("button", name=LOGIN[language], exact=True).click()
    wait_idle(page)
    no_exception(page)
    expect(page.get_by_text("Deploy", exact=True)).to_have_count(0)  # toolbarMode minimal
    page.wait_for_function("document.cookie.includes('wac_session=')")  # the login, kept
    for path in PAGES:  # each by its address: the login cookie carries the session over
        page.goto(f"{world.stack.ui_url}/{path}")
        wait_idle(page)
        no_exception(page)
        if language != "en":  # the chosen language, not the browser's
            expect(page.get_by_role("heading", name=LOGIN["en"])).to_have_count(0)
        expect(page.get_by_text("Page not found")).to_have_count(0)
        screenshot(page, f"41-{language}-{path or 'dashboard'}")
    page.goto(f"{world.stack.ui_url}/campaign_edit")
    wait_idle(page)
    page.get_by_test_id("stExpander").first.locator("summary").click()
    page.get_by_text(UPLOAD[language], exact=True).click()
    wait_idle(page)
    uploader = page.get_by_test_id("stFileUploaderDropzone")
    expect(uploader).to_be_visible()
    if language != "en":
        assert "per file" not in uploader.inner_text()
    screenshot(page, f"42-{language}-media-upload")
