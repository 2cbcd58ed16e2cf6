"""Address-book exports imported in a real Chromium without mapping a column by hand: Google's
(both layouts) and Outlook's, in English, Spanish and Portuguese.

Run: `.venv/bin/pytest tests/e2e/test_address_book_import.py -q -m browser`. Screenshots land
in test-artifacts/e2e/ (2x-*.png).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from core import i18n, people
from core.base import session_scope
from core.models import Contact
from tests.address_book_files import google_csv, google_legacy_csv, outlook_csv
from tests.e2e.browser import screenshot, wait_idle
from tests.e2e.conftest import ADMIN, World

try:
    from playwright.sync_api import expect
except ImportError:  # the `world` fixture's require_browser() skips, or fails on CI
    expect = None

pytestmark = pytest.mark.browser

if expect is not None:
    expect.set_options(timeout=20_000)


@pytest.fixture
def language(world: World) -> Iterator[Any]:
    """Sets the admin's UI language for one test; `_` then gives that language's words."""

    def use(code: str) -> Any:
        with session_scope() as session:
            people.set_user_language(session, world.admin.user_id, code)
        i18n.set_language(code)
        return i18n._

    yield use
    with session_scope() as session:
        people.set_user_language(session, world.admin.user_id, "en")
    i18n.set_language("en")


def log_in(page: Any, world: World) -> None:
    """The login page is in the browser's language (English); the pages after it in the user's."""
    page.goto(world.stack.ui_url)
    wait_idle(page)
    page.get_by_role("textbox", name="Username").fill(ADMIN[0])
    page.get_by_role("textbox", name="Password").fill(ADMIN[1])
    page.get_by_role("button", name="Log in").click()
    wait_idle(page)
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible()


def go_to(page: Any, title: str) -> None:
    nav = page.get_by_test_id("stSidebarNav")
    more = nav.get_by_text(re.compile(r"\d+"))
    if more.count() and not nav.get_by_role("link", name=title, exact=True).count():
        more.first.click()
    nav.get_by_role("link", name=title, exact=True).click()
    wait_idle(page)


def metric(page: Any, label: str) -> Any:
    return (
        page.get_by_test_id("stMetric")
        .filter(has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
        .get_by_test_id("stMetricValue")
    )


def target(page: Any, column: str) -> Any:
    """The mapping step's choice for a column (its select box is labelled with the header)."""
    return page.get_by_role("combobox", name=column, exact=True)


def contact_count(world: World) -> int:
    with world.session() as session:
        return session.scalar(select(func.count()).select_from(Contact)) or 0


def import_export(
    page: Any, world: World, _: Any, tmp_path: Any, filename: str, data: bytes, book: str
) -> None:
    """Upload the file, check the recognised mapping, import it without touching a column."""
    go_to(page, _("Contacts"))
    page.get_by_role("tab", name=_("Import CSV")).click()
    wait_idle(page)
    upload = tmp_path / filename
    upload.write_bytes(data)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(upload))
    wait_idle(page)
    recognised = _(
        "Recognised a {book} export: the phone (a mobile first), the name and the labels are "
        "chosen below, and the columns it leaves empty are skipped."
    ).format(book=book)
    expect(page.get_by_text(recognised)).to_be_visible()
    country = page.get_by_role(
        "textbox", name=_("Country for numbers written without +country code (two letters)")
    )
    expect(country).to_have_value("BR")
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_a_google_export_imports_without_mapping(
    page: Any, world: World, language: Any, tmp_path: Any
) -> None:
    _ = language("en")
    before = contact_count(world)
    log_in(page, world)
    import_export(page, world, _, tmp_path, "google.csv", google_legacy_csv(), "Google Contacts")
    expect(target(page, "Phone 1 - Value")).to_have_value("Phone")
    expect(target(page, "Phone 2 - Value")).to_have_value("Other phone")
    expect(target(page, "Yomi Name")).to_have_value("Skip")
    expect(target(page, "Group Membership")).to_have_value("Labels")
    screenshot(page, "20-google-export-mapping-en")
    page.locator(".st-key-contacts_import").get_by_role("button").click()
    wait_idle(page)
    expect(page.get_by_role("heading", name="Import of google.csv")).to_be_visible()
    expect(metric(page, "Created")).to_have_text("2")
    expect(metric(page, "Rejected")).to_have_text("1")  # "12 ::: 34" holds no valid number
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Reading the file")).to_have_count(0)
    screenshot(page, "21-google-export-report-en")
    assert contact_count(world) == before + 2

    # The contact list is fresh at once: no navigating away and back.
    page.get_by_role("tab", name="Contacts").click()
    expect(page.get_by_text(f"{before + 2} contacts · page 1 of 1")).to_be_visible()
    screenshot(page, "22-contacts-after-google-import-en")


def test_googles_current_layout_imports_without_mapping(
    page: Any, world: World, language: Any, tmp_path: Any
) -> None:
    _ = language("es")
    log_in(page, world)
    import_export(page, world, _, tmp_path, "google-nuevo.csv", google_csv(), "Google Contacts")
    screenshot(page, "23-google-export-mapping-es")
    page.locator(".st-key-contacts_import").get_by_role("button").click()
    wait_idle(page)
    expect(metric(page, _("Rejected"))).to_have_text("0")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    screenshot(page, "24-google-export-report-es")
    with world.session() as session:
        ana = session.scalars(select(Contact).where(Contact.phone == "+5521998765432")).one()
        assert ana.name == "Ana Maria Souza" and ana.label_names == ["vip"]
        bruno = session.scalars(select(Contact).where(Contact.phone == "+5511987654321")).one()
        assert bruno.name == "Bruno Lima"  # Phone 2, the mobile, not Phone 1's landline


def test_an_outlook_export_imports_without_mapping(
    page: Any, world: World, language: Any, tmp_path: Any
) -> None:
    _ = language("pt_BR")
    log_in(page, world)
    import_export(page, world, _, tmp_path, "outlook.csv", outlook_csv(), "Outlook")
    expect(target(page, "Mobile Phone")).to_have_value(_("Phone"))  # "Telefone"
    expect(target(page, "Business Fax")).to_have_value(_("Skip"))
    expect(target(page, "Categories")).to_have_value(_("Labels"))
    screenshot(page, "25-outlook-export-mapping-pt-br")
    page.locator(".st-key-contacts_import").get_by_role("button").click()
    wait_idle(page)
    heading = _("Import of {file}").format(file="outlook.csv")
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(metric(page, _("Created"))).to_have_text("2")
    expect(metric(page, _("Rejected"))).to_have_text("0")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    screenshot(page, "26-outlook-export-report-pt-br")
    with world.session() as session:
        dora = session.scalars(select(Contact).where(Contact.phone == "+5521998761111")).one()
        assert dora.name == "Dora Alves"
        assert sorted(dora.label_names) == ["fornecedores", "vip"]
