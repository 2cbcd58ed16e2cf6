"""The campaign editor's "when": save as a draft, send now, or schedule at a local date and time."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from core.base import FIRST_DAY, LAST_DAY, ValidationError, parse_datetime, utcnow
from core.i18n import _
from ui import field_errors


def load(state: MutableMapping[str, Any], key: str, source: dict[str, Any], zone: ZoneInfo) -> None:
    """A scheduled campaign keeps its time; anything else is offered an hour from now."""
    try:
        scheduled = parse_datetime(source.get("scheduled_at"), "scheduled_at")
    except ValidationError:  # stored before dates were bounded (year 9999): offer a new one
        scheduled = None
    local = (scheduled or utcnow() + timedelta(hours=1)).astimezone(zone)
    state[key + "when"] = "schedule" if source.get("status") == "pending" else "draft"
    state[key + "date"] = min(max(local.date(), FIRST_DAY), LAST_DAY)
    state[key + "time"] = local.time().replace(second=0, microsecond=0)


def inputs(
    state: MutableMapping[str, Any], key: str, timezone: str, errors: Mapping[str, list[str]]
) -> None:
    st.radio(
        _("When"),
        ["draft", "now", "schedule"],
        format_func={
            "draft": _("Save as draft"),
            "now": _("Send now"),
            "schedule": _("Schedule"),
        }.get,
        key=key + "when",
        horizontal=True,
    )
    if state[key + "when"] == "schedule":
        left, right = st.columns(2)
        left.date_input(_("Date"), key=key + "date", min_value=FIRST_DAY, max_value=LAST_DAY)
        right.time_input(_("Time ({zone})").format(zone=timezone), key=key + "time", step=300)
    field_errors.show(errors, "scheduled_at", "status")


def start_at(state: MutableMapping[str, Any], key: str, zone: ZoneInfo) -> datetime:
    """When sending would start: the scheduled local time, else now."""
    if state[key + "when"] == "schedule":
        return datetime.combine(
            state[key + "date"], state.get(key + "time") or time(0), tzinfo=zone
        )
    return utcnow()


def values(state: MutableMapping[str, Any], key: str, start: datetime) -> dict[str, Any]:
    """The campaign fields, `start` being what `start_at` gave when the page was drawn."""
    scheduled = state[key + "when"] == "schedule"
    return {
        "status": "pending" if scheduled else "draft",
        "scheduled_at": start if scheduled else None,
    }
