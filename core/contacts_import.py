"""Contact import from CSV: forgiving in format, strict in content, one transaction, streaming.

Rules (what staff see in the report):
- Every non-blank row ends up in exactly one of: created, updated, unchanged, merged (the same
  phone appeared earlier in the file), rejected (with its row number and the reason).
- A row whose phone matches a contact (already stored, or from an earlier row of the file) updates
  it: a non-empty name replaces the name, labels are added, attributes are merged (later values
  win; empty cells change nothing). Opted-out contacts stay opted out.
- A file that is not text or has no phone column is refused as a whole; otherwise the import is a
  single transaction: the caller commits all of it or none of it.

Speed: rows are read as a stream and written in chunks with Core `executemany` (no ORM object per
row); what is held for the whole file is one phone -> id map for the account.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import multiprocessing
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, stored_text
from core.access import Actor, require
from core.accounts import get_account, validate_country
from core.clock import utcnow
from core.csv_reading import (
    CsvFormat,
    Record,
    detect_format,
    open_text,
    records,
    release,
    seekable,
)
from core.errors import NotFound, ValidationError
from core.i18n import Term
from core.models import Account, Contact, ImportBatch, Label, contact_labels
from core.models.enums import WhatsAppStatus
from core.phones import normalize_phone

PHONE, NAME, LABELS, SKIP = "phone", "name", "labels", "skip"
TEXT, NUMBER, BOOLEAN, AUTO = "text", "number", "boolean", "auto"
ATTRIBUTE_TYPES = (TEXT, NUMBER, BOOLEAN, AUTO)
TARGETS = (PHONE, NAME, LABELS, *ATTRIBUTE_TYPES, SKIP)

CHUNK_ROWS = 5000
SQLITE_CACHE_KIB = 128 * 1024
PARALLEL_MIN_BYTES = 4 * 1024 * 1024  # below this, starting processes costs more than it saves
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


def preview(fileobj: BinaryIO, rows: int = 5, typed: bool = False) -> Preview:
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
            f"the mapping names columns the file does not have: {', '.join(unknown)}", "mapping"
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
            f"unknown column targets {bad}; use one of {list(TARGETS)}", "mapping"
        )
    phones = [c for c, t in mapping.items() if t == PHONE]
    if len(phones) > 1:
        raise ValidationError(f"choose one phone column, not {len(phones)}: {phones}", "mapping")
    if not phones:
        hint = ""
        if sample and any(_looks_like_phone(cell) for cell in sample):
            hint = " The first row looks like data: add a header row naming the columns."
        raise ValidationError(
            "no phone column: name one column phone, telefone, teléfono, celular, whatsapp or "
            f"number (the columns are: {', '.join(columns)}), or choose it in the mapping.{hint}",
            "mapping",
        )
    names = [c for c, t in mapping.items() if t == NAME]
    if len(names) > 1:
        raise ValidationError(f"choose one name column, not {len(names)}: {names}", "mapping")


def _looks_like_phone(cell: str) -> bool:
    digits = sum(ch.isdigit() for ch in cell)
    return digits >= 8 and digits >= len(cell.strip()) * 0.6


# --- rows ----------------------------------------------------------------------------------------


class RowRejected(Exception):
    pass


@dataclass(slots=True)
class Row:
    line: int
    phone: str
    name: str | None
    labels: list[str]
    attributes: dict[str, Any]
    attributes_json: str | None  # encoded while parsing; None once merged with another row


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
        raise RowRejected(f"column {column!r}: {value!r} is not a number")
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise RowRejected(f"column {column!r}: {value!r} is not true/false (or yes/no)")


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
            raise RowRejected(f"the row has {len(fields)} columns, the header has {width}")
        raw_phone = fields[phone_at].strip()
        if not raw_phone:
            raise RowRejected("phone is empty")
        try:
            phone = normalize_phone(raw_phone, country)
        except ValidationError as error:
            raise RowRejected(f"phone {error.message}") from None
        name = fields[name_at].strip() if name_at is not None else ""
        if name[:1] == "'":
            name = unescape_cell(name)
        if len(name) > MAX_NAME:
            raise RowRejected(f"name is longer than {MAX_NAME} characters")
        labels: list[str] = []
        for index in label_at:
            if fields[index]:
                labels.extend(split_labels(fields[index]))
        if len(label_at) > 1:
            labels = list(dict.fromkeys(labels))
        if labels and max(map(len, labels)) > MAX_LABEL:
            raise RowRejected(f"a label is longer than {MAX_LABEL} characters")
        values: dict[str, Any] = {}
        for index, key, kind, column in attributes:
            value = fields[index].strip()
            if value:
                if value[0] == "'":
                    value = unescape_cell(value)
                values[key] = value if kind == TEXT else _convert(value, kind, column)
        if check_nul and any("\x00" in f for f in fields):  # 8-bit files: refused whole
            raise RowRejected("the row contains a NUL character (binary data)")
        return (line, phone, name or None, labels, values, json.dumps(values))

    return parse


# --- the import ----------------------------------------------------------------------------------


@dataclass
class _Tally:
    created: int = 0
    merged: int = 0
    rejected: int = 0
    existing_changed: dict[int, bool] = field(default_factory=dict)  # pre-existing contacts seen
    errors: list[dict[str, Any]] = field(default_factory=list)


def import_contacts(
    session: Session,
    actor: Actor,
    fileobj: BinaryIO,
    filename: str,
    mapping: dict[str, str] | None = None,
    default_country: str | None = None,
    progress: Progress | None = None,
    typed: bool = False,
    processes: int = 0,
) -> ImportBatch:
    """Import a CSV into the actor's account; returns the report (an `ImportBatch`, flushed).

    `mapping` maps column names (as `preview` gives them) to a target in `TARGETS`; columns it
    leaves out are attributes ("auto"-typed when `typed`, else text). `default_country`
    defaults to the account's. Raises `ValidationError` when the file is refused as a whole.

    `processes` > 0 reads and parses the file in a forked process while this one writes (for
    single-threaded callers such as the CLI; a server process keeps the default 0).
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

        tally = _Tally()
        done = 0
        parallel = processes > 0 and size >= PARALLEL_MIN_BYTES
        with _Parsers(config, fileobj, fmt, stream, parallel) as parsers, _page_cache(session):
            writer = _Writer(session, account.id)
            for (count, parsed, rejected), position in parsers.parse():
                for line, reason, fields in rejected:
                    _reject(tally, line, reason, fields)
                writer.write([Row(*values) for values in parsed], tally)
                done += count
                if progress is not None:
                    progress(min(position / size, 1.0) if size else 1.0, done)
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
    audit.record(
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
Parsed = tuple[int, list[tuple], list[tuple[int, str, list[str]]]]


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
    rejected: list[tuple[int, str, list[str]]] = []
    for line, fields, error in chunk:
        if fields is None:
            rejected.append((line, error or "malformed CSV", []))
            continue
        try:
            rows.append(parse(line, fields))
        except RowRejected as reason:
            rejected.append((line, str(reason), fields))
    return len(chunk), rows, rejected


class _Parsers:
    """Chunks of parsed rows, in file order: parsed here, or by a forked producer process that
    reads and parses the file while this process writes to the database."""

    def __init__(
        self,
        config: _ParseConfig,
        fileobj: BinaryIO,
        fmt: CsvFormat,
        stream: Iterator[Record],
        parallel: bool,
    ) -> None:
        self.config, self.fileobj, self.fmt, self.stream = config, fileobj, fmt, stream
        self.parallel = parallel and "fork" in multiprocessing.get_all_start_methods()
        self.process: multiprocessing.process.BaseProcess | None = None

    def __enter__(self) -> _Parsers:
        if self.parallel:
            context = multiprocessing.get_context("fork")
            self.queue: Any = context.Queue(maxsize=4)
            # Forked now, before the writer loads the account's phones into this process.
            self.process = context.Process(
                target=_produce,
                args=(self.fileobj, self.fmt, self.config, self.queue),
                daemon=True,
            )
            self.process.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None:
            if self.process.is_alive():
                self.process.terminate()
            self.process.join()

    def parse(self) -> Iterator[tuple[Parsed, int]]:
        """(count, rows, rejected) per chunk, with the byte position reached in the file."""
        if self.process is None:
            for chunk in _chunks(self.stream, CHUNK_ROWS):
                yield _parse_chunk(self.config, chunk), self.fileobj.tell()
            return
        while True:
            item = self.queue.get()
            if item is None:
                return
            if isinstance(item, str):
                raise RuntimeError(f"the CSV reading process failed: {item}")
            yield item


def _produce(fileobj: BinaryIO, fmt: CsvFormat, config: _ParseConfig, out: Any) -> None:
    """In the forked process: read and parse the whole file, chunk by chunk, into `out`."""
    try:
        text = open_text(fileobj, fmt.encoding)
        stream = records(text, fmt.delimiter)
        next(stream, None)  # the header
        for chunk in _chunks(stream, CHUNK_ROWS):
            out.put((_parse_chunk(config, chunk), fileobj.tell()))
        out.put(None)
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which raises
        out.put(f"{type(error).__name__}: {error}")


def _chunks(stream: Iterator[Record], size: int) -> Iterator[list[Record]]:
    chunk: list[Record] = []
    for record in stream:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _reject(tally: _Tally, line: int, reason: str, fields: list[str]) -> None:
    tally.rejected += 1
    tally.errors.append({"row": line, "kind": "rejected", "reason": reason, "values": fields})


class _Writer:
    """Applies parsed rows to the database in chunks; tracks what each phone became.

    The three statements run per row (insert contact, update contact, link label) go straight to
    the driver's executemany with values prepared once here: SQLAlchemy's per-row parameter
    processing costs more than SQLite's own work at a million rows.
    """

    def __init__(self, session: Session, account_id: int) -> None:
        self.session = session
        self.connection = session.connection()
        self.account_id = account_id
        dialect = self.connection.dialect
        self.postgres = dialect.name == "postgresql"
        contacts = Contact.__table__
        self.now = (_processor(contacts.c.updated_at.type, dialect) or _identity)(utcnow())
        self.ids: dict[str, int] = dict(
            self.connection.execute(
                select(contacts.c.phone, contacts.c.id).where(contacts.c.account_id == account_id)
            ).all()
        )
        self.label_ids: dict[str, int] = {}
        self.created: set[int] = set()
        self.first_line: dict[str, int] = {}
        json = "CAST(:attributes AS JSONB)" if self.postgres else ":attributes"
        # The two statements run once per row take positional parameters (cheaper to bind).
        self.insert_sql = self._positional(
            "INSERT INTO contacts (account_id, phone, name, custom_attributes, whatsapp_status, "
            "created_at, updated_at) VALUES (?, ?, ?, "
            + ("CAST(? AS JSONB)" if self.postgres else "?")
            + ", ?, ?, ?)"
        )
        self.update_sql = self._sql(
            f"UPDATE contacts SET name = :name, custom_attributes = {json}, updated_at = :now "
            "WHERE id = :id"
        )
        self.link_sql = self._positional(
            "INSERT INTO contact_labels (contact_id, label_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
        )
        self.label_sql = self._sql(
            "INSERT INTO labels (account_id, name) VALUES (:account_id, :name) "
            "ON CONFLICT DO NOTHING"
        )
        self._load_labels(None)

    def _sql(self, statement: str) -> str:
        # sqlite3 takes :name parameters itself; psycopg wants %(name)s.
        return re.sub(r":(\w+)", r"%(\1)s", statement) if self.postgres else statement

    def _positional(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    def _executemany(self, sql: str, params: list[Any]) -> None:
        if params:
            self.connection.exec_driver_sql(sql, params)

    def _load_labels(self, names: list[str] | None) -> None:
        labels = Label.__table__
        query = select(labels.c.name, labels.c.id).where(labels.c.account_id == self.account_id)
        if names is not None:
            query = query.where(labels.c.name.in_(names))
        self.label_ids.update(self.connection.execute(query).all())

    def write(self, rows: list[Row], tally: _Tally) -> None:
        merged = self._merge_in_chunk(rows, tally)
        fresh = [row for row in merged if row.phone not in self.ids]
        known = [row for row in merged if row.phone in self.ids]
        self._ensure_labels({label for row in merged for label in row.labels})
        self._insert(fresh, tally)
        self._update(known, tally)

    def _merge_in_chunk(self, rows: list[Row], tally: _Tally) -> list[Row]:
        by_phone: dict[str, Row] = {}
        first_line = self.first_line
        for row in rows:
            first = first_line.get(row.phone)
            if first is None:
                first_line[row.phone] = row.line
            else:
                tally.merged += 1
                tally.errors.append(
                    {
                        "row": row.line,
                        "kind": "merged",
                        "reason": f"same phone {row.phone} as row {first}: merged into one contact",
                    }
                )
            current = by_phone.get(row.phone)
            if current is None:
                by_phone[row.phone] = row
            else:
                _apply(current, row)
        return list(by_phone.values())

    def _ensure_labels(self, names: set[str]) -> None:
        missing = sorted(name for name in names if name not in self.label_ids)
        if missing:
            self._executemany(
                self.label_sql, [{"account_id": self.account_id, "name": n} for n in missing]
            )
            self._load_labels(missing)

    def _insert(self, rows: list[Row], tally: _Tally) -> None:
        if not rows:
            return
        account_id, now = self.account_id, self.now
        status = WhatsAppStatus.UNKNOWN.value
        last_before = self._last_id() if not self.postgres else None
        self._executemany(
            self.insert_sql,
            [
                (
                    account_id,
                    row.phone,
                    row.name,
                    row.attributes_json or json.dumps(row.attributes),
                    status,
                    now,
                    now,
                )
                for row in rows
            ],
        )
        new_ids = self._sequential_ids(rows, last_before) or self._look_up_ids(rows)
        self.ids.update(new_ids)
        self.created.update(new_ids.values())
        tally.created += len(rows)
        label_ids = self.label_ids
        self._executemany(
            self.link_sql,
            [(new_ids[row.phone], label_ids[label]) for row in rows for label in row.labels],
        )

    def _last_id(self) -> int:
        return self.connection.exec_driver_sql("SELECT max(id) FROM contacts").scalar() or 0

    def _sequential_ids(self, rows: list[Row], last_before: int | None) -> dict[str, int] | None:
        """SQLite numbers new rows max(id)+1, +2, ... while this transaction holds the write lock;
        checked (count and both ends) before it is relied on, else the ids are looked up."""
        if last_before is None:
            return None
        first, last = last_before + 1, last_before + len(rows)
        check = self.connection.exec_driver_sql(
            "SELECT max(id), (SELECT phone FROM contacts WHERE id = ?), "
            "(SELECT phone FROM contacts WHERE id = ?) FROM contacts",
            (first, last),
        ).one()
        if tuple(check) != (last, rows[0].phone, rows[-1].phone):
            return None
        return {row.phone: first + offset for offset, row in enumerate(rows)}

    def _look_up_ids(self, rows: list[Row]) -> dict[str, int]:
        contacts = Contact.__table__
        return dict(
            self.connection.execute(
                select(contacts.c.phone, contacts.c.id).where(
                    contacts.c.account_id == self.account_id,
                    contacts.c.phone.in_([row.phone for row in rows]),
                )
            ).all()
        )

    def _update(self, rows: list[Row], tally: _Tally) -> None:
        if not rows:
            return
        c = Contact.__table__.c
        by_id = {self.ids[row.phone]: row for row in rows}
        ids = list(by_id)
        current = {
            id_: (name, attributes or {})
            for id_, name, attributes in self.connection.execute(
                select(c.id, c.name, c.custom_attributes).where(c.id.in_(ids))
            )
        }
        linked: dict[int, set[int]] = {}
        for contact_id, label_id in self.connection.execute(
            select(contact_labels.c.contact_id, contact_labels.c.label_id).where(
                contact_labels.c.contact_id.in_(ids)
            )
        ):
            linked.setdefault(contact_id, set()).add(label_id)
        changes: list[dict[str, Any]] = []
        links: list[tuple[int, int]] = []
        for contact_id, row in by_id.items():
            name, attributes = current[contact_id]
            new_name = row.name or name
            new_attributes = {**attributes, **row.attributes}
            add = {self.label_ids[label] for label in row.labels} - linked.get(contact_id, set())
            changed = new_name != name or new_attributes != attributes or bool(add)
            if changed:
                changes.append(
                    {
                        "id": contact_id,
                        "name": new_name,
                        "attributes": json.dumps(new_attributes),
                        "now": self.now,
                    }
                )
                links.extend((contact_id, label_id) for label_id in sorted(add))
            if contact_id in self.created:
                continue  # a later row of the file for a contact it created: counted as merged
            tally.existing_changed[contact_id] = (
                tally.existing_changed.get(contact_id, False) or changed
            )
        self._executemany(self.update_sql, changes)
        self._executemany(self.link_sql, links)


def _identity(value: Any) -> Any:
    return value


def _processor(type_: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """The bind processor SQLAlchemy would apply for this column type on this dialect."""
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _apply(current: Row, later: Row) -> None:
    """Fold a later row of the file into an earlier one with the same phone (later wins)."""
    if later.name:
        current.name = later.name
    for label in later.labels:
        if label not in current.labels:
            current.labels.append(label)
    current.attributes.update(later.attributes)
    current.attributes_json = None
    current.line = later.line


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
    batch = session.get(ImportBatch, batch_id)
    if batch is None or batch.account_id != actor.account_id:
        raise NotFound(f"import {batch_id} does not exist")
    return batch


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
