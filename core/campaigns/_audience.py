"""Audience criteria -> contacts: the one resolver behind the UI preview and the frozen recipients.

Criteria (DESIGN.md § Audience): `contact_ids`, `labels` (+ `labels_match` any|all),
`exclude_labels`, `custom_attributes` {key: value or [values]}; every key present narrows the
audience (AND). Opted-out contacts and contacts known not to be on WhatsApp are never included.

The account's contacts are loaded once into numpy arrays and filtered vectorised. The load is
cached per account and reused while a cheap version query answers the same: the account's
contacts revision (bumped in every transaction that writes its contacts, so it moves in commit
order), with the contact count, max(updated_at), max(id) and the labels' count and max(id).
Imports, webhooks and the worker change contacts from other processes.
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

from core.base import ValidationError
from core.models import Account, Contact, Label
from core.people import Actor, require

CRITERIA_KEYS = ("contact_ids", "labels", "labels_match", "exclude_labels", "custom_attributes")
SELECTING_KEYS = ("contact_ids", "labels", "custom_attributes")
MAX_CACHED_ACCOUNTS = 2  # a 1M-contact snapshot holds a few hundred MB
_SEP = "\x1f"  # unit separator: joins phones and names in one string during the bulk load


@dataclass(frozen=True)
class AudiencePreview:
    count: int  # contacts that will receive the campaign
    sample: list[dict[str, Any]]  # the first few of them, by id
    excluded: int = 0  # matched the criteria but opted out or not on WhatsApp


# -- criteria -----------------------------------------------------------------------------------


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _id_list(value: Any, key: str) -> list[int]:
    problem = ValidationError(
        "audience.{key} must be a list of contact ids (whole numbers)", f"audience.{key}", key=key
    )
    if not isinstance(value, list | tuple):
        raise problem
    ids: set[int] = set()
    for item in value:
        if isinstance(item, bool):
            raise problem
        if isinstance(item, int):
            ids.add(item)
        elif isinstance(item, str) and item.strip().isdigit():
            ids.add(int(item.strip()))
        else:
            raise problem
    return sorted(ids)


def _label_list(value: Any, key: str) -> list[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValidationError(
            "audience.{key} must be a list of label names", f"audience.{key}", key=key
        )
    names = {normalize_label(v) for v in value}
    names.discard("")
    return sorted(names)


def normalize_label(name: str) -> str:
    """Labels are stored trimmed and lower-case."""
    return name.strip().lower()


def _attribute_conditions(value: Any) -> dict[str, list[Any]]:
    field_name = "audience.custom_attributes"
    if not isinstance(value, Mapping):
        raise ValidationError(
            "audience.custom_attributes must be an object of attribute: value or [values]",
            field_name,
        )
    conditions: dict[str, list[Any]] = {}
    for key, wanted in value.items():
        if not isinstance(key, str) or not key.strip():
            raise ValidationError(
                "audience.custom_attributes has an empty attribute name", field_name
            )
        values = list(wanted) if isinstance(wanted, list | tuple) else [wanted]
        if not values:
            raise ValidationError(
                "audience.custom_attributes.{key} lists no values", f"{field_name}.{key}", key=key
            )
        if not all(_is_scalar(v) for v in values):
            raise ValidationError(
                "audience.custom_attributes.{key} must be a text, number or true/false "
                "value, or a list of them",
                f"{field_name}.{key}",
                key=key,
            )
        conditions[key.strip()] = values
    return conditions


def validate_audience(criteria: Any) -> dict[str, Any]:
    """The criteria, checked and normalised; `ValidationError` names the offending key.

    Empty lists count as absent. At least one of contact_ids, labels or custom_attributes must
    select someone: `{}` is refused rather than read as "every contact".
    """
    if criteria is None or criteria == {}:
        raise ValidationError(
            "audience is empty: choose contacts, labels or attribute conditions", "audience"
        )
    if not isinstance(criteria, Mapping):
        raise ValidationError("audience must be an object of criteria", "audience")
    unknown = sorted(str(key) for key in criteria if key not in CRITERIA_KEYS)
    if unknown:
        raise ValidationError(
            "audience has an unknown key {key!r} (use {choices})",
            f"audience.{unknown[0]}",
            key=unknown[0],
            choices=", ".join(CRITERIA_KEYS),
        )
    result: dict[str, Any] = {}
    if criteria.get("contact_ids"):
        result["contact_ids"] = _id_list(criteria["contact_ids"], "contact_ids")
    if criteria.get("labels"):
        result["labels"] = _label_list(criteria["labels"], "labels")
    match = criteria.get("labels_match", "any") or "any"
    if match not in ("any", "all"):
        raise ValidationError(
            "audience.labels_match must be 'any' or 'all'", "audience.labels_match"
        )
    if result.get("labels"):
        result["labels_match"] = match
    if criteria.get("exclude_labels"):
        result["exclude_labels"] = _label_list(criteria["exclude_labels"], "exclude_labels")
    if criteria.get("custom_attributes"):
        result["custom_attributes"] = _attribute_conditions(criteria["custom_attributes"])
    for key in ("contact_ids", "labels", "exclude_labels"):
        if key in criteria and criteria[key] and not result.get(key):
            raise ValidationError("audience.{key} lists nothing usable", f"audience.{key}", key=key)
    if not any(result.get(key) for key in SELECTING_KEYS):
        raise ValidationError(
            "audience is empty: choose contacts, labels or attribute conditions", "audience"
        )
    return result


def normalize_value(value: Any) -> str | None:
    """How attribute values compare: as text, ignoring case and surrounding spaces.

    CSV imports store text while API criteria may carry numbers or booleans, so 30 == "30" and
    True == "true". Empty text and null both mean "not set".
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value.strip().casefold() or None
    return json.dumps(value, sort_keys=True, ensure_ascii=False).casefold()


# -- the cached snapshot of an account's contacts -----------------------------------------------


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


# -- the public resolver ------------------------------------------------------------------------


def resolve_audience(session: Session, account_id: int, criteria: Any) -> pd.DataFrame:
    """The contacts in the audience (id, phone, name, custom_attributes), in id order."""
    valid = validate_audience(criteria)
    snap = audience_snapshot(session, account_id)
    positions, _excluded = snap.positions(valid)
    return snap.frame(positions)


def preview_for_account(
    session: Session, account_id: int, criteria: Any, sample: int = 5
) -> AudiencePreview:
    """How many contacts the criteria reach and the first `sample` of them — exactly what
    `resolve` (and so the campaign's start) would give at this moment."""
    valid = validate_audience(criteria)
    snap = audience_snapshot(session, account_id)
    positions, excluded = snap.positions(valid)
    rows = [snap.row(int(p)) for p in positions[: max(sample, 0)]]
    return AudiencePreview(count=len(positions), sample=rows, excluded=excluded)


def preview_audience(
    session: Session, actor: Actor, criteria: Any, sample: int = 5
) -> AudiencePreview:
    """How many of the actor's account's contacts the criteria reach, and the first `sample`."""
    require(actor, "campaigns.read")
    return preview_for_account(session, actor.account_id, criteria, sample)
