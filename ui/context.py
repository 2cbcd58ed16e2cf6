"""What every page needs from the running session: the actor, the account, a database session.

`app.py`'s login gate puts the actor of the current account under ACTOR_KEY on every run (after
checking the session is still alive); pages read it with `current_actor()`/`require_page()`.
Tests may set `session_state["actor"]` directly and run a page file on its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

import streamlit as st
from sqlalchemy.orm import Session

from core.access import Actor
from core.db import session_scope
from core.errors import PermissionDenied
from core.i18n import _

ACTOR_KEY = "actor"
TOKEN_KEY = "session_token"  # the browser session's token (its digest is in user_sessions)
ACCOUNT_KEY = "account_id"  # the account chosen in the switcher
CONTEXT_KEY = "session_context"  # core.auth.SessionContext of this run (absent in page tests)


def _st_navigation_only() -> None:
    """Streamlit treats a `pages/` folder beside app.py as its old multipage app and, for a page's
    URL, runs that page file WITHOUT app.py: no login gate, no role-filtered menu. Turning that
    off (a process-wide flag read on every run) makes every run go through app.py's
    st.navigation. Set on import, since every page imports this module."""
    try:
        from streamlit.runtime.pages_manager import PagesManager

        started_in_old_mode = bool(PagesManager.uses_pages_directory)
        PagesManager.uses_pages_directory = False
    except (ImportError, AttributeError):  # a Streamlit without the old mechanism
        return
    if started_in_old_mode and st.runtime.exists():
        # The first run after the server started is already under way in the old mode: its
        # widgets got ids (they include the page's hash) that the next run will not know, so
        # that browser's first click (the login) was lost. Start the run again, now through
        # app.py's st.navigation, before anything of it is used (found by tests/e2e).
        st.rerun()


_st_navigation_only()


def current_actor() -> Actor:
    """The actor of this run. A browser session is re-checked against the database on every run
    (expiry, logout, deactivation, role), even if a page somehow runs without app.py's gate."""
    if TOKEN_KEY in st.session_state or ACTOR_KEY not in st.session_state:
        from ui.auth import ensure_logged_in  # ui.auth imports this module

        return ensure_logged_in().actor
    return st.session_state[ACTOR_KEY]  # a page test that set the actor directly


def require_page(action: str) -> Actor:
    """Stop the page for actors whose role may not use it (navigation hides it, URLs may not)."""
    actor = current_actor()
    if not actor.can(action):
        st.error(
            str(
                PermissionDenied(
                    _("the {role} role may not open this page").format(role=actor.role)
                )
            )
        )
        st.stop()
    return actor


def current_timezone() -> ZoneInfo:
    """The current account's timezone (UTC when unknown, e.g. in a page test)."""
    context = st.session_state.get(CONTEXT_KEY)
    return ZoneInfo(context.account_timezone if context else "UTC")


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time shown in the account's timezone."""
    return value.astimezone(current_timezone()).strftime(fmt) if value else ""


@contextmanager
def db() -> Iterator[Session]:
    with session_scope() as session:
        yield session
