"""Turning parsed import rows into database writes: a planner, then a writer.

The planner decides what each row becomes (a new contact, an update of a contact the account
already has or the file created earlier, or a row merged into an earlier one) and prepares the
INSERT parameters. It needs no database connection, so with a forked parser it runs in the
parser's process, and the writer — the one process that may hold SQLite's write lock — is left
with little more than the driver's `executemany`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, literal, select
from sqlalchemy.orm import Session

from core.i18n import N_
from core.models import Contact, Label, WhatsAppStatus, contact_labels

# The report entry of a row merged into an earlier row with the same phone.
MERGED = N_("same phone {phone} as row {row}: merged into one contact")

# What the row parser gives for an accepted row.
ParsedRow = tuple[int, str, str | None, list[str], dict[str, Any], str]
Rejection = tuple[int, dict[str, Any], list[str]]  # (line, RowRejected.stored(), fields)


def encode_attributes(values: dict[str, Any]) -> str:
    """Custom attributes as stored JSON text (orjson is ~10x faster than json at 1M rows)."""
    try:
        return orjson.dumps(values).decode()
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, say
        return json.dumps(values)


@dataclass(slots=True)
class Row:
    """A row for a contact that already exists when its chunk is written."""

    line: int
    phone: str
    name: str | None
    labels: list[str]
    attributes: dict[str, Any]
    existing: bool  # stored before this import (else created by an earlier chunk of the file)

    def fold(self, line: int, name: str | None, labels: list[str], attributes: dict) -> None:
        """A later row of the file with the same phone: its non-empty values win."""
        if name:
            self.name = name
        for label in labels:
            if label not in self.labels:
                self.labels.append(label)
        self.attributes.update(attributes)
        self.line = line


@dataclass(slots=True)
class PlannedChunk:
    count: int  # rows of the file this chunk covers, rejected ones included
    position: int  # bytes of the file read so far
    inserts: list[tuple[str, str | None, str]]  # (phone, name, attributes JSON) of new contacts
    insert_labels: list[list[str]]  # the labels of each new contact, parallel to inserts
    updates: list[Row]
    rejected: list[Rejection]
    merged: list[dict[str, Any]]  # report entries for rows merged into an earlier row


class Planner:
    """Per phone, in file order: new contact, update, or merged into an earlier row.

    Holds the phones the account had before the import and the first line of every phone
    seen in the file — the only state kept for the whole file.
    """

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.first_line: dict[str, int] = {}
        # One string object per label name, so a chunk pickles each name once.
        self.label_names: dict[str, str] = {}

    def plan(self, count: int, rows: list[ParsedRow], rejected: list[Rejection]) -> PlannedChunk:
        first_line, known, label_names = self.first_line, self.known, self.label_names
        inserts: list[tuple[str, str | None, str]] = []
        insert_labels: list[list[str]] = []
        merged: list[dict[str, Any]] = []
        new_here: dict[str, int] = {}  # phone -> index in inserts, for phones new in this chunk
        updates: dict[str, Row] = {}
        for line, phone, name, row_labels, attributes, attributes_json in rows:
            if row_labels:
                row_labels = [label_names.setdefault(label, label) for label in row_labels]
            first = first_line.get(phone)
            if first is None:
                first_line[phone] = line
                if phone in known:
                    updates[phone] = Row(line, phone, name, row_labels, attributes, True)
                else:
                    new_here[phone] = len(inserts)
                    inserts.append((phone, name, attributes_json))
                    insert_labels.append(row_labels)
                continue
            merged.append(
                {
                    "row": line,
                    "kind": "merged",
                    "reason": MERGED.format(phone=phone, row=first),
                    "template": MERGED,  # the Contacts page shows it in the reader's language
                    "params": {"phone": phone, "row": first},
                }
            )
            index = new_here.get(phone)
            if index is not None:
                inserts[index] = _folded(inserts[index], name, attributes)
                insert_labels[index] = list(dict.fromkeys([*insert_labels[index], *row_labels]))
            elif phone in updates:
                updates[phone].fold(line, name, row_labels, attributes)
            else:
                updates[phone] = Row(line, phone, name, row_labels, attributes, phone in known)
        return PlannedChunk(
            count, 0, inserts, insert_labels, list(updates.values()), rejected, merged
        )


def _folded(
    insert: tuple[str, str | None, str], name: str | None, attributes: dict[str, Any]
) -> tuple[str, str | None, str]:
    """A new contact's INSERT parameters with a later row of the file merged in (later wins)."""
    phone, old_name, old_json = insert
    if attributes:
        old_json = encode_attributes({**json.loads(old_json), **attributes})
    return (phone, name or old_name, old_json)


@dataclass
class Tally:
    created: int = 0
    merged: int = 0
    rejected: int = 0
    existing_changed: dict[int, bool] = field(default_factory=dict)  # pre-existing contacts seen
    errors: list[dict[str, Any]] = field(default_factory=list)


def known_phones(connection: Connection, account_id: int) -> set[str]:
    contacts = Contact.__table__
    return set(
        connection.execute(
            select(contacts.c.phone).where(contacts.c.account_id == account_id)
        ).scalars()
    )


class Writer:
    """Applies planned chunks in the caller's transaction.

    The statements run per row go straight to the driver's executemany: SQLAlchemy's per-row
    parameter processing costs more than SQLite's own work at a million rows.
    """

    def __init__(self, session: Session, account_id: int, now: datetime) -> None:
        self.connection = session.connection()
        self.account_id = account_id
        dialect = self.connection.dialect
        timestamp = Contact.__table__.c.updated_at.type
        process = timestamp.dialect_impl(dialect).bind_processor(dialect)
        self.now = process(now) if process else now  # bound without SQLAlchemy
        self.postgres = self.connection.dialect.name == "postgresql"
        self.label_ids: dict[str, int] = {}
        # What every new contact shares is written into the statement: only three values per
        # row cross from Python to the driver.
        contacts = Contact.__table__
        shared = [
            self._literal(account_id, contacts.c.account_id),
            self._literal(WhatsAppStatus.UNKNOWN.value, contacts.c.whatsapp_status),
            self._literal(now, contacts.c.updated_at),
        ]
        self.insert_sql = self._positional(
            "INSERT INTO contacts (account_id, phone, name, custom_attributes, whatsapp_status, "
            f"created_at, updated_at) VALUES ({shared[0]}, ?, ?, "
            + ("CAST(? AS JSONB)" if self.postgres else "?")
            + f", {shared[1]}, {shared[2]}, {shared[2]})"
        )
        json_param = "CAST(:attributes AS JSONB)" if self.postgres else ":attributes"
        self.update_sql = self._named(
            f"UPDATE contacts SET name = :name, custom_attributes = {json_param}, "
            "updated_at = :now WHERE id = :id"
        )
        self.link_sql = self._positional(
            "INSERT INTO contact_labels (contact_id, label_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
        )
        self.label_sql = self._named(
            "INSERT INTO labels (account_id, name) VALUES (:account_id, :name) "
            "ON CONFLICT DO NOTHING"
        )
        self._load_labels(None)

    def _named(self, statement: str) -> str:
        # sqlite3 takes :name parameters itself; psycopg wants %(name)s.
        return re.sub(r":(\w+)", r"%(\1)s", statement) if self.postgres else statement

    def _literal(self, value: Any, column: Any) -> str:
        dialect = self.connection.dialect
        compiled = literal(value, column.type).compile(
            dialect=dialect, compile_kwargs={"literal_binds": True}
        )
        return str(compiled)

    def _positional(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    def _executemany(self, sql: str, params: list[Any]) -> None:
        if params:
            self.connection.exec_driver_sql(sql, params)

    def write(self, chunk: PlannedChunk, tally: Tally) -> None:
        names = {label for labels in chunk.insert_labels for label in labels}
        names.update(label for row in chunk.updates for label in row.labels)
        self._ensure_labels(names)
        self._insert(chunk, tally)
        self._update(chunk.updates, tally)
        tally.merged += len(chunk.merged)
        tally.errors.extend(chunk.merged)

    def _load_labels(self, names: list[str] | None) -> None:
        labels = Label.__table__
        query = select(labels.c.name, labels.c.id).where(labels.c.account_id == self.account_id)
        if names is not None:
            query = query.where(labels.c.name.in_(names))
        self.label_ids.update(self.connection.execute(query).all())

    def _ensure_labels(self, names: set[str]) -> None:
        missing = sorted(name for name in names if name not in self.label_ids)
        if missing:
            self._executemany(
                self.label_sql, [{"account_id": self.account_id, "name": n} for n in missing]
            )
            self._load_labels(missing)

    def _insert(self, chunk: PlannedChunk, tally: Tally) -> None:
        inserts = chunk.inserts
        if not inserts:
            return
        last_before = None if self.postgres else self._last_id()
        self._executemany(self.insert_sql, inserts)
        ids = self._sequential_ids(inserts, last_before) or self._look_up_ids(inserts)
        tally.created += len(inserts)
        label_ids = self.label_ids
        self._executemany(
            self.link_sql,
            [
                (contact_id, label_ids[label])
                for contact_id, labels in zip(ids, chunk.insert_labels, strict=True)
                if labels
                for label in labels
            ],
        )

    def _last_id(self) -> int:
        return self.connection.exec_driver_sql("SELECT max(id) FROM contacts").scalar() or 0

    def _sequential_ids(
        self, inserts: list[tuple[str, str | None, str]], last_before: int | None
    ) -> range | None:
        """SQLite numbers new rows max(id)+1, +2, ... while this transaction holds the write lock;
        checked (count and both ends) before it is relied on, else the ids are looked up."""
        if last_before is None:
            return None
        first, last = last_before + 1, last_before + len(inserts)
        check = self.connection.exec_driver_sql(
            "SELECT max(id), (SELECT phone FROM contacts WHERE id = ?), "
            "(SELECT phone FROM contacts WHERE id = ?) FROM contacts",
            (first, last),
        ).one()
        if tuple(check) != (last, inserts[0][0], inserts[-1][0]):
            return None
        return range(first, last + 1)

    def _look_up_ids(self, inserts: list[tuple[str, str | None, str]]) -> list[int]:
        by_phone = {phone: id_ for id_, phone, *_ in self._stored([row[0] for row in inserts])}
        return [by_phone[row[0]] for row in inserts]

    def _stored(self, phones: list[str]) -> list[tuple[int, str, str | None, dict | None]]:
        c = Contact.__table__.c
        return list(
            self.connection.execute(
                select(c.id, c.phone, c.name, c.custom_attributes).where(
                    c.account_id == self.account_id, c.phone.in_(phones)
                )
            ).all()
        )

    def _update(self, rows: list[Row], tally: Tally) -> None:
        if not rows:
            return
        current = {
            phone: (id_, name, attributes or {})
            for id_, phone, name, attributes in self._stored([row.phone for row in rows])
        }
        ids = [current[row.phone][0] for row in rows]
        linked: dict[int, set[int]] = {}
        for contact_id, label_id in self.connection.execute(
            select(contact_labels.c.contact_id, contact_labels.c.label_id).where(
                contact_labels.c.contact_id.in_(ids)
            )
        ):
            linked.setdefault(contact_id, set()).add(label_id)
        changes: list[dict[str, Any]] = []
        links: list[tuple[int, int]] = []
        for row in rows:
            contact_id, name, attributes = current[row.phone]
            new_name = row.name or name
            new_attributes = {**attributes, **row.attributes}
            add = sorted(
                {self.label_ids[label] for label in row.labels} - linked.get(contact_id, set())
            )
            changed = new_name != name or new_attributes != attributes or bool(add)
            if changed:
                changes.append(
                    {
                        "id": contact_id,
                        "name": new_name,
                        "attributes": encode_attributes(new_attributes),
                        "now": self.now,
                    }
                )
                links.extend((contact_id, label_id) for label_id in add)
            if row.existing:
                tally.existing_changed[contact_id] = (
                    tally.existing_changed.get(contact_id, False) or changed
                )
        self._executemany(self.update_sql, changes)
        self._executemany(self.link_sql, links)
