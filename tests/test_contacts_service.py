"""The contacts service: filters, edits, opt-out, delete, export (formula-safe), access."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import contacts
from core.base import NotFound, PermissionDenied, ValidationError, utcnow
from core.contacts import _export as contacts_export
from core.models import Account, AuditLog, Contact, Label, WhatsAppStatus, contact_labels
from core.people import Actor
from tests.builders import make_account, make_contact


@pytest.fixture
def people(session: Session, account: Account) -> dict[str, Contact]:
    made = {
        "ana": make_contact(
            session, account, "+5511987654321", "Ana Souza", labels=["vip", "sp"], city="Recife"
        ),
        "bia": make_contact(session, account, "+5521998765432", "Bia", labels=["vip"], city="Rio"),
        "caio": make_contact(session, account, "+5531998765432", "Caio", labels=["lead"], age=30),
        "dora": make_contact(session, account, "+14155552671", "Dora", active=True),
    }
    made["caio"].opted_out_at = utcnow()
    made["dora"].whatsapp_status = WhatsAppStatus.NOT_ON_WHATSAPP
    other = make_account(session, "Other")
    make_contact(session, other, "+5511987654321", "Not ours", labels=["vip"], city="Recife")
    session.commit()
    return made


def names(rows: list[Contact]) -> set[str]:
    return {c.name or "" for c in rows}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, {"Ana Souza", "Bia", "Caio", "Dora"}),
        ({"search": "souza"}, {"Ana Souza"}),
        ({"search": "998765"}, {"Bia", "Caio"}),
        ({"search": "(21) 99876"}, {"Bia"}),
        ({"search": "%"}, set()),
        ({"labels": ["VIP"]}, {"Ana Souza", "Bia"}),
        ({"labels": ["sp", "lead"]}, {"Ana Souza", "Caio"}),
        ({"labels": ["vip", "sp"], "labels_match": "all"}, {"Ana Souza"}),
        ({"attribute": "city", "attribute_value": "recife"}, {"Ana Souza"}),
        ({"attribute": "city"}, {"Ana Souza", "Bia"}),
        ({"attribute": "age", "attribute_value": "30"}, {"Caio"}),
        ({"attribute": "active", "attribute_value": "true"}, {"Dora"}),
        ({"opted_out": True}, {"Caio"}),
        ({"opted_out": False}, {"Ana Souza", "Bia", "Dora"}),
        ({"whatsapp_status": "not_on_whatsapp"}, {"Dora"}),
        ({"labels": ["vip"], "attribute": "city", "attribute_value": "Rio"}, {"Bia"}),
    ],
)
def test_filters_narrow_the_list_within_the_account(
    session: Session, viewer: Actor, people: dict[str, Contact], filters: dict, expected: set
) -> None:
    rows, total = contacts.list_contacts(session, viewer, filters)

    assert names(rows) == expected
    assert total == len(expected)


def test_pages_are_newest_first_and_total_counts_all(
    session: Session, viewer: Actor, people: dict[str, Contact]
) -> None:
    first, total = contacts.list_contacts(session, viewer, {}, page=1, per_page=3)
    second, _ = contacts.list_contacts(session, viewer, {}, page=2, per_page=3)

    assert total == 4
    assert [c.name for c in first] == ["Dora", "Caio", "Bia"]
    assert [c.name for c in second] == ["Ana Souza"]


def test_label_names_and_attribute_keys_for_pickers(
    session: Session, viewer: Actor, people: dict[str, Contact]
) -> None:
    assert contacts.label_names(session, viewer) == ["lead", "sp", "vip"]
    assert contacts.attribute_keys(session, viewer) == ["active", "age", "city"]


def test_attribute_keys_follow_an_edit_that_leaves_the_latest_change_time_where_it_was(
    session: Session, account: Account, manager: Actor, people: dict[str, Contact]
) -> None:
    """A contact written by a host whose clock runs ahead keeps max(updated_at) in the future,
    so a later edit does not move the (count, max(updated_at), max(id)) version the audience
    snapshot is cached on; its attribute names lagged behind. These are read from the contacts."""
    people["dora"].updated_at = utcnow() + timedelta(minutes=2)
    session.commit()
    assert contacts.attribute_keys(session, manager) == ["active", "age", "city"]

    contacts.update_contact(
        session, manager, people["bia"].id, custom_attributes={"city": "Rio", "plan": "gold"}
    )
    session.commit()

    assert contacts.attribute_keys(session, manager) == ["active", "age", "city", "plan"]


def test_attribute_keys_leave_out_documents_that_are_not_objects(
    session: Session, account: Account, viewer: Actor, people: dict[str, Contact]
) -> None:
    odd = make_contact(session, account, "+5511911113333", "Odd")
    odd.custom_attributes = ["listed", "values"]  # type: ignore[assignment]
    scalar = make_contact(session, account, "+5511911114444", "Scalar")
    scalar.custom_attributes = "text"  # type: ignore[assignment]
    session.commit()

    assert contacts.attribute_keys(session, viewer) == ["active", "age", "city"]


def test_contacts_are_found_by_part_of_the_name_or_phone_for_picking_by_hand(
    session: Session, viewer: Actor, people: dict[str, Contact]
) -> None:
    def found(query: str) -> list[str | None]:
        return [row["name"] for row in contacts.find_contacts(session, viewer, query)]

    assert found("souza") == ["Ana Souza"]
    assert found("99876") == ["Bia", "Caio"]  # never the other account's contacts
    assert found("") == ["Ana Souza", "Bia", "Caio", "Dora"]
    assert len(contacts.find_contacts(session, viewer, "", limit=2)) == 2
    assert contacts.find_contacts(session, viewer, "nobody") == []


def test_contacts_by_ids_give_only_the_accounts_own(
    session: Session, viewer: Actor, people: dict[str, Contact]
) -> None:
    theirs = session.scalar(select(Contact.id).where(Contact.name == "Not ours"))
    wanted = [people["caio"].id, people["ana"].id, theirs, 999_999]

    rows = contacts.contacts_by_ids(session, viewer, wanted)

    assert rows == [
        {"id": people["ana"].id, "phone": "+5511987654321", "name": "Ana Souza"},
        {"id": people["caio"].id, "phone": "+5531998765432", "name": "Caio"},
    ]
    assert contacts.contacts_by_ids(session, viewer, []) == []


def test_other_accounts_contacts_are_not_found(
    session: Session, manager: Actor, people: dict[str, Contact]
) -> None:
    theirs = session.scalar(select(Contact).where(Contact.name == "Not ours"))
    assert theirs is not None
    with pytest.raises(NotFound):
        contacts.get_contact(session, manager, theirs.id)
    with pytest.raises(NotFound):
        contacts.update_contact(session, manager, theirs.id, name="Mine now")
    with pytest.raises(NotFound):
        contacts.delete_contact(session, manager, theirs.id)
    with pytest.raises(NotFound):
        contacts.set_opted_out(session, manager, theirs.id, True)


def test_edit_labels_and_attributes(
    session: Session, manager: Actor, people: dict[str, Contact]
) -> None:
    ana = people["ana"]
    before = ana.updated_at = utcnow() - timedelta(hours=1)
    session.commit()

    contacts.update_contact(
        session,
        manager,
        ana.id,
        name=" Ana S. ",
        labels=["Cliente", "vip", "cliente"],
        custom_attributes={"City": "Olinda", "Plano": "pro", "empty": ""},
    )
    session.commit()

    session.expire_all()
    ana = session.get(Contact, people["ana"].id)
    assert ana is not None
    assert ana.name == "Ana S."
    assert ana.label_names == ["cliente", "vip"]
    assert ana.custom_attributes == {"city": "Olinda", "plano": "pro"}
    assert ana.updated_at > before
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "contact.update")).one()
    assert audit.details == {"changed": ["name", "labels", "custom_attributes"]}


def test_an_edit_that_changes_nothing_does_not_touch_the_contact(
    session: Session, manager: Actor, people: dict[str, Contact]
) -> None:
    bia = people["bia"]
    before = bia.updated_at = utcnow() - timedelta(hours=1)
    session.commit()

    contacts.update_contact(
        session, manager, bia.id, name="Bia", labels=["VIP"], custom_attributes={"city": "Rio"}
    )
    session.commit()

    session.expire_all()
    assert session.get(Contact, bia.id).updated_at == before  # type: ignore[union-attr]


def test_edit_rejects_bad_values(
    session: Session, manager: Actor, people: dict[str, Contact]
) -> None:
    ana = people["ana"]
    with pytest.raises(ValidationError, match="already exists"):
        contacts.update_contact(session, manager, ana.id, phone="(21) 99876-5432")
    with pytest.raises(ValidationError, match="too short"):
        contacts.update_contact(session, manager, ana.id, phone="123")
    with pytest.raises(ValidationError, match="must be text, a number"):
        contacts.update_contact(session, manager, ana.id, custom_attributes={"x": {"a": 1}})
    with pytest.raises(ValidationError, match="longer than 200"):
        contacts.update_contact(session, manager, ana.id, name="x" * 201)


def test_create_contact_normalises_and_refuses_duplicates(
    session: Session, manager: Actor, people: dict[str, Contact]
) -> None:
    contact = contacts.create_contact(
        session, manager, "(85) 99999-0000", "Eva", ["New"], {"City": "Fortaleza"}
    )
    session.commit()

    assert contacts.contact_json(contact) == {
        "id": contact.id,
        "phone": "+5585999990000",
        "name": "Eva",
        "labels": ["new"],
        "custom_attributes": {"city": "Fortaleza"},
        "opted_out": False,
        "opted_out_at": None,
        "whatsapp_status": "unknown",
        "chatwoot_contact_id": None,
    }
    with pytest.raises(ValidationError, match="already exists"):
        contacts.create_contact(session, manager, "+55 85 99999-0000")


def test_opt_out_and_back_in(session: Session, manager: Actor, people: dict[str, Contact]) -> None:
    bia = people["bia"]
    before = bia.updated_at = utcnow() - timedelta(hours=1)
    session.commit()

    contacts.set_opted_out(session, manager, bia.id, True)
    session.commit()
    opted_out_at = bia.opted_out_at
    assert opted_out_at is not None and bia.updated_at > before
    assert contacts.list_contacts(session, manager, {"opted_out": True})[1] == 2

    contacts.set_opted_out(session, manager, bia.id, True)  # again: nothing changes
    assert bia.opted_out_at == opted_out_at

    contacts.set_opted_out(session, manager, bia.id, False)
    session.commit()
    assert bia.opted_out_at is None
    actions = session.scalars(
        select(AuditLog.action).where(AuditLog.object_id == str(bia.id)).order_by(AuditLog.id)
    ).all()
    assert actions == ["contact.opt_out", "contact.opt_in"]


def test_opt_out_by_phone_for_webhooks(
    session: Session, account: Account, people: dict[str, Contact]
) -> None:
    receiver = Actor.system(account.id)
    contact = contacts.opt_out_by_phone(session, receiver, "5521998765432")
    session.commit()

    assert contact is not None and contact.id == people["bia"].id
    assert contact.opted_out_at is not None
    assert contacts.opt_out_by_phone(session, receiver, "+5599999999999") is None
    other = session.scalar(select(Contact).where(Contact.name == "Not ours"))
    assert other is not None and other.opted_out_at is None


def test_delete_removes_contact_and_its_label_links(
    session: Session, manager: Actor, people: dict[str, Contact]
) -> None:
    ana_id = people["ana"].id

    contacts.delete_contact(session, manager, ana_id)
    session.commit()

    assert session.get(Contact, ana_id) is None
    links = select(func.count()).select_from(contact_labels)
    assert session.scalar(links.where(contact_labels.c.contact_id == ana_id)) == 0
    assert session.scalar(select(func.count()).select_from(Label).where(Label.name == "sp")) == 1


def test_viewers_read_but_do_not_write(
    session: Session, viewer: Actor, people: dict[str, Contact]
) -> None:
    contact_id = people["ana"].id
    assert contacts.get_contact(session, viewer, contact_id).name == "Ana Souza"
    for attempt in (
        lambda: contacts.update_contact(session, viewer, contact_id, name="x"),
        lambda: contacts.delete_contact(session, viewer, contact_id),
        lambda: contacts.set_opted_out(session, viewer, contact_id, True),
        lambda: contacts.create_contact(session, viewer, "+5511911112222"),
    ):
        with pytest.raises(PermissionDenied):
            attempt()


def _export(session: Session, actor: Actor, filters: dict | None = None) -> list[list[str]]:
    data = b"".join(contacts.export_csv(session, actor, filters))
    assert data.startswith(b"\xef\xbb\xbf")  # BOM, so Excel reads UTF-8
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_export_follows_the_filters(
    session: Session, viewer: Actor, people: dict[str, Contact]
) -> None:
    rows = _export(session, viewer, {"labels": ["vip"]})

    assert rows[0] == [
        "phone",
        "name",
        "labels",
        "opted_out",
        "whatsapp_status",
        "active",
        "age",
        "city",
    ]
    assert rows[1:] == [
        ["'+5511987654321", "Ana Souza", "sp, vip", "no", "unknown", "", "", "Recife"],
        ["'+5521998765432", "Bia", "vip", "no", "unknown", "", "", "Rio"],
    ]


def test_export_neutralises_spreadsheet_formulas(
    session: Session, manager: Actor, account: Account
) -> None:
    make_contact(
        session,
        account,
        "+5511987654321",
        '=HYPERLINK("http://evil","x")',
        labels=["@sum(a1)"],
        note="+cmd|' /C calc'!A0",
        minus="-2+3",
        tab="\t=1",
        safe="plain",
        number=-5,
    )
    session.commit()

    header, row = _export(session, manager)

    values = dict(zip(header, row, strict=True))
    assert values["name"] == '\'=HYPERLINK("http://evil","x")'
    assert values["labels"] == "'@sum(a1)"
    assert values["note"] == "'+cmd|' /C calc'!A0"
    assert values["minus"] == "'-2+3"
    assert values["tab"] == "'\t=1"
    assert values["safe"] == "plain"
    assert values["number"] == "'-5"
    assert all(not v or v[0] not in "=+-@\t\r" for v in row)


def test_export_streams_every_contact_in_batches(
    session: Session, viewer: Actor, account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(contacts_export, "EXPORT_BATCH", 7)
    for n in range(30):
        make_contact(
            session, account, f"+55119876540{n:02d}", f"P{n}", labels=["x"] if n % 2 else []
        )
    session.commit()

    rows = _export(session, viewer)

    assert len(rows) == 31
    assert {r[1] for r in rows[1:]} == {f"P{n}" for n in range(30)}
    assert sum(1 for r in rows[1:] if r[2] == "x") == 15


def test_a_template_asks_only_whether_its_own_variables_are_in_use(session, manager, account):
    make_contact(session, account, name="Ana", plan="gold", **{"due.date": "2026-12-24"})
    make_contact(session, account, name="Bia", city="Rio")
    session.commit()
    asked = {"plan", "city", "due.date", "age", "name"}
    assert contacts.attribute_keys_used(session, manager, asked) == {"plan", "city", "due.date"}
    assert contacts.attribute_keys_used(session, manager, set()) == set()
