"""The campaign editor's "retry failed recipients automatically" inputs (core.campaigns._auto_retry)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import streamlit as st

from core.i18n import _

DEFAULT_HOURS = 6


def load(state: MutableMapping[str, Any], key: str, source: dict[str, Any]) -> None:
    """Fill the inputs from a campaign's JSON (or the defaults for a new one)."""
    hours = source.get("auto_retry_hours")
    state[key + "auto_retry"] = bool(hours)
    state[key + "auto_retry_hours"] = int(hours or DEFAULT_HOURS)
    state[key + "auto_retry_limit"] = int(source.get("auto_retry_limit") or 1)


def inputs(state: MutableMapping[str, Any], key: str) -> None:
    st.checkbox(
        _("Retry failed recipients automatically"),
        key=key + "auto_retry",
        help=_(
            "Only recipients whose every attempt failed for a temporary reason (the server busy "
            "or not answering) are sent again. Never numbers not on WhatsApp, messages the "
            "server rejected, contacts who opted out, or sends that may have gone out."
        ),
    )
    if state.get(key + "auto_retry"):
        left, right = st.columns(2)
        left.number_input(
            _("Hours after the campaign finishes"), 1, 72, step=1, key=key + "auto_retry_hours"
        )
        right.number_input(_("At most (times)"), 1, 2, step=1, key=key + "auto_retry_limit")


def values(state: MutableMapping[str, Any], key: str) -> dict[str, Any]:
    """The campaign fields the inputs say."""
    if not state.get(key + "auto_retry"):
        return {"auto_retry_hours": None}
    return {
        "auto_retry_hours": int(state.get(key + "auto_retry_hours") or DEFAULT_HOURS),
        "auto_retry_limit": int(state.get(key + "auto_retry_limit") or 1),
    }
