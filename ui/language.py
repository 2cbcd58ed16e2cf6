"""The UI language of a browser session, and the sidebar picker that saves a choice on the user.

Order: the user's saved choice, else a choice made in this session before logging in, else the
browser's language (`st.context.locale`), else the account's default language, else English.

`apply_language(actor)` sets it for the current run (`core.i18n.set_language`, a ContextVar the
page that `st.navigation(...).run()` executes sees, being the same thread and context) and keeps it
in the session, where fragment reruns find it: they run only the fragment, in a new script thread
where app.py did not set anything, so `core.i18n` falls back to `_session_language()`.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core import i18n
from core.i18n import LANGUAGES, _
from core.people import Actor, saved_languages, set_user_language
from ui.session import ACTOR_KEY, CONTEXT_KEY, db

RUN_LANGUAGE_KEY = "ui_language"  # the language the last full run used
CHOICE_KEY = "ui_language_choice"  # picked in this session while logged out
_PICKER_KEY = "ui_language_picker"


def browser_language() -> str | None:
    try:
        return i18n.normalize_language(st.context.locale)
    except Exception:  # a client that does not send it
        return None


def _session_language() -> str | None:
    if get_script_run_ctx(suppress_warning=True) is None:
        return None  # not a Streamlit script thread: the API, the worker, core's own tests
    state = st.session_state
    context = state.get(CONTEXT_KEY)  # the login gate's (core.people.SessionContext), if logged in
    return (
        state.get(RUN_LANGUAGE_KEY)
        or getattr(context, "language", None)
        or state.get(CHOICE_KEY)
        or browser_language()
    )


i18n.set_language_fallback(_session_language)


def resolve_language(actor: Actor | None) -> str:
    saved = account_default = None
    if actor is not None and actor.user_id is not None:
        # Read on every run (two primary-key lookups) so a choice saved elsewhere (the profile
        # page, another tab) applies on the next click.
        with db() as session:
            saved, account_default = saved_languages(session, actor.user_id, actor.account_id)
    return (
        saved
        or st.session_state.get(CHOICE_KEY)
        or browser_language()
        or account_default
        or i18n.DEFAULT_LANGUAGE
    )


def apply_language(actor: Actor | None = None) -> str:
    """Set this run's language for `actor` (default: the session's actor, if logged in)."""
    if actor is None:
        actor = st.session_state.get(ACTOR_KEY)
    language = i18n.set_language(resolve_language(actor))
    st.session_state[RUN_LANGUAGE_KEY] = language
    return language


def _on_pick(user_id: int | None) -> None:
    language = st.session_state[_PICKER_KEY]
    if user_id is None:
        st.session_state[CHOICE_KEY] = language
    else:
        with db() as session:
            set_user_language(session, user_id, language)


def language_picker(actor: Actor | None = None, container: Any = None) -> str:
    """Apply this run's language and draw the picker (in the sidebar unless `container` says
    where: the login page draws it on the page); returns the language."""
    if actor is None:
        actor = st.session_state.get(ACTOR_KEY)
    language = apply_language(actor)
    st.session_state[_PICKER_KEY] = language  # set before the widget exists: it shows the current
    (container or st.sidebar).selectbox(
        _("Language"),
        options=list(LANGUAGES),
        format_func=LANGUAGES.__getitem__,  # each language in its own name, never translated
        key=_PICKER_KEY,
        on_change=_on_pick,
        args=(actor.user_id if actor is not None else None,),
    )
    return language
