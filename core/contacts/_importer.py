"""Contact import from CSV: forgiving in format, strict in content, one transaction, streaming.

Rules (what staff see in the report):
- Every non-blank row ends up in exactly one of: created, updated, unchanged, merged (the same
  phone appeared earlier in the file), rejected (with its row number and the reason).
- A row whose phone matches a contact (already stored, or from an earlier row of the file) updates
  it: a non-empty name replaces the name, labels are added, attributes are merged (later values
  win; empty cells change nothing). Opted-out contacts stay opted out.
- A file that is not text or has no phone column is refused as a whole; otherwise the import is a
  single transaction: the caller commits all of it or none of it.

Speed: rows are read as a stream, parsed (`core.contacts._row_parser`) and planned in chunks
(`core.contacts._import_writing`), and written with the driver's `executemany` (no ORM object per
row). What is held for the whole file is the set of the account's phones and the first line of
each phone of the file. With `processes` > 0 the reading, parsing and planning run in another
process beside the writer (`core.contacts._import_producer`).
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import people
from core.base import stored_text, utcnow
from core.contacts._columns import check_mapping, full_mapping
from core.contacts._csv_reading import CsvFormat, open_csv
from core.contacts._import_producer import Producer, collect_young
from core.contacts._import_writing import Planner, Tally, Writer, known_phones
from core.contacts._revision import bump_contacts_revision
from core.contacts._row_parser import ParseConfig, parse_chunk
from core.i18n import Term
from core.models import Account, Contact, ImportBatch
from core.people import Actor, get_account, require, validate_country

CHUNK_ROWS = 5000
SQLITE_CACHE_KIB = 128 * 1024

Progress = Callable[[float, int], None]


def import_contacts(
    session: Session,
    actor: Actor,
    fileobj: BinaryIO,
    filename: str,
    mapping: dict[str, str] | None = None,
    default_country: str | None = None,
    progress: Progress | None = None,
    typed: bool = False,
    processes: int = 1,
) -> ImportBatch:
    """Import a CSV into the actor's account; returns the report (an `ImportBatch`, flushed).

    `mapping` maps column names (as `preview_file` gives them) to a `ColumnTarget` (or its
    value); columns it leaves out are attributes ("auto"-typed when `typed`, else text).
    `default_country` defaults to the account's; when given, it is remembered as the actor's
    choice for their next import (`people.import_country`). Raises `ValidationError` when the file is
    refused as a whole.

    With `processes` > 0 a big file is read, parsed and planned by another process while this
    one writes (`core.contacts._import_producer` picks how); 0 does everything here.
    """
    require(actor, "contacts.import")
    account = get_account(session, actor.account_id)
    chosen = validate_country(default_country)
    country = chosen or account.default_country
    with open_csv(fileobj) as opened:
        fmt, size, columns = opened.format, opened.size, opened.columns
        full = full_mapping(columns, mapping, typed)
        check_mapping(columns, full, opened.header)
        config = ParseConfig(columns, full, country, fmt.encoding.startswith("utf-16"))

        session.flush()
        # Two imports into one account at once would race on the same phones: take turns.
        session.execute(select(Account.id).where(Account.id == account.id).with_for_update())
        batch = ImportBatch(
            account_id=account.id, user_id=actor.user_id, filename=filename[:255], columns=columns
        )
        session.add(batch)
        session.flush()

        tally = Tally()
        done = 0
        planner = Planner(known_phones(session.connection(), account.id))
        with (
            _cycle_collector_paused(),  # before the fork: the parser process inherits it
            Producer(
                functools.partial(parse_chunk, config),
                planner,
                opened.fileobj,
                fmt,
                opened.rows,
                size,
                processes > 0,
                CHUNK_ROWS,
            ) as producer,
            _page_cache(session),
        ):
            writer = Writer(session, account.id, utcnow())
            for chunk in producer.planned():
                for line, reason, fields in chunk.rejected:
                    _reject(tally, line, reason, fields)
                writer.write(chunk, tally)
                collect_young()
                done += chunk.count
                if progress is not None:
                    progress(min(chunk.position / size, 1.0) if size else 1.0, done)

    bump_contacts_revision(session, account.id)
    updated = sum(tally.existing_changed.values())
    batch.created_count = tally.created
    batch.updated_count = updated
    batch.unchanged_count = len(tally.existing_changed) - updated
    batch.rejected_count = tally.rejected
    batch.merged_count = tally.merged
    batch.errors = tally.errors
    batch.status = "done"
    batch.finished_at = utcnow()
    summary = _summary(fmt, country)
    batch.message, batch.message_text = stored_text.english(summary), summary
    people.remember_import_country(session, actor, chosen)  # offered in their next import
    people.record_audit(
        session,
        actor,
        "contacts.import",
        "import_batch",
        batch.id,
        {
            "filename": batch.filename,
            "created": batch.created_count,
            "updated": batch.updated_count,
            "unchanged": batch.unchanged_count,
            "merged": batch.merged_count,
            "rejected": batch.rejected_count,
        },
    )
    session.flush()
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Contact):
            session.expire(obj)  # rows changed under the ORM's feet
    if progress is not None:
        progress(1.0, done)
    return batch


@contextlib.contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """A big import allocates tens of millions of objects; left to itself, the cycle collector
    walks the long-lived ones (the phones, the report) again and again: about a third of the
    import's time. Instead each chunk ends with a collection of the young generations
    (`collect_young`), which finds any cycle the chunk made. Process-wide, so for that time
    other threads' cycles wait for the end of the import."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def _page_cache(session: Session) -> Iterator[None]:
    """A bigger SQLite page cache for the import: the contact indexes take random inserts."""
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def _summary(fmt: CsvFormat, country: str | None) -> dict[str, Any]:
    """How the file was read ("UTF-8, comma-separated; ..."), as a stored message."""
    encoding = fmt.encoding_name
    separated = Term(stored_text.SEPARATED[fmt.delimiter])
    if country:
        return stored_text.text(
            stored_text.IMPORT_FORMAT_COUNTRY,
            encoding=encoding,
            separated=separated,
            country=country,
        )
    return stored_text.text(stored_text.IMPORT_FORMAT, encoding=encoding, separated=separated)


def _reject(tally: Tally, line: int, reason: dict[str, Any], fields: list[str]) -> None:
    """`reason`: RowRejected.stored()."""
    tally.rejected += 1
    tally.errors.append({"row": line, "kind": "rejected", **reason, "values": fields})
