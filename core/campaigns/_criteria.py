"""Audience criteria (DESIGN.md § Audience): what staff may ask for, checked and normalised.

`contact_ids`, `labels` (+ `labels_match` any|all), `exclude_labels`, `custom_attributes`
{key: value or [values]}; every key present narrows the audience (AND).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from core.base import ValidationError

CRITERIA_KEYS = ("contact_ids", "labels", "labels_match", "exclude_labels", "custom_attributes")

SELECTING_KEYS = ("contact_ids", "labels", "custom_attributes")


def _is_scalar(value: Any) -> bool:
    # Infinity and NaN are not JSON: stored in a campaign's audience they break its column.
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | int | bool)


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
