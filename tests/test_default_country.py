"""The country of local numbers: taken from the timezone when an account is made (`make run`'s
bootstrap asks nothing), shown in Account settings, pre-filled in the import and remembered."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from core import people
from core.cli import main
from core.models import Account, Contact, Membership
from tests.builders import make_account, make_actor

ROOT = Path(__file__).resolve().parent.parent
LOCAL_NUMBERS = b"nome,celular\nAna,(11) 98765-4321\nBia,21 99876-5432\nCaio,(81) 99123-4567\n"


def page(name: str, actor: people.Actor) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / name), default_timeout=30)
    at.session_state["actor"] = actor
    return at


@pytest.mark.parametrize(
    ("timezone", "country"),
    [
        ("America/Sao_Paulo", "BR"),
        ("America/Manaus", "BR"),
        ("America/Mexico_City", "MX"),
        ("Europe/Lisbon", "PT"),
        ("UTC", None),
    ],
)
def test_a_new_account_takes_its_timezones_country(
    session: Session, timezone: str, country: str | None
) -> None:
    assert people.create_account(session, "Loja", timezone).default_country == country


def test_a_country_given_at_creation_wins(session: Session) -> None:
    account = people.create_account(session, "Loja", "America/Sao_Paulo", "pt")
    assert account.default_country == "PT"


def test_a_browser_suggests_its_languages_country_else_its_timezones() -> None:
    assert people.suggested_country("pt-BR", "Europe/Paris") == "BR"
    assert people.suggested_country("es", "America/Bogota") == "CO"
    assert people.suggested_country("en", "UTC") is None
    assert people.suggested_country(None, None) is None


def test_bootstrap_takes_the_machines_timezone_and_its_country(
    engine, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "America/Sao_Paulo")
    assert main(["bootstrap"]) == 0
    out = capsys.readouterr().out
    assert "America/Sao_Paulo" in out and "BR" in out
    with Session(engine) as session:
        account = session.scalars(select(Account)).one()
        assert (account.timezone, account.default_country) == ("America/Sao_Paulo", "BR")


def test_a_brazilian_file_of_local_numbers_imports_with_the_prefilled_country(
    session: Session,
) -> None:
    account = people.create_account(session, "Loja da Ana", "America/Sao_Paulo")  # as bootstrap
    manager = make_actor(session, account, "manager", "bruno")
    session.commit()

    at = page("contacts.py", manager).run()
    at.file_uploader(key="contacts_upload").upload("clientes.csv", LOCAL_NUMBERS, "text/csv")
    at.run()
    assert at.text_input(key="contacts_country").value == "BR"
    at.button(key="contacts_import").click().run()

    assert not at.exception
    assert next(m for m in at.metric if m.label == "Created").value == "3"
    session.expire_all()
    phones = set(session.scalars(select(Contact.phone)))
    assert phones == {"+5511987654321", "+5521998765432", "+5581991234567"}


def test_the_import_remembers_each_persons_last_country(session: Session) -> None:
    account = make_account(session, "Tienda", timezone="UTC")  # no default country
    assert account.default_country is None
    manager = make_actor(session, account, "manager", "lucia")
    other = make_actor(session, account, "manager", "pablo")
    session.commit()

    at = page("contacts.py", manager).run()
    at.file_uploader(key="contacts_upload").upload("clientes.csv", LOCAL_NUMBERS, "text/csv")
    at.run()
    assert at.text_input(key="contacts_country").value == ""
    assert any("No country" in c.value for c in at.caption)
    at.text_input(key="contacts_country").input("br")
    at.button(key="contacts_import").click().run()
    assert next(m for m in at.metric if m.label == "Created").value == "3"

    again = page("contacts.py", manager).run()  # another day, the same file
    again.file_uploader(key="contacts_upload").upload("clientes.csv", LOCAL_NUMBERS, "text/csv")
    again.run()
    assert again.text_input(key="contacts_country").value == "BR"
    again.button(key="contacts_import").click().run()
    assert next(m for m in again.metric if m.label == "Unchanged").value == "3"
    assert next(m for m in again.metric if m.label == "Rejected").value == "0"

    session.expire_all()
    remembered = dict(session.execute(select(Membership.user_id, Membership.import_country)).all())
    assert remembered == {manager.user_id: "BR", other.user_id: None}  # per person
    assert session.get(Account, account.id).default_country is None  # the account's is its own


def test_account_settings_show_the_default_country(session: Session) -> None:
    account = people.create_account(session, "Loja", "America/Sao_Paulo")
    admin = make_actor(session, account, "admin", "ana")
    session.commit()

    at = page("account_settings.py", admin).run()
    assert not at.exception
    country = next(s for s in at.selectbox if s.label.startswith("Default country"))
    assert country.value == "BR"
    country.set_value("PT")
    next(b for b in at.button if b.label == "Save").click().run()
    session.expire_all()
    assert session.get(Account, account.id).default_country == "PT"
