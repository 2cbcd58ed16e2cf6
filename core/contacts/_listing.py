"""Finding an account's contacts: the filtered list, look-ups by id or by a few letters, and
the names pickers offer (labels, attribute names). Reads only; every function checks
`contacts.read`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Boolean, String, and_, case, cast, func, or_, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from core import people
from core.contacts._revision import contacts_revision
from core.models import Contact, Label, contact_labels
from core.people import Actor, require

MAX_PER_PAGE = 500

# Every custom attribute name of the account's contacts. This reads every contact (about a
# second at a million): callers that ask often cache it on `contacts_version`. On SQLite the
# keys of a JSON array are numbers and that of a scalar NULL, so `typeof(key) = 'text'` keeps
# objects' keys without parsing each document a second time for json_type.
_ATTRIBUTE_KEYS_SQL = {
    "postgresql": (
        "SELECT DISTINCT jsonb_object_keys(custom_attributes) AS key FROM contacts "
        "WHERE account_id = :account_id AND jsonb_typeof(custom_attributes) = 'object'"
    ),
    "sqlite": (
        "SELECT DISTINCT j.key FROM contacts, json_each(contacts.custom_attributes) AS j "
        "WHERE contacts.account_id = :account_id AND json_valid(contacts.custom_attributes) "
        "AND typeof(j.key) = 'text'"
    ),
}

# One attribute name, stopping at the first contact that has it.
_ATTRIBUTE_KEY_USED_SQL = {
    "postgresql": (
        "SELECT 1 FROM contacts WHERE account_id = :account_id "
        "AND jsonb_exists(custom_attributes, :key) LIMIT 1"
    ),
    "sqlite": (
        "SELECT 1 FROM contacts, json_each(contacts.custom_attributes) AS j "
        "WHERE contacts.account_id = :account_id AND json_valid(contacts.custom_attributes) "
        "AND j.key = :key LIMIT 1"
    ),
}


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


def filter_conditions(account_id: int, filters: ContactFilters) -> list[Any]:
    """The WHERE conditions of the account's contacts that match `filters`."""
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
        conditions.append(_attribute_condition(filters.attribute, filters.attribute_value))
    if filters.opted_out is True:
        conditions.append(Contact.opted_out_at.is_not(None))
    elif filters.opted_out is False:
        conditions.append(Contact.opted_out_at.is_(None))
    if filters.whatsapp_status:
        conditions.append(Contact.whatsapp_status == filters.whatsapp_status)
    return conditions


class _ValidJSON(FunctionElement[bool]):
    """`json_valid(column)` on SQLite; true elsewhere (PostgreSQL's jsonb holds only JSON)."""

    type = Boolean()
    inherit_cache = True


@compiles(_ValidJSON)
def _valid_json_default(element: _ValidJSON, compiler: Any, **kw: Any) -> str:
    return "true"


@compiles(_ValidJSON, "sqlite")
def _valid_json_sqlite(element: _ValidJSON, compiler: Any, **kw: Any) -> str:
    return f"json_valid({compiler.process(element.clauses, **kw)})"


def _attribute_condition(key: str, value: str | None) -> ColumnElement[bool]:
    # Stored values are never null (empty cells are not stored), so "extracted as text is not
    # null" means "the contact has this attribute" on SQLite and PostgreSQL alike.
    # Guarded by json_valid on SQLite: attributes stored before non-finite numbers were refused
    # ({"x": Infinity}) are not JSON, and json_extract on them failed the whole query.
    extracted = case(
        (_ValidJSON(Contact.custom_attributes), Contact.custom_attributes[key].as_string()),
        else_=None,
    )
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
    conditions = filter_conditions(actor.account_id, filters)
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
    return owned_contact(session, actor, contact_id)


def owned_contact(session: Session, actor: Actor, contact_id: int) -> Contact:
    """The contact if it belongs to the actor's account, else `NotFound` (no role check)."""
    return people.load_owned(session, actor, Contact, contact_id, "contact")


def find_contacts(
    session: Session, actor: Actor, query: str, limit: int = 20
) -> list[dict[str, Any]]:
    """Contacts whose name or phone contains `query` (for picking contacts by hand)."""
    require(actor, "contacts.read")
    stmt = select(Contact.id, Contact.phone, Contact.name).where(
        Contact.account_id == actor.account_id
    )
    query = query.strip()
    if query:
        pattern = f"%{query}%"
        stmt = stmt.where(Contact.name.ilike(pattern) | Contact.phone.like(pattern))
    rows = session.execute(stmt.order_by(Contact.id).limit(limit))
    return [{"id": r.id, "phone": r.phone, "name": r.name} for r in rows]


def contacts_by_ids(
    session: Session, actor: Actor, contact_ids: Sequence[int]
) -> list[dict[str, Any]]:
    """Id, phone and name of the account's contacts among `contact_ids`, in id order."""
    require(actor, "contacts.read")
    if not contact_ids:
        return []
    rows = session.execute(
        select(Contact.id, Contact.phone, Contact.name)
        .where(Contact.account_id == actor.account_id, Contact.id.in_(list(contact_ids)))
        .order_by(Contact.id)
    )
    return [{"id": r.id, "phone": r.phone, "name": r.name} for r in rows]


def label_names(session: Session, actor: Actor) -> list[str]:
    """The account's labels, for filters and pickers."""
    require(actor, "contacts.read")
    return list(
        session.scalars(
            select(Label.name).where(Label.account_id == actor.account_id).order_by(Label.name)
        )
    )


def attribute_keys(session: Session, actor: Actor) -> list[str]:
    """Every custom attribute name used by the account's contacts, read from the contacts
    themselves (never a cache: an export's columns and a template's check rely on it)."""
    require(actor, "contacts.read")
    query = _ATTRIBUTE_KEYS_SQL[session.get_bind().dialect.name]
    return sorted(session.scalars(text(query), {"account_id": actor.account_id}))


def attribute_keys_used(session: Session, actor: Actor, names: Iterable[str]) -> set[str]:
    """Which of `names` some contact of the account has as a custom attribute (a template's
    check: each look-up stops at the first contact that has it, however big the account)."""
    require(actor, "contacts.read")
    query = text(_ATTRIBUTE_KEY_USED_SQL[session.get_bind().dialect.name])
    return {
        name
        for name in set(names)
        if session.scalar(query, {"account_id": actor.account_id, "key": name}) is not None
    }


def contacts_version(session: Session, actor: Actor) -> tuple[int, int, str, int]:
    """Changes whenever any of the account's contacts does: a key for caches in the UI.

    The account's contacts revision first (bumped by every write, an import's included, in
    commit order); the count, latest change and last id as well, for writes made before it."""
    require(actor, "contacts.read")
    count, updated, last = session.execute(
        select(func.count(), func.max(Contact.updated_at), func.max(Contact.id)).where(
            Contact.account_id == actor.account_id
        )
    ).one()
    return contacts_revision(session, actor.account_id), count, str(updated), last or 0


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
        "chatwoot_contact_id": contact.chatwoot_contact_id,
    }
