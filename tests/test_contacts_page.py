"""The Contacts page through Streamlit's AppTest: upload + mapping + report, table, edits, roles.

AppTest in this Streamlit (1.67) supports `file_uploader.upload(...)`, so the upload goes through
the real widget, the real importer and the real database.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from core.models import Account, Contact, ImportBatch
from core.people import Actor
from tests.address_book_files import google_legacy_csv
from tests.builders import make_contact

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30


def page(actor: Actor) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / "contacts.py"), default_timeout=TIMEOUT)
    at.session_state["actor"] = actor
    return at


def by_label(widgets, label: str):  # type: ignore[no-untyped-def]
    return next(w for w in widgets if w.label == label)


def metric(at: AppTest, label: str) -> str:
    return by_label(at.metric, label).value


def contacts_of(session: Session, account_id: int) -> dict[str, Contact]:
    session.expire_all()
    found = {
        c.phone: c for c in session.scalars(select(Contact).where(Contact.account_id == account_id))
    }
    session.commit()  # end the read: SQLite takes the write lock at BEGIN, the page must write
    return found


UPLOAD = (
    "Nome;Celular;Etiquetas;Cidade;Interno\n"
    "Ana;(11) 98765-4321;VIP, Cliente;Recife;a\n"
    "Bia;21 99876-5432;;Rio;b\n"
    "Caio;123;;BH;c\n"
    "Ana Maria;11987654321;novo;;d\n"
).encode("cp1252")


def test_upload_preview_mapping_import_and_report(session: Session, manager: Actor) -> None:
    at = page(manager).run()
    assert not at.exception

    at.file_uploader(key="contacts_upload").upload("clientes.csv", UPLOAD, "text/csv")
    at.run()
    assert not at.exception
    mapping = {
        w.label: w.value for w in at.selectbox if w.key and w.key.startswith("contacts_map_")
    }
    assert mapping == {
        "Nome": "name",
        "Celular": "phone",
        "Etiquetas": "labels",
        "Cidade": "text",
        "Interno": "text",
    }
    assert any("semicolon" in c.value for c in at.caption)
    at.selectbox(key="contacts_map_4").set_value("skip")  # the user drops a column
    at.button(key="contacts_import").click().run()

    assert not at.exception
    assert metric(at, "Created") == "2"
    assert metric(at, "Duplicates merged") == "1"
    assert metric(at, "Rejected") == "1"
    contacts = contacts_of(session, manager.account_id)
    assert contacts["+5511987654321"].name == "Ana Maria"
    assert contacts["+5511987654321"].label_names == ["cliente", "novo", "vip"]
    assert contacts["+5511987654321"].custom_attributes == {"cidade": "Recife"}
    download = at.get("download_button")
    assert any(d.proto.label == "Download the rejected rows (CSV)" for d in download)
    batch = session.scalars(select(ImportBatch)).one()
    assert batch.user_id == manager.user_id and batch.filename == "clientes.csv"


def test_a_refused_file_shows_why_and_imports_nothing(session: Session, manager: Actor) -> None:
    at = page(manager).run()

    at.file_uploader(key="contacts_upload").upload("x.csv", b"name,email\nAna,a@b.c\n", "text/csv")
    at.run()
    at.button(key="contacts_import").click().run()

    assert not at.exception
    assert any("no phone column" in e.value for e in at.error)
    assert session.scalar(select(func.count()).select_from(Contact)) == 0
    assert not at.get("progress")  # no "Reading the file…" and empty bar left under the error


def test_the_contact_list_is_fresh_right_after_an_import(session: Session, manager: Actor) -> None:
    at = page(manager).run()
    assert any("0 contacts" in c.value for c in at.caption)

    at.file_uploader(key="contacts_upload").upload("clientes.csv", UPLOAD, "text/csv")
    at.run()
    at.button(key="contacts_import").click().run()

    assert not at.exception
    assert metric(at, "Created") == "2"  # the report stays
    assert any("2 contacts · page 1 of 1" in c.value for c in at.caption)
    assert set(table_phones(at)) == {"+5511987654321", "+5521998765432"}


def test_the_file_format_names_the_encoding_as_the_report_does(manager: Actor) -> None:
    at = page(manager).run()
    data = "Nome;Celular;Cidade\nJoão;11987654321;São Paulo\n".encode("cp1252")
    at.file_uploader(key="contacts_upload").upload("clientes.csv", data, "text/csv")
    at.run()
    assert any(c.value.startswith("Windows-1252, semicolon-separated") for c in at.caption)
    at.button(key="contacts_import").click().run()
    assert any(c.value.startswith("Windows-1252, semicolon-separated") for c in at.caption)


def test_a_binary_upload_is_refused_before_mapping(session: Session, manager: Actor) -> None:
    at = page(manager).run()

    at.file_uploader(key="contacts_upload").upload(
        "saved-as-excel.csv", b"PK\x03\x04\x14\x00", "text/csv"
    )
    at.run()

    assert any("Excel or zip file" in e.value for e in at.error)
    assert not [b for b in at.button if b.key == "contacts_import"]


@pytest.fixture
def book(session: Session, account: Account) -> None:
    make_contact(session, account, "+5511987654321", "Ana", labels=["vip"], city="Recife")
    make_contact(session, account, "+5521998765432", "Bia", labels=["lead"], city="Rio")
    make_contact(session, account, "+5531998765432", "=Caio", labels=["vip"], city="BH")
    session.commit()


def table_phones(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["Phone"])


def test_table_search_and_filters(session: Session, viewer: Actor, book: None) -> None:
    at = page(viewer).run()
    assert not at.exception
    assert table_phones(at) == ["+5531998765432", "+5521998765432", "+5511987654321"]

    at.text_input(key="contacts_search").input("bia").run()
    assert table_phones(at) == ["+5521998765432"]

    at.text_input(key="contacts_search").input("").run()
    at.multiselect(key="contacts_labels").select("vip").run()
    assert table_phones(at) == ["+5531998765432", "+5511987654321"]

    at.selectbox(key="contacts_attr").set_value("city").run()
    at.text_input(key="contacts_attr_value").input("recife").run()
    assert table_phones(at) == ["+5511987654321"]
    assert any("1 contact · page 1 of 1" in c.value for c in at.caption)  # singular


def test_pagination_renders_one_page(session: Session, viewer: Actor, account: Account) -> None:
    for n in range(60):
        make_contact(session, account, f"+55119876540{n:02d}", f"P{n}")
    session.commit()

    at = page(viewer).run()
    assert len(at.dataframe[0].value) == 50
    at.number_input(key="contacts_page").set_value(2).run()
    assert len(at.dataframe[0].value) == 10
    assert any("60 contacts · page 2 of 2" in c.value for c in at.caption)


def test_viewers_see_no_import_and_no_edit(viewer: Actor, book: None) -> None:
    at = page(viewer).run()

    assert not at.file_uploader
    assert not [b for b in at.button if b.key in ("contacts_opt_out", "contacts_delete")]
    assert [t.label for t in at.tabs] == []


def test_edit_labels_and_attributes(session: Session, manager: Actor, book: None) -> None:
    at = page(manager).run()
    ana = contacts_of(session, manager.account_id)["+5511987654321"]
    before = dict(ana.custom_attributes)
    session.commit()
    shown = at.dataframe[0].value
    assert "{" not in " ".join(str(v) for v in shown["Attributes"])  # a summary, not raw JSON
    at.selectbox(key="contacts_pick").set_value(ana.id).run()
    # The edit form holds a second table: the attributes, a name and a value a row.
    edited = at.dataframe[1].value
    assert list(edited.columns) == ["name", "value"]
    assert dict(zip(edited["name"], edited["value"], strict=True)) == before

    by_label(at.text_input, "Labels (separated by commas)").input("VIP, Cliente")
    by_label(at.button, "Save").click().run()

    assert not at.exception
    ana = contacts_of(session, manager.account_id)["+5511987654321"]
    assert ana.label_names == ["cliente", "vip"]
    assert ana.custom_attributes == before  # the table's rows come back as they were


def test_attribute_table_rows_become_attributes() -> None:
    import pandas as pd

    from ui import attributes

    table = pd.DataFrame(
        [
            {"name": "city", "value": "Olinda"},
            {"name": " ", "value": "x"},
            {"name": "plano", "value": None},
        ]
    )
    assert attributes.values(table) == {"city": "Olinda", "plano": ""}
    assert attributes.summary({"city": "Olinda", "plano": "pro"}) == "city: Olinda · plano: pro"


def test_opt_out_back_in_and_delete(session: Session, manager: Actor, book: None) -> None:
    at = page(manager).run()
    bia = contacts_of(session, manager.account_id)["+5521998765432"]
    at.selectbox(key="contacts_pick").set_value(bia.id).run()

    at.button(key="contacts_opt_out").click().run()
    assert contacts_of(session, manager.account_id)["+5521998765432"].opted_out_at is not None

    at.button(key="contacts_opt_in").click().run()
    assert contacts_of(session, manager.account_id)["+5521998765432"].opted_out_at is None

    at.checkbox(key="contacts_delete_sure").check().run()
    at.button(key="contacts_delete").click().run()
    assert not at.exception
    assert "+5521998765432" not in contacts_of(session, manager.account_id)


def test_export_download_is_offered_and_the_service_escapes(
    session: Session, manager: Actor, book: None
) -> None:
    at = page(manager).run()

    assert any(d.proto.label == "Export these contacts (CSV)" for d in at.get("download_button"))
    from core.contacts import export_csv

    rows = list(csv.reader(io.StringIO(b"".join(export_csv(session, manager)).decode("utf-8-sig"))))
    assert rows[3][:2] == ["'+5531998765432", "'=Caio"]


def test_an_address_book_export_is_recognised_and_imports_as_suggested(
    session: Session, manager: Actor
) -> None:
    at = page(manager).run()
    at.file_uploader(key="contacts_upload").upload("contacts.csv", google_legacy_csv(), "text/csv")
    at.run()
    assert not at.exception
    assert any("Recognised a Google Contacts export" in i.value for i in at.info)
    at.button(key="contacts_import").click().run()

    assert not at.exception
    assert metric(at, "Created") == "2"
    assert metric(at, "Rejected") == "1"
    assert contacts_of(session, manager.account_id)["+5521998765432"].label_names == ["vip"]
