"""The main flows in a real Chromium against the real UI, worker and API processes.

Run: `.venv/bin/pytest tests/e2e -q -m browser`. Screenshots land in test-artifacts/e2e/.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from core.models import Campaign
from tests.e2e.browser import screenshot, wait_idle
from tests.e2e.conftest import ADMIN, SLOW, SLOW_TITLE, VIEWER, World
from tests.evolution_payloads import message_update

try:
    from playwright.sync_api import expect
except ImportError:  # the `world` fixture's require_browser() skips, or fails on CI
    expect = None

pytestmark = pytest.mark.browser

LONG = 60_000  # ms: the worker, the live fragment and a busy 2-core machine
if expect is not None:
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


def campaign_id_of(world: World, title: str) -> int:
    with world.session() as session:
        return session.scalars(select(Campaign.id).where(Campaign.title == title)).one()


def open_campaign(page: Any, campaign_id: int) -> None:
    """From the campaigns list, the campaign's "Open" button (Streamlit marks it by its key)."""
    go_to(page, "Campaigns")
    page.locator(f".st-key-open_{campaign_id}").get_by_role("button", name="Open").click()
    wait_idle(page)


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


CSV = (
    "phone,name,labels,city\n"
    "(11) 98765-4301,Ana Souza,vip;news,Recife\n"
    "11987654302,Bruno Lima,vip,Recife\n"
    "+55 11 98765-4303,Carla Dias,vip,Salvador\n"
    "11987654304,Davi Rocha,news,Recife\n"
    '11987654305,Eva Nunes,"vip,news",Recife\n'
    "12345,Número Ruim,vip,Recife\n"
)
AUDIENCE = {  # vip and city Recife: what WhatsApp should receive, as Evolution digits
    "5511987654301": "Ana Souza",
    "5511987654302": "Bruno Lima",
    "5511987654305": "Eva Nunes",
}
MESSAGE = "Olá {{name}}, a promoção de inverno chegou!"
IMAGE = "https://cdn.example.com/promo-inverno.jpg"


def choose(page: Any, widget: Any, option: str) -> None:
    """Pick `option` in a Streamlit selectbox/multiselect (a searchable listbox)."""
    # Bring it to the middle first: the dropdown closes itself when the page scrolls.
    widget.evaluate("element => element.scrollIntoView({block: 'center'})")
    widget.locator("input").first.click()
    page.get_by_role("option").filter(has_text=re.compile(f"^{re.escape(option)}$")).click()
    page.keyboard.press("Escape")
    wait_idle(page)


def test_import_audience_send_and_delivery(page: Any, world: World, tmp_path: Any) -> None:
    log_in(page, world, ADMIN)

    # -- import a CSV through the file chooser ----------------------------------------------
    go_to(page, "Contacts")
    page.get_by_role("tab", name="Import CSV").click()
    wait_idle(page)
    upload = tmp_path / "clientes.csv"
    upload.write_text(CSV, encoding="utf-8")
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("stFileUploader").get_by_role(
            "button", name="Upload", exact=True
        ).click()
    chooser.value.set_files(upload)
    wait_idle(page)
    expect(page.get_by_text("What is in each column?")).to_be_visible()
    expect(page.get_by_role("textbox", name=re.compile("^Country for numbers"))).to_have_value("BR")
    screenshot(page, "10-contacts-import-mapping")
    page.get_by_role("button", name="Import contacts").click()
    wait_idle(page)
    expect(page.get_by_role("heading", name="Import of clientes.csv")).to_be_visible()
    expect(metric(page, "Created")).to_have_text("5")
    expect(metric(page, "Rejected")).to_have_text("1")
    expect(metric(page, "Updated")).to_have_text("0")
    no_exception(page)
    screenshot(page, "11-contacts-import-report")

    # -- the campaign editor: message, image, number, audience --------------------------------
    go_to(page, "New campaign")
    page.get_by_role("textbox", name="Title").fill("Promoção de inverno")
    page.get_by_role("textbox", name="Message").fill(MESSAGE)
    page.get_by_role("textbox", name="Title").click()  # leave the text area: its value is sent
    wait_idle(page)
    page.get_by_test_id("stExpander").filter(has_text="Media").locator("summary").click()
    page.get_by_text("By URL", exact=True).click()
    wait_idle(page)
    page.get_by_role("textbox", name="URL").fill(IMAGE)
    page.get_by_role("textbox", name="URL").press("Enter")
    wait_idle(page)
    choose(
        page,
        page.get_by_test_id("stMultiSelect").filter(has_text="Send through"),
        "loja (6/min)",
    )
    page.get_by_text("Send now", exact=True).click()
    wait_idle(page)

    choose(page, page.get_by_test_id("stMultiSelect").filter(has_text="With labels"), "vip")
    expect(metric(page, "Recipients")).to_have_text("4")
    page.get_by_role("button", name="Add a condition").click()
    wait_idle(page)
    condition = page.get_by_test_id("stSelectbox").filter(
        has=page.get_by_role("combobox", name=re.compile("Attribute"))
    )
    choose(page, condition.last, "city")
    values = page.get_by_role("textbox", name="Values")
    values.fill("Recife")
    values.press("Enter")
    wait_idle(page)
    expect(metric(page, "Recipients")).to_have_text("3")
    expect(page.get_by_text("Olá Ana Souza, a promoção de inverno chegou!")).to_be_visible()
    no_exception(page)
    screenshot(page, "20-campaign-editor")
    page.get_by_role("button", name="Save and send now").click()
    wait_idle(page)
    expect(page.get_by_text("Campaign saved and started.")).to_be_visible()
    screenshot(page, "21-campaign-saved")

    # -- the campaign page follows the sending by itself ------------------------------------
    campaign_id = campaign_id_of(world, "Promoção de inverno")
    open_campaign(page, campaign_id)
    screenshot(page, "30-campaigns-list")
    expect(page.get_by_role("heading", name="Promoção de inverno")).to_be_visible()
    expect(page.get_by_role("heading", name="Status: Running")).to_be_visible()
    screenshot(page, "31-campaign-running")
    expect(page.get_by_role("heading", name="Status: Completed")).to_be_visible(timeout=LONG)
    wait_idle(page)
    expect(page.get_by_text("3 of 3 recipients done")).to_be_visible()
    expect(metric(page, "Sent")).to_have_text("3")
    expect(metric(page, "Delivered")).to_have_text("0")
    no_exception(page)
    screenshot(page, "32-campaign-completed")

    # -- what reached WhatsApp: one correct request per recipient ---------------------------
    sends = world.fake.sends("loja")
    assert sorted(s.number for s in sends) == sorted(AUDIENCE), sends
    for sent in sends:
        assert sent.route == "sendMedia"
        assert sent.body["mediatype"] == "image"
        assert sent.body["media"] == IMAGE
        name = AUDIENCE[sent.number]
        assert sent.body["caption"] == f"Olá {name}, a promoção de inverno chegou!"

    # -- a delivery receipt turns one "sent" into "delivered" --------------------------------
    ana = next(s for s in sends if s.number == "5511987654301")
    answer = world.fake.deliver_webhook(
        "loja", message_update("loja", ana.message_id, "DELIVERY_ACK", number=ana.number)
    )
    assert answer.status_code == 200, answer.text
    # A finished campaign's page no longer refreshes itself: filter the log, as staff would.
    choose(page, page.locator(".st-key-log_statuses"), "Delivered")
    expect(metric(page, "Delivered")).to_have_text("1")
    expect(metric(page, "Sent")).to_have_text("2")
    expect(page.get_by_text("1 recipient matches")).to_be_visible()
    no_exception(page)
    screenshot(page, "33-campaign-delivered")


def campaign_status(world: World, campaign_id: int) -> str:
    with world.session() as session:
        return str(session.get(Campaign, campaign_id).status)


def confirm(page: Any, action: str, question: str) -> None:
    page.locator(f".st-key-action_{action}").get_by_role("button").click()
    wait_idle(page)
    expect(page.get_by_text(question)).to_be_visible()
    page.get_by_role("button", name="Yes, go ahead").click()
    wait_idle(page)


def test_pause_and_resume_a_running_campaign(page: Any, world: World, slow_campaign: int) -> None:
    log_in(page, world, ADMIN)
    open_campaign(page, slow_campaign)
    expect(page.get_by_role("heading", name=SLOW_TITLE)).to_be_visible()
    expect(page.get_by_role("heading", name="Status: Running")).to_be_visible()
    expect(metric(page, "Targeted")).to_have_text("5")
    screenshot(page, "40-slow-campaign-running")

    confirm(page, "pause", "Pause this campaign?")
    expect(page.get_by_role("heading", name="Status: Paused")).to_be_visible()
    expect(page.get_by_text("Done: Pause.")).to_be_visible()
    expect(page.locator(".st-key-action_pause")).to_have_count(0)
    assert campaign_status(world, slow_campaign) == "paused"
    no_exception(page)
    screenshot(page, "41-slow-campaign-paused")

    confirm(page, "resume", "Resume this campaign?")
    expect(page.get_by_role("heading", name="Status: Running")).to_be_visible()
    expect(page.get_by_text("Done: Resume.")).to_be_visible()
    assert campaign_status(world, slow_campaign) == "running"
    no_exception(page)
    screenshot(page, "42-slow-campaign-resumed")
    # It never stopped being one campaign: nobody got a message twice.
    numbers = world.fake.numbers_received(SLOW)
    assert numbers == sorted(set(numbers))


ACTION_BUTTONS = [
    "Pause",
    "Resume",
    "Cancel",
    "Retry failed",
    "Send now",
    "Edit",
    "Duplicate",
    "Delete",
    "New campaign",
]


def test_a_viewer_sees_campaigns_but_no_actions(
    page: Any, world: World, slow_campaign: int
) -> None:
    log_in(page, world, VIEWER)
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="Campaigns", exact=True)).to_be_visible()
    for hidden in ("New campaign", "Users", "API tokens", "Audit log"):
        expect(nav.get_by_role("link", name=hidden, exact=True)).to_have_count(0)

    go_to(page, "Campaigns")
    expect(page.get_by_text(SLOW_TITLE)).to_be_visible()
    expect(page.locator(f".st-key-open_{slow_campaign}")).to_be_visible()
    for name in ACTION_BUTTONS:
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    screenshot(page, "50-viewer-campaigns")

    open_campaign(page, slow_campaign)
    expect(page.get_by_role("heading", name=SLOW_TITLE)).to_be_visible()
    expect(page.get_by_role("heading", name=re.compile(r"^Status: "))).to_be_visible()
    expect(page.get_by_role("heading", name="Recipients")).to_be_visible()  # drawn to the end
    for name in ACTION_BUTTONS:
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)
    no_exception(page)
    screenshot(page, "51-viewer-campaign")

    go_to(page, "Contacts")
    expect(page.get_by_role("heading", name="Contacts")).to_be_visible()
    expect(page.get_by_role("tab", name="Import CSV")).to_have_count(0)
    screenshot(page, "52-viewer-contacts")
