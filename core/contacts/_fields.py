"""What a contact's own fields may hold, for the editor and the importer alike.

Names are at most `MAX_NAME` characters; labels are trimmed, lower-case and at most `MAX_LABEL`
characters, and one cell may hold several (`split_labels`); attribute names are derived from
what staff typed or the CSV header said (`attribute_key`). Values coming back from our own CSV
export lose its formula escaping (`unescape_cell`).
"""

from __future__ import annotations

import re

MAX_NAME = 200
MAX_LABEL = 100
LABEL_SEPARATORS = re.compile(r"[,;|]")


def attribute_key(header: str) -> str:
    """The custom attribute name for a column: 'Data de Nascimento' -> 'data_de_nascimento'."""
    return re.sub(r"[\s\-]+", "_", header.strip().lower()).strip("_")


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
