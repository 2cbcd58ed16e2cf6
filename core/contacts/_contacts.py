"""Contacts of an account: list and filter, edit, opt out and in, delete, export.

Every write to a contact (labels and opt-out included) sets `updated_at`, so caches keyed on the
account's contacts (count, max(updated_at), max(id)) notice it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, and_, cast, func, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core import people
from core.base import NotFound, ValidationError, escape_cell, utcnow
from core.contacts._importer import MAX_LABEL, MAX_NAME, attribute_key, split_labels
from core.contacts._phones import normalize_phone
from core.models import Contact, Label, WhatsAppStatus, contact_labels
from core.people import Actor, get_account, require

EXPORT_BATCH = 2000
MAX_PER_PAGE = 500


@dataclass(frozen=True)
class ContactFilters:
    """Every field that is set narrows the list (AND)."""

    search: str = ""  # part of the phone (digits) or of the name
    labels: Sequence[str] = ()
    labels_match: str = "any"  # "any" | "all"
    attribute: str | None = None  # custom attribute key ...
    attribute_value: str | None = None  # ... equal to this (None: the key is present)
    opted_out: bool | None = None
    whatsapp_status: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, filters: ContactFilters | dict[str, Any] | None) -> ContactFilters:
        if filters is None:
            return cls()
        if isinstance(filters, ContactFilters):
            return filters
        known = {k: v for k, v in filters.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _conditions(session: Session, account_id: int, filters: ContactFilters) -> list[Any]:
    conditions: list[Any] = [Contact.account_id == account_id]
    search = filters.search.strip()
    if search:
        pattern = (
            "%" + search.lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_") + "%"
        )
        digits = "".join(ch for ch in search if ch.isdigit())
        matches = [func.lower(Contact.name).like(pattern, escape="\\")]
        if digits:
            matches.append(Contact.phone.like(f"%{digits}%"))
        conditions.append(or_(*matches))
    labels = [name for name in (n.strip().lower() for n in filters.labels) if name]
    if labels:
        labelled = (
            select(contact_labels.c.contact_id)
            .join(Label, Label.id == contact_labels.c.label_id)
            .where(Label.account_id == account_id, Label.name.in_(labels))
        )
        if filters.labels_match == "all":
            labelled = labelled.group_by(contact_labels.c.contact_id).having(
                func.count(func.distinct(Label.id)) == len(set(labels))
            )
        conditions.append(Contact.id.in_(labelled))
    if filters.attribute:
        conditions.append(_attribute_condition(session, filters.attribute, filters.attribute_value))
    if filters.opted_out is True:
        conditions.append(Contact.opted_out_at.is_not(None))
    elif filters.opted_out is False:
        conditions.append(Contact.opted_out_at.is_(None))
    if filters.whatsapp_status:
        conditions.append(Contact.whatsapp_status == filters.whatsapp_status)
    return conditions


def _attribute_condition(session: Session, key: str, value: str | None) -> ColumnElement[bool]:
    # Stored values are never null (empty cells are not stored), so "extracted as text is not
    # null" means "the contact has this attribute" on SQLite and PostgreSQL alike.
    extracted = Contact.custom_attributes[key].as_string()
    if value is None or value.strip() == "":
        return extracted.is_not(None)
    wanted = value.strip().lower()
    candidates = {wanted}
    if wanted in ("true", "false"):
        candidates.add("1" if wanted == "true" else "0")  # SQLite hands JSON booleans back as 1/0
    return and_(extracted.is_not(None), func.lower(cast(extracted, String)).in_(candidates))


def list_contacts(
    session: Session,
    actor: Actor,
    filters: ContactFilters | dict[str, Any] | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[Contact], int]:
    """One page of the account's contacts (newest first) and how many match in all."""
    require(actor, "contacts.read")
    filters = ContactFilters.of(filters)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    page = max(1, page)
    conditions = _conditions(session, actor.account_id, filters)
    total = session.scalar(select(func.count()).select_from(Contact).where(*conditions)) or 0
    rows = list(
        session.scalars(
            select(Contact)
            .where(*conditions)
            .order_by(Contact.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    return rows, total


def get_contact(session: Session, actor: Actor, contact_id: int) -> Contact:
    require(actor, "contacts.read")
    return _own(session, actor, contact_id)


def _own(session: Session, actor: Actor, contact_id: int) -> Contact:
    return people.load_owned(session, actor, Contact, contact_id, "contact")


def label_names(session: Session, actor: Actor) -> list[str]:
    """The account's labels, for filters and pickers."""
    require(actor, "contacts.read")
    return list(
        session.scalars(
            select(Label.name).where(Label.account_id == actor.account_id).order_by(Label.name)
        )
    )


def contacts_version(session: Session, actor: Actor) -> tuple[int, str, int]:
    """Changes whenever any of the account's contacts does: a key for caches in the UI."""
    require(actor, "contacts.read")
    count, updated, last = session.execute(
        select(func.count(), func.max(Contact.updated_at), func.max(Contact.id)).where(
            Contact.account_id == actor.account_id
        )
    ).one()
    return count, str(updated), last or 0


def attribute_keys(session: Session, actor: Actor) -> list[str]:
    """Every custom attribute name used by the account's contacts."""
    require(actor, "contacts.read")
    if session.get_bind().dialect.name == "postgresql":
        query = text(
            "SELECT DISTINCT jsonb_object_keys(custom_attributes) AS key FROM contacts "
            "WHERE account_id = :account_id AND jsonb_typeof(custom_attributes) = 'object'"
        )
    else:
        query = text(
            "SELECT DISTINCT j.key FROM contacts, json_each(contacts.custom_attributes) AS j "
            "WHERE contacts.account_id = :account_id AND json_type(contacts.custom_attributes) "
            "= 'object'"
        )
    return sorted(session.scalars(query, {"account_id": actor.account_id}))


def _labels_for(session: Session, account_id: int, names: Sequence[str]) -> list[Label]:
    wanted = list(dict.fromkeys(n for name in names for n in split_labels(name)))
    for name in wanted:
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
        cleaned[name] = value
    return cleaned


def _clean_name(name: str | None) -> str | None:
    name = (name or "").strip()
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
    contact = _own(session, actor, contact_id)
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
        people.record_audit(
            session, actor, "contact.update", "contact", contact.id, {"changed": changed}
        )
    return contact


def delete_contact(session: Session, actor: Actor, contact_id: int) -> None:
    require(actor, "contacts.write")
    contact = _own(session, actor, contact_id)
    phone = contact.phone
    session.delete(contact)
    session.flush()
    people.record_audit(session, actor, "contact.delete", "contact", contact_id, {"phone": phone})


def set_opted_out(
    session: Session, actor: Actor | None, contact_id: int, opted_out: bool
) -> Contact:
    """Opt a contact out (or back in). `actor` None: the system acting on the contact's account."""
    if actor is not None:
        require(actor, "contacts.write")
        contact = _own(session, actor, contact_id)
    else:
        found = session.get(Contact, contact_id)
        if found is None:
            raise NotFound("contact {id} does not exist", id=contact_id)
        contact = found
    if opted_out == (contact.opted_out_at is not None):
        return contact
    now = utcnow()
    contact.opted_out_at = now if opted_out else None
    contact.updated_at = now
    session.flush()
    people.record_audit(
        session,
        actor or Actor.system(contact.account_id),
        "contact.opt_out" if opted_out else "contact.opt_in",
        "contact",
        contact.id,
        {"phone": contact.phone},
    )
    return contact


def opt_out_by_phone(session: Session, account_id: int, phone: str) -> Contact | None:
    """Opt out the account's contact with this phone (webhooks: a STOP reply); None if unknown."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if not digits:
        return None
    contact = session.scalar(
        select(Contact).where(Contact.account_id == account_id, Contact.phone == "+" + digits)
    )
    if contact is None:
        return None
    return set_opted_out(session, None, contact.id, True)


def contact_json(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "phone": contact.phone,
        "name": contact.name,
        "labels": contact.label_names,
        "custom_attributes": dict(contact.custom_attributes or {}),
        "opted_out": contact.opted_out_at is not None,
        "opted_out_at": contact.opted_out_at.isoformat() if contact.opted_out_at else None,
        "whatsapp_status": contact.whatsapp_status,
    }


# --- export --------------------------------------------------------------------------------------

EXPORT_COLUMNS = ["phone", "name", "labels", "opted_out", "whatsapp_status"]


def export_rows(
    session: Session, actor: Actor, filters: ContactFilters | dict[str, Any] | None = None
) -> tuple[list[str], Iterator[list[Any]]]:
    """Header and rows of the filtered contacts, streamed in batches (fine at a million)."""
    require(actor, "contacts.read")
    filters = ContactFilters.of(filters)
    keys = attribute_keys(session, actor)
    conditions = _conditions(session, actor.account_id, filters)
    header = [*EXPORT_COLUMNS, *keys]

    def rows() -> Iterator[list[Any]]:
        last_id = 0
        while True:
            batch = session.execute(
                select(
                    Contact.id,
                    Contact.phone,
                    Contact.name,
                    Contact.custom_attributes,
                    Contact.opted_out_at,
                    Contact.whatsapp_status,
                )
                .where(*conditions, Contact.id > last_id)
                .order_by(Contact.id)
                .limit(EXPORT_BATCH)
            ).all()
            if not batch:
                return
            last_id = batch[-1].id
            names: dict[int, list[str]] = {}
            for contact_id, name in session.execute(
                select(contact_labels.c.contact_id, Label.name)
                .join(Label, Label.id == contact_labels.c.label_id)
                .where(contact_labels.c.contact_id.in_([r.id for r in batch]))
                .order_by(Label.name)
            ):
                names.setdefault(contact_id, []).append(name)
            for r in batch:
                attributes = r.custom_attributes or {}
                yield [
                    r.phone,
                    r.name or "",
                    ", ".join(names.get(r.id, [])),
                    "yes" if r.opted_out_at else "no",
                    r.whatsapp_status,
                    *(attributes.get(key, "") for key in keys),
                ]

    return header, rows()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape_cell(str(value))


def export_csv(
    session: Session, actor: Actor, filters: ContactFilters | dict[str, Any] | None = None
) -> Iterator[bytes]:
    """The filtered contacts as UTF-8 CSV (with BOM, for Excel), in chunks.

    Any cell starting with = + - @ (or tab / carriage return) gets a leading ' so a spreadsheet
    shows it as text instead of running it as a formula; phones therefore read '+55...,
    which the importer accepts back as they are.
    """
    header, rows = export_rows(session, actor, filters)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow([_cell(h) for h in header])
    yield buffer.getvalue().encode("utf-8-sig")
    buffer.seek(0)
    buffer.truncate()
    for count, row in enumerate(rows, start=1):
        writer.writerow([_cell(v) for v in row])
        if count % EXPORT_BATCH == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    rest = buffer.getvalue()
    if rest:
        yield rest.encode("utf-8")
