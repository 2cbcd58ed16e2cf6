"""The database side of the contact sync: one batch of Chatwoot contacts into our contacts.

A batch (a few hundred contacts) is looked up in two queries (by Chatwoot id, by phone),
planned in Python, and written with a handful of executemany statements in the caller's
transaction. A synced contact's name and phone are Chatwoot's, its labels exactly Chatwoot's
labels, and Chatwoot's custom attributes are laid over ours (keys only we have stay). Its
opt-out is never touched: someone who said STOP stays opted out whatever Chatwoot says.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, select, text, tuple_, update
from sqlalchemy.orm import Session

from core import contacts
from core.chatwoot import Contact as ChatwootContact
from core.i18n import N_, format_message
from core.models import Contact, Label, WhatsAppStatus, contact_labels

MAX_REPORTED = 1000  # rejected contacts kept in a report (the counts are always complete)
PHONE_TAKEN = N_("phone {phone} is already another contact's")

_C = Contact.__table__.c
_LINK_LABEL = text(
    "INSERT INTO contact_labels (contact_id, label_id) VALUES (:contact_id, :label_id) "
    "ON CONFLICT DO NOTHING"
)
_NEW_LABEL = text(
    "INSERT INTO labels (account_id, name) VALUES (:account_id, :name) ON CONFLICT DO NOTHING"
)


@dataclass
class Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    unlinked: int = 0
    skipped: int = 0  # no phone in Chatwoot: nothing to send to
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, contact: ChatwootContact, reason: dict[str, Any]) -> None:
        self.rejected += 1
        if len(self.errors) < MAX_REPORTED:
            self.errors.append(
                {"chatwoot_contact_id": contact.id, "phone": contact.phone_number, **reason}
            )


@dataclass(slots=True)
class _Local:
    id: int
    phone: str
    name: str | None
    attributes: dict[str, Any]
    chatwoot_id: int | None
    labels: set[str]


class SyncWriter:
    """Writes batches for one account. Label ids are cached for the whole run."""

    def __init__(self, session: Session, account_id: int, country: str | None) -> None:
        self.session = session
        self.account_id = account_id
        self.country = country
        self.label_ids: dict[str, int] = dict(
            session.execute(
                select(Label.name, Label.id).where(Label.account_id == account_id)
            ).all()
        )

    def write(
        self,
        batch: Sequence[ChatwootContact],
        labels_of: dict[int, list[str]],
        tally: Tally,
        now: datetime,
    ) -> bool:
        """Create or update our contact for each Chatwoot contact; True if anything changed."""
        vetted: list[tuple[ChatwootContact, str, list[str]]] = []
        for item in batch:
            if not item.phone_number:
                tally.skipped += 1
                continue
            try:
                phone, labels = contacts.vet_contact(
                    item.phone_number, item.name, labels_of.get(item.id, []), self.country
                )
            except contacts.RowRejected as reason:
                tally.reject(item, reason.stored())
                continue
            vetted.append((item, phone, labels))
        if not vetted:
            return False
        by_chatwoot, by_phone = self._locals(
            [item.id for item, _, _ in vetted], [phone for _, phone, _ in vetted]
        )
        inserts: list[dict[str, Any]] = []
        insert_labels: list[list[str]] = []
        updates: list[dict[str, Any]] = []
        label_changes: list[tuple[int, set[str], set[str]]] = []
        claimed_phones: dict[str, int] = {}  # phone -> Chatwoot id, within this batch
        for item, phone, labels in vetted:
            local = by_chatwoot.get(item.id)
            holder = by_phone.get(phone)
            if local is None and holder is not None and holder.chatwoot_id in (None, item.id):
                local = holder  # a contact we had (a CSV import): link it
            taken = (holder is not None and holder is not local) or claimed_phones.get(
                phone, item.id
            ) != item.id
            if taken:
                tally.reject(item, _stored(PHONE_TAKEN, phone=phone))
                continue
            claimed_phones[phone] = item.id
            attributes = dict(item.custom_attributes)
            if local is None:
                inserts.append(
                    {
                        "account_id": self.account_id,
                        "phone": phone,
                        "name": item.name,
                        "custom_attributes": attributes,
                        "whatsapp_status": WhatsAppStatus.UNKNOWN.value,
                        "chatwoot_contact_id": item.id,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                insert_labels.append(labels)
                continue
            name = item.name or local.name
            merged = {**local.attributes, **attributes}
            wanted = set(labels)
            fields_changed = (
                name != local.name
                or phone != local.phone
                or merged != local.attributes
                or local.chatwoot_id != item.id
            )
            if fields_changed:
                updates.append(
                    {
                        "b_id": local.id,
                        "name": name,
                        "phone": phone,
                        "custom_attributes": merged,
                        "chatwoot_contact_id": item.id,
                        "updated_at": now,
                    }
                )
            if wanted != local.labels:
                label_changes.append((local.id, wanted - local.labels, local.labels - wanted))
                if not fields_changed:  # labels alone: the contact still counts as changed
                    updates.append(_touch(local, item.id, now))
            if fields_changed or wanted != local.labels:
                tally.updated += 1
            else:
                tally.unchanged += 1
        self._ensure_labels(
            {label for labels in insert_labels for label in labels}
            | {label for _, added, _ in label_changes for label in added}
        )
        self._update(updates)
        self._insert(inserts, insert_labels, tally)
        self._relabel(label_changes)
        return bool(inserts or updates)

    def unlink(self, chatwoot_ids: Iterable[int], tally: Tally) -> bool:
        """Contacts deleted in Chatwoot: no longer linked, kept with their campaign history."""
        ids = list(chatwoot_ids)
        if not ids:
            return False
        result = self.session.execute(
            update(Contact)
            .where(Contact.account_id == self.account_id, Contact.chatwoot_contact_id.in_(ids))
            .values(chatwoot_contact_id=None),
            execution_options={"synchronize_session": False},
        )
        tally.unlinked += result.rowcount or 0
        return bool(result.rowcount)

    # -- statements ------------------------------------------------------------------------

    def _locals(
        self, chatwoot_ids: list[int], phones: list[str]
    ) -> tuple[dict[int, _Local], dict[str, _Local]]:
        rows = self.session.execute(
            select(_C.id, _C.phone, _C.name, _C.custom_attributes, _C.chatwoot_contact_id).where(
                _C.account_id == self.account_id,
                or_(_C.chatwoot_contact_id.in_(chatwoot_ids), _C.phone.in_(phones)),
            )
        ).all()
        found = {
            row[0]: _Local(row[0], row[1], row[2], dict(row[3] or {}), row[4], set())
            for row in rows
        }
        if found:
            for contact_id, name in self.session.execute(
                select(contact_labels.c.contact_id, Label.name)
                .join(Label, Label.id == contact_labels.c.label_id)
                .where(contact_labels.c.contact_id.in_(list(found)))
            ):
                found[contact_id].labels.add(name)
        by_chatwoot = {row.chatwoot_id: row for row in found.values() if row.chatwoot_id}
        return by_chatwoot, {row.phone: row for row in found.values()}

    def _ensure_labels(self, names: set[str]) -> None:
        missing = sorted(name for name in names if name not in self.label_ids)
        if not missing:
            return
        self.session.execute(
            _NEW_LABEL, [{"account_id": self.account_id, "name": n} for n in missing]
        )
        self.label_ids.update(
            self.session.execute(
                select(Label.name, Label.id).where(
                    Label.account_id == self.account_id, Label.name.in_(missing)
                )
            ).all()
        )

    def _update(self, updates: list[dict[str, Any]]) -> None:
        if not updates:
            return
        # Two contacts swapping numbers never get here: `write` refuses the second as taken.
        statement = (
            update(Contact.__table__)
            .where(_C.id == bindparam("b_id"))
            .values(
                name=bindparam("name"),
                phone=bindparam("phone"),
                custom_attributes=bindparam("custom_attributes"),
                chatwoot_contact_id=bindparam("chatwoot_contact_id"),
                updated_at=bindparam("updated_at"),
            )
        )
        self.session.execute(statement, updates)

    def _insert(self, inserts: list[dict[str, Any]], labels: list[list[str]], tally: Tally) -> None:
        if not inserts:
            return
        self.session.execute(insert(Contact.__table__), inserts)
        tally.created += len(inserts)
        wanted = {
            row["chatwoot_contact_id"]: names
            for row, names in zip(inserts, labels, strict=True)
            if names
        }
        if not wanted:
            return
        ids = self.session.execute(
            select(_C.chatwoot_contact_id, _C.id).where(
                _C.account_id == self.account_id, _C.chatwoot_contact_id.in_(list(wanted))
            )
        ).all()
        links = [
            {"contact_id": contact_id, "label_id": self.label_ids[name]}
            for chatwoot_id, contact_id in ids
            for name in wanted[chatwoot_id]
        ]
        self.session.execute(_LINK_LABEL, links)

    def _relabel(self, changes: list[tuple[int, set[str], set[str]]]) -> None:
        added = [
            {"contact_id": contact_id, "label_id": self.label_ids[name]}
            for contact_id, names, _ in changes
            for name in names
        ]
        removed = [
            (contact_id, self.label_ids[name])
            for contact_id, _, names in changes
            for name in names
            if name in self.label_ids
        ]
        if removed:
            self.session.execute(
                delete(contact_labels).where(
                    tuple_(contact_labels.c.contact_id, contact_labels.c.label_id).in_(removed)
                )
            )
        if added:
            self.session.execute(_LINK_LABEL, added)


def _touch(local: _Local, chatwoot_id: int, now: datetime) -> dict[str, Any]:
    return {
        "b_id": local.id,
        "name": local.name,
        "phone": local.phone,
        "custom_attributes": local.attributes,
        "chatwoot_contact_id": chatwoot_id,
        "updated_at": now,
    }


def _stored(template: str, **params: Any) -> dict[str, Any]:
    return {"reason": format_message(template, params), "template": template, "params": params}
