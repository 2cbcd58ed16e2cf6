"""Exporting an account's contacts: the filtered list as rows or as a CSV spreadsheets open safely.

Streamed in batches of `EXPORT_BATCH` (fine at a million contacts); one column per custom
attribute any contact has, so the file imports back as the same contacts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.base import escape_cell
from core.contacts._listing import ContactFilters, attribute_keys, filter_conditions
from core.models import Contact, Label, contact_labels
from core.people import Actor, require

EXPORT_BATCH = 2000
EXPORT_COLUMNS = ["phone", "name", "labels", "opted_out", "whatsapp_status"]


def export_rows(
    session: Session, actor: Actor, filters: ContactFilters | dict[str, Any] | None = None
) -> tuple[list[str], Iterator[list[Any]]]:
    """Header and rows of the filtered contacts, streamed in batches (fine at a million)."""
    require(actor, "contacts.read")
    filters = ContactFilters.of(filters)
    keys = attribute_keys(session, actor)
    conditions = filter_conditions(actor.account_id, filters)
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
