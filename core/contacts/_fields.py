"""What a contact's own fields may hold, for the editor and the importer alike.

Names are at most `MAX_NAME` characters; labels are trimmed, lower-case and at most `MAX_LABEL`
characters, and one cell may hold several (`split_labels`, which also reads address books'
`:::` lists and drops their system groups); attribute names are derived from what staff typed
or the CSV header said (`attribute_key`, which keeps the header's words). Values coming back from our own CSV
export lose its formula escaping (`unescape_cell`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from core.base import ValidationError

MAX_NAME = 200
MAX_LABEL = 100
# A contact's attributes are short facts (a city, a birthday, a plan); the limits keep one
# contact from holding megabytes that every audience read then carries.
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_NAME = 100
MAX_ATTRIBUTE_VALUE = 1000
LABEL_SEPARATORS = re.compile(r":::|[,;|]")
# Google Contacts' own groups: every contact is in "My Contacts"; "Starred" is a favourite mark.
SYSTEM_GROUPS = {"* mycontacts", "* starred", "mycontacts", "starred"}
# Address books number repeated fields: "E-mail 1 - Value", "Address 2 - City".
_NUMBERED = re.compile(r"(.+?)\s+(\d+)\s+-\s+(.+)")
_EMAIL = re.compile(r"\be-mail\b", re.IGNORECASE)


def header_key(header: str) -> str:
    """'Teléfono Móvil ' -> 'telefonomovil': what header recognition compares."""
    text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


def attribute_key(header: str) -> str:
    """The custom attribute name for a column, in the header's words: 'Data de Nascimento' ->
    'data_de_nascimento', 'E-mail 1 - Value' -> 'email', 'Address 2 - City' -> 'address_2_city'.

    Lower-case words joined by '_': a name a message template can use as a variable.
    """
    text = header.strip()
    numbered = _NUMBERED.fullmatch(text)
    if numbered:
        group, number, part = numbered.groups()
        group = group if number == "1" else f"{group} {number}"
        text = group if part.strip().lower() == "value" else f"{group} {part}"
    text = _EMAIL.sub("email", text)
    return re.sub(r"[\s\-]+", "_", text.lower()).strip("_")


def unescape_cell(value: str) -> str:
    """Undo the formula escaping of our own CSV export ("'=x" -> "=x"); stored values are data."""
    if len(value) > 1 and value[0] == "'" and value[1] in "=+-@\t\r":
        return value[1:]
    return value


def split_labels(value: str) -> list[str]:
    """'VIP; Cliente,vip | ' -> ['vip', 'cliente']; '* myContacts ::: * Friends ::: VIP' ->
    ['friends', 'vip'] (Google's system groups dropped, its '* ' mark of a group taken off)."""
    if "," not in value and ";" not in value and "|" not in value and ":::" not in value:
        label = _label(value)
        return [label] if label else []
    labels: list[str] = []
    for part in LABEL_SEPARATORS.split(value):
        label = _label(part)
        if label and label not in labels:
            labels.append(label)
    return labels


def _label(part: str) -> str:
    label = unescape_cell(part.strip()).lower()
    if label[:1] == "*":
        if label in SYSTEM_GROUPS:
            return ""
        label = label[1:].strip()
    return label


def check_attribute_value(name: str, value: Any) -> Any:
    """`value` when a custom attribute may hold it: text up to `MAX_ATTRIBUTE_VALUE`
    characters without NUL, a finite number, or true/false. Else a ValidationError naming it.

    Infinity and NaN are refused: they are not JSON, and once stored every JSON function of
    the database fails on the contact's attributes.
    """
    field = f"custom_attributes.{name}"
    if len(name) > MAX_ATTRIBUTE_NAME:
        raise ValidationError(
            "a custom attribute name is longer than {count} characters",
            "custom_attributes",
            count=MAX_ATTRIBUTE_NAME,
        )
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError("custom attribute {name!r} must be a finite number", field, name=name)
    if isinstance(value, str):
        if len(value) > MAX_ATTRIBUTE_VALUE:
            raise ValidationError(
                "custom attribute {name!r} is longer than {count} characters",
                field,
                name=name,
                count=MAX_ATTRIBUTE_VALUE,
            )
        if "\x00" in value:
            raise ValidationError(
                "custom attribute {name!r} contains a NUL character", field, name=name
            )
    return value


def check_attribute_count(count: int) -> None:
    if count > MAX_ATTRIBUTES:
        raise ValidationError(
            "a contact has at most {limit} custom attributes, not {count}",
            "custom_attributes",
            limit=MAX_ATTRIBUTES,
            count=count,
        )
