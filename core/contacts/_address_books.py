"""Address-book exports recognised by their headers: Google Contacts (both layouts), Outlook,
Chatwoot and WhatsApp Business tools. Such a file imports without mapping by hand.

Each recognised layout says which columns hold the phone (the first one; the others are
"other phone" columns, used when a row's first is empty or invalid, or when their label says
mobile), which hold the name (several are joined: First + Middle + Last), which the labels
(Google's groups, Outlook's categories), and skips the columns every such export has but no
campaign needs (phonetic names, photos, the type of each e-mail, Outlook's "Priority: Normal").
Any other column becomes an attribute when the sample has data in it, and is skipped otherwise.

Targets are the plain values of `ColumnTarget` (this module sits below `_columns`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from core.contacts._fields import header_key

PHONE, OTHER_PHONE, NAME, LABELS, SKIP = "phone", "other_phone", "name", "labels", "skip"

_GOOGLE_PHONE = re.compile(r"phone (\d+) - value")
_GOOGLE_TYPE = re.compile(r".+ \d+ - (type|label)")
# Outlook's phone-like columns that are not phones a WhatsApp message can reach.
_NOT_A_PHONE = ("fax", "pager", "telex", "tty", "callback", "radio")

# Columns skipped whatever they hold, by header key (see `header_key`).
_GOOGLE_SKIP = {"photo", "fileas", "nameprefix", "namesuffix", "initials", "shortname"}
_OUTLOOK_SKIP = {
    "title",
    "suffix",
    "initials",
    "gender",  # "Unspecified" in every row
    "priority",  # "Normal"
    "sensitivity",  # "Normal"
    "private",  # "False"
    "userfield1",
}
_CHATWOOT_SKIP = {
    "id",
    "createdat",
    "updatedat",
    "lastactivityat",
    "thumbnail",
    "availabilitystatus",
    "blocked",
    "contactinboxes",
}
_WHATSAPP_NAMES = ["savedname", "name", "contactname", "whatsappname", "pushname", "publicname"]
_WHATSAPP_MARKS = {"pushname", "publicname", "savedname", "whatsappname", "waid", "whatsappid"}
_WHATSAPP_PHONES = ["whatsappnumber", "whatsapp", "phonenumber", "phone", "number", "waid"]
_MOBILE_WORDS = ("mobile", "cell", "celular", "movil", "telemovel")


@dataclass(frozen=True)
class Recognised:
    name: str  # the product, shown as is: "Google Contacts"
    mapping: dict[str, str]  # every column -> a target value


def recognise(
    columns: list[str], sample: list[list[str]] | None, attribute: str
) -> Recognised | None:
    """The layout these headers are, with its mapping; None for any other file.

    `sample` (first rows) tells which of the other columns hold data; `attribute` is the
    target those get ("text" or "auto")."""
    keys = [header_key(c) for c in columns]
    found = set(keys)
    for name, matches, assign in _BOOKS:
        if matches(found, columns):
            assigned = assign(columns, keys)
            mapping = {
                column: assigned.get(column) or (attribute if _has_data(sample, index) else SKIP)
                for index, column in enumerate(columns)
            }
            return Recognised(name, mapping)
    return None


def is_mobile(label: str) -> bool:
    """A phone's label ("Mobile", "* Mobile", "Celular", "Mobile Phone") says it is a mobile."""
    text = header_key(label)
    return any(word in text for word in _MOBILE_WORDS)


def label_column(columns: list[str], column: str) -> int | None:
    """Where the label of a numbered phone column is: "Phone 2 - Value" -> "Phone 2 - Type"."""
    if not column.lower().endswith(" - value"):
        return None
    stem = column[: -len(" - value")]
    for suffix in (" - Type", " - Label"):
        for index, other in enumerate(columns):
            if other.strip().lower() == (stem + suffix).strip().lower():
                return index
    return None


def _has_data(sample: list[list[str]] | None, index: int) -> bool:
    if sample is None:
        return True  # nothing to look at (an import without preview): empty cells store nothing
    return any(index < len(row) and row[index].strip() for row in sample)


# --- Google Contacts ------------------------------------------------------------------------


def _is_google(keys: set[str], columns: list[str]) -> bool:
    return "phone1value" in keys and bool(
        keys & {"phone1type", "phone1label", "groupmembership", "givenname"}
        or {"labels", "firstname"} <= keys
    )


def _google(columns: list[str], keys: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    phones = sorted(
        (int(m.group(1)), c)
        for c in columns
        if (m := _GOOGLE_PHONE.fullmatch(c.strip().lower())) is not None
    )
    for position, (_number, column) in enumerate(phones):
        mapping[column] = PHONE if position == 0 else OTHER_PHONE
    full_name = "name" in keys  # the old layout: Name, then its parts
    for column, key in zip(columns, keys, strict=True):
        if column in mapping:
            continue
        if _GOOGLE_TYPE.fullmatch(column.strip().lower()):
            mapping[column] = SKIP  # "Phone 1 - Type": read with its phone, not stored
        elif key in ("groupmembership", "labels"):
            mapping[column] = LABELS
        elif key in (
            "name",
            "firstname",
            "middlename",
            "lastname",
            "givenname",
            "additionalname",
            "familyname",
        ):
            # The old layout has the full Name and its parts; the new one only the parts.
            mapping[column] = NAME if key == "name" or not full_name else SKIP
        elif "yomi" in key or "phonetic" in key or key in _GOOGLE_SKIP:
            mapping[column] = SKIP
    return mapping


# --- Outlook --------------------------------------------------------------------------------


def _is_outlook(keys: set[str], columns: list[str]) -> bool:
    return "mobilephone" in keys and bool(
        keys & {"categories", "emailaddress", "businessphone", "homephone"}
    )


def _outlook(columns: list[str], keys: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for column, key in zip(columns, keys, strict=True):
        if key == "mobilephone":
            mapping[column] = PHONE
        elif "phone" in key and not any(word in key for word in _NOT_A_PHONE):
            mapping[column] = OTHER_PHONE
        elif any(word in key for word in _NOT_A_PHONE) or "yomi" in key or key in _OUTLOOK_SKIP:
            mapping[column] = SKIP
        elif key in ("firstname", "middlename", "lastname"):
            mapping[column] = NAME
        elif key == "categories":
            mapping[column] = LABELS
    if "mobilephone2" in keys:  # two "Mobile Phone" columns would make two phones
        mapping[columns[keys.index("mobilephone2")]] = OTHER_PHONE
    return mapping


# --- Chatwoot -------------------------------------------------------------------------------


def _is_chatwoot(keys: set[str], columns: list[str]) -> bool:
    raw = {c.strip().lower() for c in columns}
    return "phone_number" in raw and "name" in raw and bool(raw & {"email", "identifier", "id"})


def _chatwoot(columns: list[str], keys: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for column, key in zip(columns, keys, strict=True):
        if key == "phonenumber":
            mapping[column] = PHONE
        elif key == "name":
            mapping[column] = NAME
        elif key in ("labels", "label", "tags"):
            mapping[column] = LABELS
        elif key in _CHATWOOT_SKIP:
            mapping[column] = SKIP
    return mapping


# --- WhatsApp Business (its labels and the contact exporters made for it) --------------------


def _is_whatsapp(keys: set[str], columns: list[str]) -> bool:
    return bool(keys & _WHATSAPP_MARKS) and any(k in keys for k in _WHATSAPP_PHONES)


def _whatsapp(columns: list[str], keys: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    phone = next(k for k in _WHATSAPP_PHONES if k in keys)
    mapping[columns[keys.index(phone)]] = PHONE
    name = next((k for k in _WHATSAPP_NAMES if k in keys), None)
    if name is not None:
        mapping[columns[keys.index(name)]] = NAME
    for column, key in zip(columns, keys, strict=True):
        if column not in mapping and key in ("labels", "label", "tags", "etiquetas"):
            mapping[column] = LABELS
    return mapping


_BOOKS: list[
    tuple[
        str,
        Callable[[set[str], list[str]], bool],
        Callable[[list[str], list[str]], dict[str, str]],
    ]
] = [
    ("Google Contacts", _is_google, _google),
    ("Outlook", _is_outlook, _outlook),
    ("Chatwoot", _is_chatwoot, _chatwoot),
    ("WhatsApp Business", _is_whatsapp, _whatsapp),
]
