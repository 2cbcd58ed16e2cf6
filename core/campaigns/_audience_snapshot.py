"""The account's contacts as numpy arrays, cached per account while a cheap version query answers
the same: the account's contacts revision (bumped in every transaction that writes its
contacts, so it moves in commit order), with the contact count, max(updated_at), max(id) and the
labels' count and max(id). Imports, webhooks and the worker change contacts from other processes.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core.campaigns._criteria import _is_scalar, normalize_value
from core.models import Account, Contact, Label

MAX_CACHED_ACCOUNTS = 2  # a 1M-contact snapshot holds a few hundred MB

_SEP = "\x1f"  # unit separator: joins phones and names in one string during the bulk load


@dataclass
class Snapshot:
    """An account's contacts as arrays (positions are in id order)."""

    version: tuple[Any, ...]
    ids: np.ndarray  # int64, sorted
    eligible: np.ndarray  # bool: not opted out, not known to be off WhatsApp
    phones: np.ndarray  # object (str)
    names: np.ndarray  # object (str | None)
    attributes: list[dict[str, Any]]
    labels: dict[str, np.ndarray]  # label name -> sorted positions
    _columns: dict[str, tuple[np.ndarray, list[str | None]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return len(self.ids)

    def _column(self, key: str) -> tuple[np.ndarray, list[str | None]]:
        """Codes per contact and the normalised value of each code (-1: not set); built once."""
        with self._lock:
            if key not in self._columns:
                raw = [attrs.get(key) for attrs in self.attributes]
                try:
                    codes, uniques = pd.factorize(pd.Series(raw, dtype=object))
                except TypeError:  # nested lists/objects are unhashable: compare their JSON
                    raw = [v if _is_scalar(v) else json.dumps(v, sort_keys=True) for v in raw]
                    codes, uniques = pd.factorize(pd.Series(raw, dtype=object))
                self._columns[key] = (codes, [normalize_value(u) for u in uniques])
            return self._columns[key]

    def _label_mask(self, name: str) -> np.ndarray:
        mask = np.zeros(len(self.ids), dtype=bool)
        positions = self.labels.get(name)
        if positions is not None:
            mask[positions] = True
        return mask

    def matches(self, criteria: Mapping[str, Any]) -> np.ndarray:
        """Contacts matching validated criteria, before leaving out the ineligible ones."""
        mask = np.ones(len(self.ids), dtype=bool)
        if criteria.get("contact_ids"):
            mask &= np.isin(self.ids, np.asarray(criteria["contact_ids"], dtype=np.int64))
        if criteria.get("labels"):
            label_masks = [self._label_mask(name) for name in criteria["labels"]]
            combine = np.logical_and if criteria.get("labels_match") == "all" else np.logical_or
            mask &= combine.reduce(label_masks)
        for name in criteria.get("exclude_labels", ()):
            positions = self.labels.get(name)
            if positions is not None:
                mask[positions] = False
        for key, values in criteria.get("custom_attributes", {}).items():
            codes, normalised = self._column(key)
            wanted = {normalize_value(v) for v in values}
            hits = [code for code, value in enumerate(normalised) if value in wanted]
            if None in wanted:
                hits.append(-1)
            mask &= np.isin(codes, np.asarray(hits, dtype=codes.dtype))
        return mask

    def positions(self, criteria: Mapping[str, Any]) -> tuple[np.ndarray, int]:
        """Positions of the audience, and how many matches were left out as ineligible."""
        matched = self.matches(criteria)
        chosen = matched & self.eligible
        return np.flatnonzero(chosen), int(matched.sum()) - int(chosen.sum())

    def labels_of(self, position: int) -> list[str]:
        found = []
        for name, positions in self.labels.items():
            at = np.searchsorted(positions, position)
            if at < len(positions) and positions[at] == position:
                found.append(name)
        return sorted(found)

    def row(self, position: int) -> dict[str, Any]:
        return {
            "id": int(self.ids[position]),
            "phone": self.phones[position],
            "name": self.names[position],
            "labels": self.labels_of(position),
            "custom_attributes": self.attributes[position],
        }

    def frame(self, positions: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "id": self.ids[positions],
                "phone": self.phones[positions],
                "name": self.names[positions],
                "custom_attributes": [self.attributes[p] for p in positions.tolist()],
            }
        )


_cache: OrderedDict[tuple[str, int], Snapshot] = OrderedDict()

_cache_lock = threading.Lock()

_load_locks: dict[tuple[str, int], threading.Lock] = {}


def _version(session: Session, account_id: int) -> tuple[Any, ...]:
    of_account = Contact.account_id == account_id
    row = session.execute(
        select(
            select(func.count()).select_from(Contact).where(of_account).scalar_subquery(),
            select(func.max(Contact.updated_at)).where(of_account).scalar_subquery(),
            select(func.max(Contact.id)).where(of_account).scalar_subquery(),
            select(func.count())
            .select_from(Label)
            .where(Label.account_id == account_id)
            .scalar_subquery(),
            select(func.max(Label.id)).where(Label.account_id == account_id).scalar_subquery(),
            select(Account.contacts_revision).where(Account.id == account_id).scalar_subquery(),
        )
    ).one()
    return tuple(row)


# One row of big strings instead of a million rows of tuples: building Python row objects is
# what makes a plain SELECT slow, and numpy/json parse the joined strings in C.
# On SQLite the contacts are read by a rowid range scan (`+account_id` keeps the planner off the
# account index, whose per-row lookups cost more than the scan) and the label pairs from the
# primary-key index of contact_labels; rows come back in id order, which `_load` checks.
_ACCOUNT_ID_RANGE = """
    BETWEEN (SELECT min(id) FROM contacts WHERE account_id = :account_id)
        AND (SELECT max(id) FROM contacts WHERE account_id = :account_id)
"""

_CONTACTS_SQL = {
    "sqlite": f"""
        SELECT group_concat(id),
               group_concat(CASE WHEN opted_out_at IS NULL
                                  AND whatsapp_status != 'not_on_whatsapp' THEN '1' ELSE '0' END, ''),
               group_concat(phone, char(31)),
               group_concat(coalesce(name, ''), char(31)),
               '[' || group_concat(coalesce(custom_attributes, '{{}}')) || ']'
        FROM contacts WHERE +account_id = :account_id AND id {_ACCOUNT_ID_RANGE}
    """,
    "postgresql": """
        SELECT string_agg(id::text, ',' ORDER BY id),
               string_agg(CASE WHEN opted_out_at IS NULL
                                AND whatsapp_status != 'not_on_whatsapp' THEN '1' ELSE '0' END,
                          '' ORDER BY id),
               string_agg(phone, chr(31) ORDER BY id),
               string_agg(coalesce(name, ''), chr(31) ORDER BY id),
               '[' || string_agg(coalesce(custom_attributes::text, '{}'), ',' ORDER BY id) || ']'
        FROM contacts WHERE account_id = :account_id
    """,
}

# Fallbacks for the rare phone or name holding the separator itself.
_COLUMN_SQL = "SELECT id, {column} FROM contacts WHERE account_id = :account_id ORDER BY id"

_LABEL_PAIRS_SQL = {
    "sqlite": f"""
        SELECT group_concat(contact_id), group_concat(label_id)
        FROM contact_labels
        WHERE contact_id {_ACCOUNT_ID_RANGE}
          AND +label_id IN (SELECT id FROM labels WHERE account_id = :account_id)
    """,
    "postgresql": """
        SELECT string_agg(cl.contact_id::text, ','), string_agg(cl.label_id::text, ',')
        FROM contact_labels cl JOIN labels l ON l.id = cl.label_id
        WHERE l.account_id = :account_id
    """,
}


def _int_array(joined: str | None) -> np.ndarray:
    if not joined:
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(joined, dtype=np.int64, sep=",")


def _text_column(
    session: Session,
    params: dict[str, Any],
    column: str,
    joined: str,
    ids: np.ndarray,
    empty_is_none: bool = False,
) -> np.ndarray:
    """A joined text column split back into an object array."""
    parts = joined.split(_SEP) if len(ids) else []
    if len(parts) != len(ids):  # a value holds the separator: read this column row by row
        rows = dict(session.execute(text(_COLUMN_SQL.format(column=column)), params).all())
        parts = [rows.get(int(i)) or "" for i in ids.tolist()]
    values = np.array(parts, dtype=object)
    if empty_is_none:
        values[values == ""] = None
    return values


def _load(session: Session, account_id: int, version: tuple[Any, ...]) -> Snapshot:
    dialect = session.get_bind().dialect.name
    params = {"account_id": account_id}
    ids_s, flags, phones_s, names_s, attrs = session.execute(
        text(_CONTACTS_SQL[dialect]), params
    ).one()
    ids = _int_array(ids_s)
    count = len(ids)
    eligible = (
        np.frombuffer(flags.encode("ascii"), dtype=np.uint8) == ord("1")
        if count
        else np.zeros(0, dtype=bool)
    )
    phones = _text_column(session, params, "phone", phones_s or "", ids)
    names = _text_column(session, params, "name", names_s or "", ids, empty_is_none=True)
    attributes = json.loads(attrs) if count else []
    attributes = [a if type(a) is dict else {} for a in attributes]
    if count > 1 and not bool((ids[1:] > ids[:-1]).all()):  # not in id order: sort everything
        order = np.argsort(ids, kind="stable")
        ids, eligible, phones, names = ids[order], eligible[order], phones[order], names[order]
        attributes = [attributes[i] for i in order.tolist()]

    names_by_id = dict(
        session.execute(select(Label.id, Label.name).where(Label.account_id == account_id)).all()
    )
    contact_s, label_s = session.execute(text(_LABEL_PAIRS_SQL[dialect]), params).one()
    member_ids, label_ids = _int_array(contact_s), _int_array(label_s)
    at = np.searchsorted(ids, member_ids)
    inside = at < count
    at, label_ids = at[inside], label_ids[inside]
    known = ids[at] == member_ids[inside]  # a contact added after the first query
    at, label_ids = at[known], label_ids[known]
    labels: dict[str, np.ndarray] = {}
    for label_id, name in names_by_id.items():
        positions = at[label_ids == label_id]
        if positions.size == 0:
            continue
        if positions.size > 1 and not bool((positions[1:] > positions[:-1]).all()):
            positions = np.unique(positions)
        labels[name] = positions
    return Snapshot(
        version=version,
        ids=ids,
        eligible=eligible,
        phones=phones,
        names=names,
        attributes=attributes,
        labels=labels,
    )


def audience_snapshot(session: Session, account_id: int) -> Snapshot:
    """The account's contacts, from the cache when the version query says nothing changed.

    The version is read before the contacts: a change that slips in between makes the next
    version differ and reloads, never the other way round.
    """
    bind = session.get_bind()
    key = (bind.engine.url.render_as_string(hide_password=True), account_id)
    version = _version(session, account_id)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None and cached.version == version:
            _cache.move_to_end(key)
            return cached
        load_lock = _load_locks.setdefault(key, threading.Lock())
    with load_lock:
        with _cache_lock:
            cached = _cache.get(key)
            if cached is not None and cached.version == version:
                return cached
        loaded = _load(session, account_id, version)
        with _cache_lock:
            _cache[key] = loaded
            _cache.move_to_end(key)
            while len(_cache) > MAX_CACHED_ACCOUNTS:
                _cache.popitem(last=False)
        return loaded


def clear_audience_cache() -> None:
    with _cache_lock:
        _cache.clear()
