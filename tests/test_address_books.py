"""Address-book exports import as they come: Google (both layouts), Outlook, Chatwoot and
WhatsApp Business files are recognised by their headers and need no mapping by hand."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.contacts import ColumnTarget, import_contacts, preview_file, rejected_rows
from core.contacts._fields import attribute_key, split_labels
from core.models import Contact, ImportBatch
from core.people import Actor
from tests.address_book_files import (
    chatwoot_csv,
    google_csv,
    google_legacy_csv,
    outlook_csv,
    whatsapp_business_csv,
)


def imported(
    session: Session, actor: Actor, data: bytes, through_preview: bool
) -> tuple[ImportBatch, dict[str, Contact]]:
    """Import as the Contacts page does (the preview's mapping, untouched) or as the API does
    (no mapping at all)."""
    mapping = None
    if through_preview:
        mapping = {c: t.value for c, t in preview_file(io.BytesIO(data)).mapping.items()}
    batch = import_contacts(session, actor, io.BytesIO(data), "export.csv", mapping)
    session.commit()
    session.expire_all()
    found = session.scalars(select(Contact).where(Contact.account_id == actor.account_id))
    return batch, {c.phone: c for c in found}


def test_google_legacy_export_is_recognised_with_its_columns() -> None:
    shown = preview_file(io.BytesIO(google_legacy_csv()))
    assert shown.address_book == "Google Contacts"
    chosen = {c: t for c, t in shown.mapping.items() if t != ColumnTarget.SKIP}
    assert chosen == {
        "Name": ColumnTarget.NAME,
        "Group Membership": ColumnTarget.LABELS,
        "E-mail 1 - Value": ColumnTarget.TEXT,
        "Phone 1 - Value": ColumnTarget.PHONE,
        "Phone 2 - Value": ColumnTarget.OTHER_PHONE,
        "Organization 1 - Name": ColumnTarget.TEXT,
    }
    assert list(shown.mapping) == shown.columns  # in the file's order, for the mapping step


@pytest.mark.parametrize("through_preview", [True, False])
def test_google_legacy_export_imports_without_mapping(
    session: Session, manager: Actor, through_preview: bool
) -> None:
    batch, found = imported(session, manager, google_legacy_csv(), through_preview)

    assert (batch.created_count, batch.rejected_count) == (2, 1)
    ana = found["+5521998765432"]  # the first valid number of "(21) 99876-5432 ::: +55 21 ..."
    assert ana.name == "Ana Souza"
    assert ana.label_names == ["vip"]  # "* myContacts" and "* starred" are Google's own
    assert ana.custom_attributes == {"email": "ana@example.com", "organization_name": "Loja da Ana"}
    bruno = found["+5511987654321"]  # the column labelled Mobile wins over the first one
    assert sorted(bruno.label_names) == ["clientes", "friends"]
    assert bruno.custom_attributes == {}
    [caio] = rejected_rows(batch)
    assert caio["row"] == 4 and "'12'" in caio["reason"]


def test_google_export_joins_first_middle_last_names() -> None:
    shown = preview_file(io.BytesIO(google_csv()))
    assert shown.address_book == "Google Contacts"
    assert [c for c, t in shown.mapping.items() if t == ColumnTarget.NAME] == [
        "First Name",
        "Middle Name",
        "Last Name",
    ]
    assert shown.mapping["Labels"] == ColumnTarget.LABELS
    assert shown.mapping["Phone 1 - Label"] == ColumnTarget.SKIP
    assert shown.mapping["Photo"] == ColumnTarget.SKIP
    assert shown.mapping["Address 1 - City"] == ColumnTarget.TEXT  # it has data
    assert shown.mapping["Website 1 - Value"] == ColumnTarget.SKIP  # empty throughout


@pytest.mark.parametrize("through_preview", [True, False])
def test_google_export_imports_without_mapping(
    session: Session, manager: Actor, through_preview: bool
) -> None:
    batch, found = imported(session, manager, google_csv(), through_preview)

    assert (batch.created_count, batch.rejected_count) == (2, 0)
    ana = found["+5521998765432"]
    assert ana.name == "Ana Maria Souza"
    assert ana.label_names == ["vip"]
    assert ana.custom_attributes == {"email": "ana@example.com"}
    bruno = found["+5511987654321"]  # Phone 2 is the mobile
    assert bruno.name == "Bruno Lima"
    assert sorted(bruno.label_names) == ["clientes", "vip"]
    assert bruno.custom_attributes == {"address_city": "São Paulo"}


@pytest.mark.parametrize("through_preview", [True, False])
def test_outlook_export_imports_without_mapping(
    session: Session, manager: Actor, through_preview: bool
) -> None:
    shown = preview_file(io.BytesIO(outlook_csv()))
    assert shown.address_book == "Outlook"
    assert shown.mapping["Mobile Phone"] == ColumnTarget.PHONE
    assert shown.mapping["Business Phone"] == ColumnTarget.OTHER_PHONE
    assert shown.mapping["Business Fax"] == ColumnTarget.SKIP
    assert shown.mapping["Gender"] == ColumnTarget.SKIP  # "Unspecified" in every row

    batch, found = imported(session, manager, outlook_csv(), through_preview)

    assert (batch.created_count, batch.rejected_count) == (2, 0)
    dora = found["+5521998761111"]  # the mobile, not the business phone before it
    assert dora.name == "Dora Alves"
    assert sorted(dora.label_names) == ["fornecedores", "vip"]
    assert dora.custom_attributes == {
        "email_address": "dora@example.com",
        "company": "Padaria Central",
    }
    edu = found["+5511987652222"]  # no mobile: the business phone
    assert edu.name == "Edu Rocha" and edu.label_names == ["clientes"]


@pytest.mark.parametrize("through_preview", [True, False])
def test_chatwoot_export_imports_without_mapping(
    session: Session, manager: Actor, through_preview: bool
) -> None:
    shown = preview_file(io.BytesIO(chatwoot_csv()))
    assert shown.address_book == "Chatwoot"
    assert shown.mapping["phone_number"] == ColumnTarget.PHONE
    assert shown.mapping["id"] == ColumnTarget.SKIP  # Chatwoot's own id, not a campaign's

    batch, found = imported(session, manager, chatwoot_csv(), through_preview)

    assert (batch.created_count, batch.rejected_count) == (2, 0)
    assert found["+5521998763333"].name == "Fabi Nunes"
    assert found["+5521998763333"].custom_attributes == {
        "email": "fabi@example.com",
        "company": "Salão da Fabi",
    }
    assert found["+5511987654444"].custom_attributes == {"identifier": "crm-77"}


def test_whatsapp_business_export_uses_the_saved_name(session: Session, manager: Actor) -> None:
    shown = preview_file(io.BytesIO(whatsapp_business_csv()))
    assert shown.address_book == "WhatsApp Business"
    batch, found = imported(session, manager, whatsapp_business_csv(), True)
    helena = found["+5521998765555"]
    assert helena.name == "Helena"
    assert sorted(helena.label_names) == ["new customer", "paid"]
    assert helena.custom_attributes == {"public_name": "Lena 🌸"}


def test_a_plain_file_is_no_address_book() -> None:
    shown = preview_file(io.BytesIO(b"nome;celular;cidade\nAna;11987654321;Recife\n"))
    assert shown.address_book is None
    assert shown.mapping["celular"] == ColumnTarget.PHONE


def test_a_phone_list_in_any_file_gives_its_first_valid_number(
    session: Session, manager: Actor
) -> None:
    data = b"phone,name\n123 ::: (11) 98765-4321 ::: +55 21 99876-5432,Ana\n"
    batch, found = imported(session, manager, data, False)
    assert batch.created_count == 1 and list(found) == ["+5511987654321"]


def test_labels_and_attribute_names_read_address_books_as_people_do() -> None:
    assert split_labels("* myContacts ::: VIP ::: * starred ::: * Family") == ["vip", "family"]
    assert split_labels("* myContacts") == []
    assert attribute_key("E-mail 1 - Value") == "email"
    assert attribute_key("E-mail 2 - Value") == "email_2"
    assert attribute_key("Organization 1 - Title") == "organization_title"
    assert attribute_key("Data de Nascimento") == "data_de_nascimento"
