"""The campaign editor's "deliver in each recipient's local time" switch."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import streamlit as st

from core.i18n import _


def load(state: MutableMapping[str, Any], key: str, source: dict[str, Any]) -> None:
    state[key + "local_time"] = bool(source.get("deliver_in_recipient_timezone"))


def inputs(key: str) -> None:
    st.checkbox(
        _("Deliver in each recipient's local time"),
        key=key + "local_time",
        help=_(
            "The send window is read in each recipient's own timezone: the contact's 'timezone' "
            "attribute, else the phone number's country or area, else the account's."
        ),
    )


def values(state: MutableMapping[str, Any], key: str) -> dict[str, Any]:
    return {"deliver_in_recipient_timezone": bool(state.get(key + "local_time"))}
