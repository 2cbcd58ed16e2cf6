"""The columns of an import: what each one holds, suggested from its header, chosen by staff.

A column goes to one `ColumnTarget`: the phone (exactly one column), other phones (used when a
row's phone is empty or invalid, or when their label says mobile), the name (several columns are
joined: First + Last), labels, a custom attribute (text, number, true/false, or "auto": numbers
and true/false detected), or nowhere. Address-book exports (Google, Outlook, Chatwoot, WhatsApp
Business) are recognised by their headers (`core.contacts._address_books`); other headers in
English, Spanish and Portuguese, accents and spacing ignored. `preview_file` shows the
suggestion with the first rows, for staff to confirm.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import BinaryIO

from core.base import ValidationError
from core.contacts._address_books import Recognised, recognise
from core.contacts._csv_reading import CsvFormat, open_csv
from core.contacts._fields import header_key


class ColumnTarget(StrEnum):
    """Where a column's cells go (the values are what the API's `mapping` names)."""

    PHONE = "phone"
    OTHER_PHONE = "other_phone"
    NAME = "name"
    LABELS = "labels"
    TEXT = "text"
    NUMBER = "number"
    BOOLEAN = "boolean"
    AUTO = "auto"
    SKIP = "skip"


ATTRIBUTE_TYPES = (ColumnTarget.TEXT, ColumnTarget.NUMBER, ColumnTarget.BOOLEAN, ColumnTarget.AUTO)
_TARGET_NAMES = [target.value for target in ColumnTarget]

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


def suggest_mapping(
    columns: list[str], typed: bool = False, sample: list[list[str]] | None = None
) -> dict[str, ColumnTarget]:
    """An address book's own mapping; else recognised columns (EN/ES/PT) for phone, name and
    labels, and every other one an attribute. `sample`: first rows, for an address book's
    columns that may be empty throughout."""
    book = recognise(columns, sample, _attribute_default(typed).value)
    if book is not None:
        return {column: ColumnTarget(target) for column, target in book.mapping.items()}
    keys = [header_key(c) for c in columns]
    mapping = {c: _attribute_default(typed) for c in columns}
    for group in _PHONE_HEADERS:
        found = next((c for c, k in zip(columns, keys, strict=True) if k in group), None)
        if found:
            mapping[found] = ColumnTarget.PHONE
            break
    for column, key in zip(columns, keys, strict=True):
        if key in _EXPORT_ONLY_HEADERS:
            mapping[column] = ColumnTarget.SKIP  # our own export's read-only columns
    name = next(
        (
            c
            for c, k in zip(columns, keys, strict=True)
            if k in _NAME_HEADERS and mapping[c] != ColumnTarget.PHONE
        ),
        None,
    )
    if name:
        mapping[name] = ColumnTarget.NAME
    for column, key in zip(columns, keys, strict=True):
        if key in _LABEL_HEADERS and mapping[column] != ColumnTarget.PHONE:
            mapping[column] = ColumnTarget.LABELS
    return mapping


def _attribute_default(typed: bool) -> ColumnTarget:
    return ColumnTarget.AUTO if typed else ColumnTarget.TEXT


SAMPLE_ROWS = 200  # what decides whether an address book's column holds data


@dataclass(frozen=True)
class Preview:
    format: CsvFormat
    columns: list[str]
    mapping: dict[str, ColumnTarget]  # suggested
    rows: list[list[str]]  # the first data rows, padded to the header's width
    address_book: str | None = None  # "Google Contacts" when the headers are its export's


def preview_file(fileobj: BinaryIO, rows: int = 5, typed: bool = False) -> Preview:
    """Format, columns, suggested mapping and first rows: what the user confirms before importing."""
    with open_csv(fileobj) as opened:
        columns = opened.columns
        sample: list[list[str]] = []
        for _line, fields, _error in opened.rows:
            if len(sample) >= max(rows, SAMPLE_ROWS):
                break
            if fields is not None:
                sample.append((fields + [""] * len(columns))[: len(columns)])
    book: Recognised | None = recognise(columns, sample, _attribute_default(typed).value)
    return Preview(
        opened.format,
        columns,
        suggest_mapping(columns, typed, sample),
        sample[:rows],
        book.name if book is not None else None,
    )


def full_mapping(columns: list[str], mapping: dict[str, str] | None, typed: bool) -> dict[str, str]:
    """The suggestion, overridden by what the user chose (their phone/name column wins).

    Targets come out as plain strings: the row parser compares them for every cell.
    """
    full = {column: target.value for column, target in suggest_mapping(columns, typed).items()}
    if not mapping:
        return full
    unknown = [c for c in mapping if c not in columns]
    if unknown:
        raise ValidationError(
            "the mapping names columns the file does not have: {columns}",
            "mapping",
            columns=", ".join(unknown),
        )
    for target in (ColumnTarget.PHONE, ColumnTarget.NAME):
        if target in mapping.values():
            for column, chosen in full.items():
                if chosen == target and column not in mapping:
                    full[column] = _attribute_default(typed).value
    full.update(
        (column, target.value if isinstance(target, ColumnTarget) else target)
        for column, target in mapping.items()
    )
    return full


def check_mapping(columns: list[str], mapping: dict[str, str], sample: list[str] | None) -> None:
    """`ValidationError` unless every target is known and one phone column is chosen (several
    name columns are joined). `sample` (the header row) tells a missing header from a missing phone."""
    bad = sorted({t for t in mapping.values() if t not in _TARGET_NAMES})
    if bad:
        raise ValidationError(
            "unknown column targets {targets}; use one of {choices}",
            "mapping",
            targets=repr(bad),
            choices=repr(_TARGET_NAMES),
        )
    phones = [c for c, t in mapping.items() if t == ColumnTarget.PHONE]
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


def _looks_like_phone(cell: str) -> bool:
    digits = sum(ch.isdigit() for ch in cell)
    return digits >= 8 and digits >= len(cell.strip()) * 0.6
