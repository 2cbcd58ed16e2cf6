"""Contact import from CSV: forgiving in format, strict in content, one transaction, streaming.

Rules (what staff see in the report):
- Every non-blank row ends up in exactly one of: created, updated, unchanged, merged (the same
  phone appeared earlier in the file), rejected (with its row number and the reason).
- A row whose phone matches a contact (already stored, or from an earlier row of the file) updates
  it: a non-empty name replaces the name, labels are added, attributes are merged (later values
  win; empty cells change nothing). Opted-out contacts stay opted out.
- A file that is not text or has no phone column is refused as a whole; otherwise the import is a
  single transaction: the caller commits all of it or none of it.

Speed: rows are read as a stream, parsed and planned in chunks (`core.import_writing`), and
written with the driver's `executemany` (no ORM object per row). What is held for the whole file
is the set of the account's phones and the first line of each phone of the file. With
`processes` > 0 the reading, parsing and planning run in another process beside the writer
(`core.contacts._import_producer`).
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gc
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import people
from core.base import ValidationError, stored_text, utcnow
from core.contacts._csv_reading import (
    CsvFormat,
    Record,
    detect_format,
    open_text,
    records,
    release,
    seekable,
)
from core.contacts._import_producer import Parsed, Producer, collect_young
from core.contacts._import_writing import Planner, Tally, Writer, encode_attributes, known_phones
from core.contacts._phones import normalize_phone
from core.i18n import N_, Term, format_message
from core.models import Account, Contact, ImportBatch
from core.people import Actor, get_account, load_owned, require, validate_country

PHONE, NAME, LABELS, SKIP = "phone", "name", "labels", "skip"
TEXT, NUMBER, BOOLEAN, AUTO = "text", "number", "boolean", "auto"
ATTRIBUTE_TYPES = (TEXT, NUMBER, BOOLEAN, AUTO)
TARGETS = (PHONE, NAME, LABELS, *ATTRIBUTE_TYPES, SKIP)

CHUNK_ROWS = 5000
SQLITE_CACHE_KIB = 128 * 1024
MAX_NAME = 200
MAX_LABEL = 100
LABEL_SEPARATORS = re.compile(r"[,;|]")

# Header names recognised for the phone column, best first (a WhatsApp column beats a landline).
_PHONE_HEADERS = [
    {"whatsapp", "whatsappnumber", "numerowhatsapp", "numerodewhatsapp", "whats", "wpp", "zap"},
    {
        "celular",
        "mobile",
        "mobilephone",
        "mobilenumber",
        "cell",
        "cellphone",
        "cellular",
        "movil",
        "telemovel",
        "telefonecelular",
        "telefonomovil",
        "numerocelular",
        "numerodecelular",
    },
    {
        "phone",
        "phonenumber",
        "telephone",
        "tel",
        "telefone",
        "telefono",
        "fone",
        "contactphone",
        "numerodetelefone",
        "numerodetelefono",
        "phoneno",
        "msisdn",
    },
    {"number", "numero", "num", "no"},
]
_NAME_HEADERS = {
    "name",
    "fullname",
    "nome",
    "nomecompleto",
    "nombre",
    "nombrecompleto",
    "contactname",
    "contact",
    "contato",
    "contacto",
    "nomedocontato",
    "nombredelcontacto",
}
_LABEL_HEADERS = {
    "labels",
    "label",
    "tags",
    "tag",
    "etiquetas",
    "etiqueta",
    "rotulos",
    "rotulo",
    "marcadores",
    "marcador",
}
_EXPORT_ONLY_HEADERS = {"optedout", "whatsappstatus"}
_TRUE = {"true", "yes", "y", "1", "sim", "s", "si", "sí", "verdadeiro", "verdadero", "x"}
_FALSE = {"false", "no", "n", "0", "nao", "não", "falso"}
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?\d*[.,]\d+")
_AUTO_INTEGER = re.compile(r"-?(?:0|[1-9]\d{0,14})")  # no leading zeros: zip codes stay text
_AUTO_DECIMAL = re.compile(r"-?(?:0|[1-9]\d{0,14})\.\d+")

Progress = Callable[[float, int], None]


# --- columns -------------------------------------------------------------------------------------


def header_key(header: str) -> str:
    """'Teléfono Móvil ' -> 'telefonomovil': what header recognition compares."""
    text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


def attribute_key(header: str) -> str:
    """The custom attribute name for a column: 'Data de Nascimento' -> 'data_de_nascimento'."""
    return re.sub(r"[\s\-]+", "_", header.strip().lower()).strip("_")


def column_names(header: list[str]) -> list[str]:
    """Header cells made unique and non-empty, so each column can be named in a mapping."""
    names: list[str] = []
    seen: set[str] = set()
    for index, cell in enumerate(header, start=1):
        name = cell.strip() or f"column {index}"
        candidate, n = name, 2
        while candidate.lower() in seen:
            candidate, n = f"{name} ({n})", n + 1
        seen.add(candidate.lower())
        names.append(candidate)
    return names


def suggest_mapping(columns: list[str], typed: bool = False) -> dict[str, str]:
    """Recognised columns (EN/ES/PT) for phone, name and labels; every other one an attribute."""
    keys = [header_key(c) for c in columns]
    mapping = {c: (AUTO if typed else TEXT) for c in columns}
    for group in _PHONE_HEADERS:
        found = next((c for c, k in zip(columns, keys, strict=True) if k in group), None)
        if found:
            mapping[found] = PHONE
            break
    for column, key in zip(columns, keys, strict=True):
        if key in _EXPORT_ONLY_HEADERS:
            mapping[column] = SKIP  # our own export's read-only columns
    name = next(
        (
            c
            for c, k in zip(columns, keys, strict=True)
            if k in _NAME_HEADERS and mapping[c] != PHONE
        ),
        None,
    )
    if name:
        mapping[name] = NAME
    for column, key in zip(columns, keys, strict=True):
        if key in _LABEL_HEADERS and mapping[column] != PHONE:
            mapping[column] = LABELS
    return mapping


@dataclass(frozen=True)
class Preview:
    format: CsvFormat
    columns: list[str]
    mapping: dict[str, str]  # suggested
    rows: list[list[str]]  # the first data rows, padded to the header's width


def preview_file(fileobj: BinaryIO, rows: int = 5, typed: bool = False) -> Preview:
    """Format, columns, suggested mapping and first rows: what the user confirms before importing."""
    fileobj = seekable(fileobj)
    fmt = detect_format(fileobj)
    text = open_text(fileobj, fmt.encoding)
    try:
        stream = records(text, fmt.delimiter)
        header = next(stream, None)
        if header is None or header[1] is None:
            raise ValidationError("the file has no header row", "file")
        columns = column_names(header[1])
        sample: list[list[str]] = []
        for _line, fields, _error in stream:
            if len(sample) >= rows:
                break
            if fields is not None:
                sample.append((fields + [""] * len(columns))[: len(columns)])
    finally:
        release(text)
        fileobj.seek(0)
    return Preview(fmt, columns, suggest_mapping(columns, typed), sample)


def _full_mapping(
    columns: list[str], mapping: dict[str, str] | None, typed: bool
) -> dict[str, str]:
    """The suggestion, overridden by what the user chose (their phone/name column wins)."""
    full = suggest_mapping(columns, typed)
    if not mapping:
        return full
    unknown = [c for c in mapping if c not in columns]
    if unknown:
        raise ValidationError(
            "the mapping names columns the file does not have: {columns}",
            "mapping",
            columns=", ".join(unknown),
        )
    for target in (PHONE, NAME):
        if target in mapping.values():
            for column, chosen in full.items():
                if chosen == target and column not in mapping:
                    full[column] = AUTO if typed else TEXT
    full.update(mapping)
    return full


def _check_mapping(columns: list[str], mapping: dict[str, str], sample: list[str] | None) -> None:
    bad = sorted({t for t in mapping.values() if t not in TARGETS})
    if bad:
        raise ValidationError(
            "unknown column targets {targets}; use one of {choices}",
            "mapping",
            targets=repr(bad),
            choices=repr(list(TARGETS)),
        )
    phones = [c for c, t in mapping.items() if t == PHONE]
    if len(phones) > 1:
        raise ValidationError(
            "choose one phone column, not {count}: {columns}",
            "mapping",
            count=len(phones),
            columns=repr(phones),
        )
    if not phones:
        if sample and any(_looks_like_phone(cell) for cell in sample):
            raise ValidationError(
                "no phone column: name one column phone, telefone, teléfono, celular, whatsapp "
                "or number (the columns are: {columns}), or choose it in the mapping. The first "
                "row looks like data: add a header row naming the columns.",
                "mapping",
                columns=", ".join(columns),
            )
        raise ValidationError(
            "no phone column: name one column phone, telefone, teléfono, celular, whatsapp or "
            "number (the columns are: {columns}), or choose it in the mapping.",
            "mapping",
            columns=", ".join(columns),
        )
    names = [c for c, t in mapping.items() if t == NAME]
    if len(names) > 1:
        raise ValidationError(
            "choose one name column, not {count}: {columns}",
            "mapping",
            count=len(names),
            columns=repr(names),
        )


def _looks_like_phone(cell: str) -> bool:
    digits = sum(ch.isdigit() for ch in cell)
    return digits >= 8 and digits >= len(cell.strip()) * 0.6


# --- rows ----------------------------------------------------------------------------------------


class RowRejected(Exception):
    """Why a row is refused: a constant template and its params, as domain errors have them."""

    def __init__(self, template: str, /, **params: Any) -> None:
        super().__init__(template)
        self.template = template
        self.params = params

    def __str__(self) -> str:
        return format_message(self.template, self.params)

    def stored(self) -> dict[str, Any]:
        """The entry's part of ImportBatch.errors: the English reason (API, rejected-rows CSV)
        and the template + params the Contacts page shows in the reader's language."""
        if not self.params:
            return {"reason": self.template, "template": self.template}
        return {"reason": str(self), "template": self.template, "params": self.params}


def _convert(value: str, kind: str, column: str) -> Any:
    if kind == TEXT:
        return value
    lowered = value.lower()
    if kind == AUTO:
        if _AUTO_INTEGER.fullmatch(value):
            return int(value)
        if _AUTO_DECIMAL.fullmatch(value):
            return float(value)
        if lowered in ("true", "false"):
            return lowered == "true"
        return value
    if kind == NUMBER:
        if _INTEGER.fullmatch(value):
            return int(value)
        if _DECIMAL.fullmatch(value):
            return float(value.replace(",", "."))
        raise RowRejected(
            "column {column!r}: {value!r} is not a number", column=column, value=value
        )
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise RowRejected(
        "column {column!r}: {value!r} is not true/false (or yes/no)", column=column, value=value
    )


def unescape_cell(value: str) -> str:
    """Undo the formula escaping of our own CSV export ("'=x" -> "=x"); stored values are data."""
    if len(value) > 1 and value[0] == "'" and value[1] in "=+-@\t\r":
        return value[1:]
    return value


def split_labels(value: str) -> list[str]:
    """'VIP; Cliente,vip | ' -> ['vip', 'cliente']."""
    if "," not in value and ";" not in value and "|" not in value:
        label = unescape_cell(value.strip()).lower()
        return [label] if label else []
    labels: list[str] = []
    for part in LABEL_SEPARATORS.split(value):
        label = unescape_cell(part.strip()).lower()
        if label and label not in labels:
            labels.append(label)
    return labels


def _row_parser(
    columns: list[str], mapping: dict[str, str], country: str | None, check_nul: bool = True
):
    width = len(columns)
    phone_at = next(i for i, c in enumerate(columns) if mapping.get(c) == PHONE)
    name_at = next((i for i, c in enumerate(columns) if mapping.get(c) == NAME), None)
    label_at = [i for i, c in enumerate(columns) if mapping.get(c) == LABELS]
    attributes: list[tuple[int, str, str, str]] = []
    used: set[str] = set()
    for index, column in enumerate(columns):
        kind = mapping.get(column, TEXT)
        if kind in ATTRIBUTE_TYPES:
            key, n = attribute_key(column) or f"column_{index + 1}", 2
            base = key
            while key in used:
                key, n = f"{base}_{n}", n + 1
            used.add(key)
            attributes.append((index, key, kind, column))

    def parse(line: int, fields: list[str]) -> tuple:
        if len(fields) < width:
            fields = fields + [""] * (width - len(fields))
        elif len(fields) > width and any(f.strip() for f in fields[width:]):
            raise RowRejected(
                "the row has {count} columns, the header has {width}",
                count=len(fields),
                width=width,
            )
        raw_phone = fields[phone_at].strip()
        if not raw_phone:
            raise RowRejected("phone is empty")
        try:
            phone = normalize_phone(raw_phone, country)
        except ValidationError as error:
            # The phone's own error, nested: "phone '12': too short to be a phone number".
            raise RowRejected("phone {phone!r}: {problem}", **error.params) from None
        name = fields[name_at].strip() if name_at is not None else ""
        if name[:1] == "'":
            name = unescape_cell(name)
        if len(name) > MAX_NAME:
            raise RowRejected("name is longer than {count} characters", count=MAX_NAME)
        labels: list[str] = []
        for index in label_at:
            if fields[index]:
                labels.extend(split_labels(fields[index]))
        if len(label_at) > 1:
            labels = list(dict.fromkeys(labels))
        if labels and max(map(len, labels)) > MAX_LABEL:
            raise RowRejected("a label is longer than {count} characters", count=MAX_LABEL)
        values: dict[str, Any] = {}
        for index, key, kind, column in attributes:
            value = fields[index].strip()
            if value:
                if value[0] == "'":
                    value = unescape_cell(value)
                values[key] = value if kind == TEXT else _convert(value, kind, column)
        if check_nul and any("\x00" in f for f in fields):  # 8-bit files: refused whole
            raise RowRejected("the row contains a NUL character (binary data)")
        return (line, phone, name or None, labels, values, encode_attributes(values))

    return parse


# --- the import ----------------------------------------------------------------------------------


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

    `mapping` maps column names (as `preview` gives them) to a target in `TARGETS`; columns it
    leaves out are attributes ("auto"-typed when `typed`, else text). `default_country`
    defaults to the account's. Raises `ValidationError` when the file is refused as a whole.

    With `processes` > 0 a big file is read, parsed and planned by another process while this
    one writes (`core.contacts._import_producer` picks how); 0 does everything here.
    """
    require(actor, "contacts.import")
    account = get_account(session, actor.account_id)
    country = validate_country(default_country) or account.default_country
    fileobj = seekable(fileobj)
    fmt = detect_format(fileobj)
    size = _size(fileobj)

    text = open_text(fileobj, fmt.encoding)
    try:
        stream = records(text, fmt.delimiter)
        header = next(stream, None)
        if header is None or header[1] is None:
            raise ValidationError("the file has no header row", "file")
        columns = column_names(header[1])
        full = _full_mapping(columns, mapping, typed)
        _check_mapping(columns, full, header[1])
        config = _ParseConfig(columns, full, country, fmt.encoding.startswith("utf-16"))

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
                functools.partial(_parse_chunk, config),
                planner,
                fileobj,
                fmt,
                stream,
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
    finally:
        release(text)

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
    encoding = {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "cp1252": "Windows-1252"}.get(
        fmt.encoding, fmt.encoding.upper().replace("_", "-")
    )
    separated = Term(stored_text.SEPARATED[fmt.delimiter])
    if country:
        return stored_text.text(
            stored_text.IMPORT_FORMAT_COUNTRY,
            encoding=encoding,
            separated=separated,
            country=country,
        )
    return stored_text.text(stored_text.IMPORT_FORMAT, encoding=encoding, separated=separated)


def _size(fileobj: BinaryIO) -> int:
    fileobj.seek(0, io.SEEK_END)
    size = fileobj.tell()
    fileobj.seek(0)
    return size


@dataclass(frozen=True)
class _ParseConfig:
    columns: list[str]
    mapping: dict[str, str]
    country: str | None
    check_nul: bool


_parser: tuple[_ParseConfig, Callable[[int, list[str]], tuple]] | None = None


def _parse_chunk(config: _ParseConfig, chunk: list[Record]) -> Parsed:
    """Rows of one chunk as (line, phone, name, labels, attributes) tuples, and the rejections."""
    global _parser
    if _parser is None or _parser[0] != config:
        _parser = (
            config,
            _row_parser(config.columns, config.mapping, config.country, config.check_nul),
        )
    parse = _parser[1]
    rows: list[tuple] = []
    rejected: list[tuple[int, dict[str, Any], list[str]]] = []
    for line, fields, error in chunk:
        if fields is None:
            rejected.append((line, _malformed(error), []))
            continue
        try:
            rows.append(parse(line, fields))
        except RowRejected as reason:
            rejected.append((line, reason.stored(), fields))
    return len(chunk), rows, rejected


def _malformed(error: str | None) -> dict[str, Any]:
    if not error:
        return RowRejected(N_("malformed CSV")).stored()
    return RowRejected(N_("malformed CSV: {error}"), error=error).stored()


def _reject(tally: Tally, line: int, reason: dict[str, Any], fields: list[str]) -> None:
    """`reason`: RowRejected.stored()."""
    tally.rejected += 1
    tally.errors.append({"row": line, "kind": "rejected", **reason, "values": fields})


# --- the report ----------------------------------------------------------------------------------


def rejected_rows(batch: ImportBatch) -> Iterable[dict[str, Any]]:
    return (e for e in batch.errors or () if e.get("kind", "rejected") == "rejected")


def merged_rows(batch: ImportBatch) -> Iterable[dict[str, Any]]:
    return (e for e in batch.errors or () if e.get("kind") == "merged")


def rejected_csv(batch: ImportBatch) -> bytes:
    """The rejected rows as they were in the file, with row number and reason in front.

    Values are left as the user wrote them, so the file can be fixed and imported again.
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    columns = list(batch.columns or [])
    writer.writerow(["row", "reason", *columns])
    for error in rejected_rows(batch):
        writer.writerow([error["row"], error["reason"], *error.get("values", [])])
    return buffer.getvalue().encode("utf-8-sig")


def batch_json(batch: ImportBatch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "filename": batch.filename,
        "status": batch.status,
        "created": batch.created_count,
        "updated": batch.updated_count,
        "unchanged": batch.unchanged_count,
        "merged": batch.merged_count,
        "rejected": batch.rejected_count,
        "message": batch.message,
        "errors": [{"row": e["row"], "reason": e["reason"]} for e in rejected_rows(batch)],
        "merged_rows": [{"row": e["row"], "reason": e["reason"]} for e in merged_rows(batch)],
    }


def get_batch(session: Session, actor: Actor, batch_id: int) -> ImportBatch:
    """An import report of the actor's account."""
    require(actor, "contacts.read")
    return load_owned(session, actor, ImportBatch, batch_id, "import")


def recent_batches(session: Session, actor: Actor, limit: int = 10) -> list[ImportBatch]:
    require(actor, "contacts.read")
    return list(
        session.scalars(
            select(ImportBatch)
            .where(ImportBatch.account_id == actor.account_id)
            .order_by(ImportBatch.id.desc())
            .limit(limit)
        )
    )
