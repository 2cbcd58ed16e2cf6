"""Editing an account's contacts: create, change, delete, opt out and back in.

Every write to a contact (labels and opt-out included) sets `updated_at` and bumps the account's
contacts revision (`_revision`), so caches of the account's contacts notice it. Every function checks
`contacts.write` and records the change in the audit log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session

from core import people
from core.base import ValidationError, utcnow
from core.contacts._fields import (
    MAX_LABEL,
    MAX_NAME,
    attribute_key,
    check_attribute_count,
    check_attribute_value,
    split_labels,
)
from core.contacts._listing import owned_contact
from core.contacts._phones import normalize_phone
from core.contacts._revision import bump_contacts_revision
from core.models import Contact, Label, WhatsAppStatus
from core.people import Actor, get_account, require


def _labels_for(session: Session, account_id: int, names: Sequence[str]) -> list[Label]:
    wanted = list(dict.fromkeys(n for name in names for n in split_labels(name)))
    for name in wanted:
        if "\x00" in name:
            raise ValidationError("a label contains a NUL character", "labels")
        if len(name) > MAX_LABEL:
            raise ValidationError(
                "label {label!r} is longer than {count} characters",
                "labels",
                label=name[:30],
                count=MAX_LABEL,
            )
    if not wanted:
        return []
    existing = {
        label.name: label
        for label in session.scalars(
            select(Label).where(Label.account_id == account_id, Label.name.in_(wanted))
        )
    }
    for name in wanted:
        if name not in existing:
            existing[name] = Label(account_id=account_id, name=name)
            session.add(existing[name])
    return [existing[name] for name in wanted]


def _clean_attributes(attributes: dict[str, Any] | None) -> dict[str, Any]:
    if attributes is None:
        return {}
    if not isinstance(attributes, dict):
        raise ValidationError(
            "custom attributes must be an object of name: value", "custom_attributes"
        )
    cleaned: dict[str, Any] = {}
    for key, value in attributes.items():
        name = attribute_key(str(key))
        if not name:
            raise ValidationError("a custom attribute needs a name", "custom_attributes")
        if value is None or value == "":
            continue  # empty values are not stored
        if isinstance(value, dict | list):
            raise ValidationError(
                "custom attribute {name!r} must be text, a number or true/false",
                "custom_attributes",
                name=name,
            )
        cleaned[name] = check_attribute_value(name, value)
    check_attribute_count(len(cleaned))
    return cleaned


def _clean_name(name: str | None) -> str | None:
    name = (name or "").strip()
    if "\x00" in name:
        raise ValidationError("name contains a NUL character", "name")
    if len(name) > MAX_NAME:
        raise ValidationError("name is longer than {count} characters", "name", count=MAX_NAME)
    return name or None


def create_contact(
    session: Session,
    actor: Actor,
    phone: str,
    name: str | None = None,
    labels: Sequence[str] = (),
    custom_attributes: dict[str, Any] | None = None,
) -> Contact:
    require(actor, "contacts.write")
    account = get_account(session, actor.account_id)
    e164 = normalize_phone(phone, account.default_country)
    if session.scalar(
        select(Contact.id).where(Contact.account_id == account.id, Contact.phone == e164)
    ):
        raise ValidationError("a contact with phone {phone} already exists", "phone", phone=e164)
    contact = Contact(
        account_id=account.id,
        phone=e164,
        name=_clean_name(name),
        custom_attributes=_clean_attributes(custom_attributes),
        whatsapp_status=WhatsAppStatus.UNKNOWN,
    )
    contact.labels = _labels_for(session, account.id, labels)
    session.add(contact)
    session.flush()
    bump_contacts_revision(session, account.id)
    people.record_audit(session, actor, "contact.create", "contact", contact.id, {"phone": e164})
    return contact


_UNSET: Any = object()


def update_contact(
    session: Session,
    actor: Actor,
    contact_id: int,
    *,
    phone: str | None = None,
    name: str | None = _UNSET,
    labels: Sequence[str] | None = None,
    custom_attributes: dict[str, Any] | None = None,
) -> Contact:
    """Change what is given: `labels` and `custom_attributes` replace the current ones."""
    require(actor, "contacts.write")
    contact = owned_contact(session, actor, contact_id)
    changed: list[str] = []
    if phone is not None:
        account = get_account(session, actor.account_id)
        e164 = normalize_phone(phone, account.default_country)
        if e164 != contact.phone:
            clash = session.scalar(
                select(Contact.id).where(
                    Contact.account_id == actor.account_id, Contact.phone == e164
                )
            )
            if clash:
                raise ValidationError(
                    "a contact with phone {phone} already exists", "phone", phone=e164
                )
            contact.phone = e164
            contact.whatsapp_status = WhatsAppStatus.UNKNOWN
            changed.append("phone")
    if name is not _UNSET:
        new_name = _clean_name(name)
        if new_name != contact.name:
            contact.name = new_name
            changed.append("name")
    if labels is not None:
        new_labels = _labels_for(session, actor.account_id, labels)
        if sorted(label.name for label in new_labels) != contact.label_names:
            contact.labels = new_labels
            changed.append("labels")
    if custom_attributes is not None:
        attributes = _clean_attributes(custom_attributes)
        if attributes != (contact.custom_attributes or {}):
            contact.custom_attributes = attributes
            changed.append("custom_attributes")
    if changed:
        contact.updated_at = utcnow()
        session.flush()
        bump_contacts_revision(session, contact.account_id)
        people.record_audit(
            session, actor, "contact.update", "contact", contact.id, {"changed": changed}
        )
    return contact


def delete_contact(session: Session, actor: Actor, contact_id: int) -> None:
    require(actor, "contacts.write")
    contact = owned_contact(session, actor, contact_id)
    phone = contact.phone
    session.delete(contact)
    session.flush()
    bump_contacts_revision(session, actor.account_id)
    people.record_audit(session, actor, "contact.delete", "contact", contact_id, {"phone": phone})


def set_opted_out(session: Session, actor: Actor, contact_id: int, opted_out: bool) -> Contact:
    """Opt a contact out (or back in)."""
    require(actor, "contacts.write")
    contact = owned_contact(session, actor, contact_id)
    if opted_out == (contact.opted_out_at is not None):
        return contact
    now = utcnow()
    contact.opted_out_at = now if opted_out else None
    contact.updated_at = now
    session.flush()
    bump_contacts_revision(session, contact.account_id)
    people.record_audit(
        session,
        actor,
        "contact.opt_out" if opted_out else "contact.opt_in",
        "contact",
        contact.id,
        {"phone": contact.phone},
    )
    return contact


def opt_out_by_phone(session: Session, actor: Actor, phone: str) -> Contact | None:
    """Opt out the account's contact with this phone (webhooks: a STOP reply); None if unknown."""
    require(actor, "contacts.write")
    digits = "".join(ch for ch in phone if ch.isdigit())
    if not digits:
        return None
    contact_id = session.scalar(
        select(Contact.id).where(
            Contact.account_id == actor.account_id, Contact.phone == "+" + digits
        )
    )
    if contact_id is None:
        return None
    return set_opted_out(session, actor, contact_id, True)


def mark_not_on_whatsapp(
    session: Session | Connection, account_id: int, contact_id: int, now: datetime
) -> None:
    """WhatsApp said the number has no account (the worker, inside its outcome's transaction):
    no campaign includes the contact again until an import or an edit says otherwise."""
    session.execute(
        update(Contact)
        .where(Contact.id == contact_id, Contact.account_id == account_id)
        .values(whatsapp_status=WhatsAppStatus.NOT_ON_WHATSAPP, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    bump_contacts_revision(session, account_id)
