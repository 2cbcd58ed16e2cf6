"""Form values that survive a visit to another page.

Streamlit forgets a widget's value at the end of any run that did not draw the widget, so after
New campaign → Dashboard → New campaign the editor's keys are gone while the page's own marker
("this form is loaded") stays: reading `state["ce_media_mode"]` then raised KeyError. Two halves:

- `fill(defaults, reset)`: a page fills every key its form reads, on every run, where it is
  missing (or all of them when it loads another record), so no read can miss.
- `keep(keys)` + `carry_over()`: keys a page registers are written back through the Session State
  API at the start of every run (app.py, before the page runs), which Streamlit's documentation
  gives as the way to stop the clean-up; so what staff typed is still there when they come back.
  Only value widgets may be registered: Streamlit refuses a value set on a button or file uploader.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import streamlit as st

_KEPT_KEY = "_kept_widget_keys"


def keep(keys: Iterable[str]) -> None:
    """Register value-widget keys to carry over page changes."""
    kept: set[str] = st.session_state.setdefault(_KEPT_KEY, set())
    kept.update(keys)


def fill(defaults: Mapping[str, Any], *, reset: bool = False, kept: bool = True) -> None:
    """Set each missing key (every key when `reset`) to its default; register them to keep."""
    state = st.session_state
    for key, value in defaults.items():
        if reset or key not in state:
            state[key] = value
    if kept:
        keep(defaults)


def carry_over() -> None:
    """Re-assert the registered keys (run first, on every run, before any page draws)."""
    state = st.session_state
    for key in list(state.get(_KEPT_KEY, ())):
        if key in state:
            state[key] = state[key]
