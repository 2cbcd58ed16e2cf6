"""What every page needs from the running session: the actor, the account and its timezone.

`app.py`'s login gate (`ui.auth`) puts the actor of the current account under ACTOR_KEY on every
run (after checking the session is still alive); pages read it with `current_actor()` /
`require_page()`, and open a database session with `ui.session.db()`. Tests may set
`session_state["actor"]` directly and run a page file on its own.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import streamlit as st

from core.base import PermissionDenied
from core.i18n import _, current_language, format_datetime
from core.people import Actor
from ui.auth import ensure_logged_in
from ui.session import ACTOR_KEY, CONTEXT_KEY, TOKEN_KEY


def current_actor() -> Actor:
    """The actor of this run. A browser session is re-checked against the database on every run
    (expiry, logout, deactivation, role), even if a page somehow runs without app.py's gate."""
    if TOKEN_KEY in st.session_state or ACTOR_KEY not in st.session_state:
        return ensure_logged_in().actor
    return st.session_state[ACTOR_KEY]  # a page test that set the actor directly


def require_page(action: str) -> Actor:
    """Stop the page for actors whose role may not use it (navigation hides it, URLs may not)."""
    actor = current_actor()
    if not actor.can(action):
        st.error(
            str(
                PermissionDenied(
                    _("the {role} role may not open this page").format(role=_(actor.role))
                )
            )
        )
        st.stop()
    return actor


def current_timezone() -> ZoneInfo:
    """The current account's timezone (UTC when unknown, e.g. in a page test)."""
    context = st.session_state.get(CONTEXT_KEY)
    return ZoneInfo(context.account_timezone if context else "UTC")


def local_time(value: datetime | None, format: str = "short") -> str:
    """A stored UTC time in the account's timezone, written the way the UI's language writes it
    (`format`: short, medium — with seconds —, long)."""
    if value is None:
        return ""
    return format_datetime(value, current_timezone().key, current_language(), format)
