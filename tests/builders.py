"""Plain builder functions for test data (no factory framework)."""

from __future__ import annotations

from itertools import count
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import accounts
from core.access import Actor
from core.models import Account, Contact, Label, Role

_sequence = count(1)


def make_account(session: Session, name: str = "Shop", **fields: Any) -> Account:
    account = accounts.create_account(session, name, fields.pop("timezone", "UTC"))
    for key, value in fields.items():
        setattr(account, key, value)
    session.flush()
    return account


def make_actor(
    session: Session, account: Account, role: Role | str = Role.MANAGER, username: str | None = None
) -> Actor:
    role = Role(role)
    username = username or f"{role}{next(_sequence)}"
    user = accounts.create_user(session, username, "correct horse battery", account.id, role)
    session.flush()
    return Actor(user.id, account.id, role, username)


def label(session: Session, account: Account, name: str) -> Label:
    existing = session.scalar(
        select(Label).where(Label.account_id == account.id, Label.name == name)
    )
    if existing:
        return existing
    created = Label(account_id=account.id, name=name)
    session.add(created)
    session.flush()
    return created


def make_contact(
    session: Session,
    account: Account,
    phone: str | None = None,
    name: str | None = None,
    labels: list[str] = (),  # type: ignore[assignment]
    **attributes: Any,
) -> Contact:
    contact = Contact(
        account_id=account.id,
        phone=phone or f"+55119{next(_sequence):08d}",
        name=name,
        custom_attributes=dict(attributes),
    )
    contact.labels = [label(session, account, name) for name in labels]
    session.add(contact)
    session.flush()
    return contact
