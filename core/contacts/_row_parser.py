"""One row of an import file -> a contact's values, or the reason the row is refused.

The hot path of an import (a million rows: every line here counts). `parse_chunk` runs in
whichever process reads the file (`core.contacts._import_producer`), so it and its
`ParseConfig` must stay picklable: a module-level function and a frozen dataclass.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.base import ValidationError
from core.contacts._address_books import is_mobile, label_column
from core.contacts._columns import ATTRIBUTE_TYPES, ColumnTarget
from core.contacts._csv_reading import Record
from core.contacts._fields import (
    MAX_ATTRIBUTE_VALUE,
    MAX_LABEL,
    MAX_NAME,
    attribute_key,
    check_attribute_count,
    split_labels,
    unescape_cell,
)
from core.contacts._import_producer import Parsed
from core.contacts._import_writing import encode_attributes
from core.contacts._phones import normalize_phone
from core.i18n import N_, format_message

# Plain strings, not the enum's members: compared for every cell of every row.
_PHONE, _NAME, _LABELS = (
    ColumnTarget.PHONE.value,
    ColumnTarget.NAME.value,
    ColumnTarget.LABELS.value,
)
_OTHER_PHONE = ColumnTarget.OTHER_PHONE.value
_PHONE_LIST = ":::"  # address books put several numbers of one kind in one cell
_TEXT, _NUMBER, _AUTO = ColumnTarget.TEXT.value, ColumnTarget.NUMBER.value, ColumnTarget.AUTO.value
_ATTRIBUTE_TYPES = tuple(target.value for target in ATTRIBUTE_TYPES)

_TRUE = {"true", "yes", "y", "1", "sim", "s", "si", "sí", "verdadeiro", "verdadero", "x"}
_FALSE = {"false", "no", "n", "0", "nao", "não", "falso"}
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?\d*[.,]\d+")
_AUTO_INTEGER = re.compile(r"-?(?:0|[1-9]\d{0,14})")  # no leading zeros: zip codes stay text
_AUTO_DECIMAL = re.compile(r"-?(?:0|[1-9]\d{0,14})\.\d+")


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
    if kind == _TEXT:
        return value
    lowered = value.lower()
    if kind == _AUTO:
        if _AUTO_INTEGER.fullmatch(value):
            return int(value)
        if _AUTO_DECIMAL.fullmatch(value):
            return float(value)
        if lowered in ("true", "false"):
            return lowered == "true"
        return value
    if kind == _NUMBER:
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


def row_parser(
    columns: list[str], mapping: dict[str, str], country: str | None, check_nul: bool = True
) -> Callable[[int, list[str]], tuple]:
    """A function of (line, fields) -> (line, phone, name, labels, attributes, their JSON),
    raising `RowRejected`. `mapping` (column -> target name, plain strings) has been checked."""
    width = len(columns)
    phone_at = next(i for i, c in enumerate(columns) if mapping.get(c) == _PHONE)
    # Every phone column with where its label is (a cell, or the header itself): a row's
    # phone is the first valid number, those labelled mobile first.
    phones = [
        (i, label_column(columns, c), is_mobile(c))
        for i, c in enumerate(columns)
        if i == phone_at or mapping.get(c) == _OTHER_PHONE
    ]
    phones.sort(key=lambda p: (p[0] != phone_at, p[0]))
    several = len(phones) > 1
    name_columns = [i for i, c in enumerate(columns) if mapping.get(c) == _NAME]
    name_at = name_columns[0] if len(name_columns) == 1 else None
    label_at = [i for i, c in enumerate(columns) if mapping.get(c) == _LABELS]
    attributes: list[tuple[int, str, str, str]] = []
    used: set[str] = set()
    for index, column in enumerate(columns):
        kind = mapping.get(column, _TEXT)
        if kind in _ATTRIBUTE_TYPES:
            key, n = attribute_key(column) or f"column_{index + 1}", 2
            base = key
            while key in used:
                key, n = f"{base}_{n}", n + 1
            used.add(key)
            attributes.append((index, key, kind, column))
    check_attribute_count(len(attributes))

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
        if several or _PHONE_LIST in raw_phone:
            phone = _first_valid(fields, phones, country)
        else:
            phone = _phone_or_reject(raw_phone, country)
        if name_at is not None:
            name = fields[name_at].strip()
        else:  # First + Middle + Last
            name = " ".join(p for p in (fields[i].strip() for i in name_columns) if p)
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
                if len(value) > MAX_ATTRIBUTE_VALUE:
                    raise RowRejected(
                        "column {column!r}: the value is longer than {count} characters",
                        column=column,
                        count=MAX_ATTRIBUTE_VALUE,
                    )
                converted = value if kind == _TEXT else _convert(value, kind, column)
                # A decimal of 400 digits is infinity as a float: not JSON, and once stored
                # every JSON function of the database fails on the contact.
                if converted.__class__ is float and not math.isfinite(converted):
                    raise RowRejected(
                        "column {column!r}: {value!r} is not a finite number",
                        column=column,
                        value=value[:30],
                    )
                values[key] = converted
        if check_nul and any("\x00" in f for f in fields):  # 8-bit files: refused whole
            raise RowRejected("the row contains a NUL character (binary data)")
        return (line, phone, name or None, labels, values, encode_attributes(values))

    return parse


def _first_valid(
    fields: list[str], phones: list[tuple[int, int | None, bool]], country: str | None
) -> str:
    """The row's phone among several columns and `:::` lists: the first valid number, the
    columns labelled mobile (by their label cell, else their header) first. When none is
    valid, the reason is the first invalid number's."""
    ordered = sorted(
        phones,
        key=lambda p: not (is_mobile(fields[p[1]]) if p[1] is not None and fields[p[1]] else p[2]),
    )
    problem: ValidationError | None = None
    for index, _label, _mobile in ordered:
        for raw in fields[index].split(_PHONE_LIST):
            raw = raw.strip()
            if not raw:
                continue
            try:
                return normalize_phone(raw, country)
            except ValidationError as error:
                problem = problem or error
    if problem is None:
        raise RowRejected("phone is empty")
    raise RowRejected("phone {phone!r}: {problem}", **problem.params)


def _phone_or_reject(raw_phone: str, country: str | None) -> str:
    """E.164, or the row's rejection with the phone's own error nested: "phone '12': too short
    to be a phone number"."""
    if not raw_phone:
        raise RowRejected("phone is empty")
    try:
        return normalize_phone(raw_phone, country)
    except ValidationError as error:
        raise RowRejected("phone {phone!r}: {problem}", **error.params) from None


def vet_contact(
    raw_phone: str, name: str | None, labels: list[str], country: str | None
) -> tuple[str, list[str]]:
    """A contact from elsewhere (Chatwoot) through an import row's checks, with the same
    reasons: its phone as E.164 and its labels as stored (trimmed, lower-case), or RowRejected."""
    phone = _phone_or_reject((raw_phone or "").strip(), country)
    if name and len(name) > MAX_NAME:
        raise RowRejected("name is longer than {count} characters", count=MAX_NAME)
    clean = list(dict.fromkeys(label.strip().lower() for label in labels if label.strip()))
    if clean and max(map(len, clean)) > MAX_LABEL:
        raise RowRejected("a label is longer than {count} characters", count=MAX_LABEL)
    return phone, clean


@dataclass(frozen=True)
class ParseConfig:
    columns: list[str]
    mapping: dict[str, str]
    country: str | None
    check_nul: bool


_parser: tuple[ParseConfig, Callable[[int, list[str]], tuple]] | None = None


def parse_chunk(config: ParseConfig, chunk: list[Record]) -> Parsed:
    """Rows of one chunk as (line, phone, name, labels, attributes) tuples, and the rejections."""
    global _parser
    if _parser is None or _parser[0] != config:
        _parser = (
            config,
            row_parser(config.columns, config.mapping, config.country, config.check_nul),
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
