"""The browser cookie that keeps a login across a reload.

A reload opens a new Streamlit session, whose state is empty: without this, every reload logged
staff out. The cookie holds the session token (the database keeps only its digest, as before,
so a copied database opens no session) and expires with the session (`SESSION_TTL_MINUTES`).
Streamlit can read the cookies of the page's request (`st.context.cookies`) but cannot set them,
so a tiny script sets or deletes it in the browser. It is `SameSite=Strict` (sent by no other
site) and `Secure` behind https; being set from a script it cannot be HttpOnly.
"""

from __future__ import annotations

import json

import streamlit as st

from core.base import get_settings

COOKIE = "wac_session"
_TRIED_KEY = "session_cookie_tried"  # the request's cookie was looked at once in this session
_PENDING_KEY = "session_cookie_pending"  # "clear": delete it on the next draw (logout, expiry)


def token_from_cookie() -> str | None:
    """The token the browser sent when this session opened (once per session: after a logout
    the request's cookie is stale and must not log anyone back in)."""
    if st.session_state.get(_TRIED_KEY):
        return None
    st.session_state[_TRIED_KEY] = True
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # no request behind this run (AppTest)
        return None
    return value if isinstance(value, str) and value else None  # AppTest: a stand-in object


def forget() -> None:
    st.session_state[_PENDING_KEY] = "clear"


def keep(token: str) -> None:
    """Set the cookie on every full run while logged in (app.py): a script drawn once could be
    replaced by the next page's elements before the browser ran it, and the reload logged out."""
    st.session_state.pop(_PENDING_KEY, None)
    _write("set:" + token)


def write_pending() -> None:
    """Delete the cookie in the browser, if a logout or an ended session asked for it."""
    pending = st.session_state.pop(_PENDING_KEY, None)
    if pending == "clear":
        _write(pending)


def _write(pending: str) -> None:
    secure = "; Secure" if str(st.context.url or "").startswith("https://") else ""
    if pending.startswith("set:"):
        value = pending.removeprefix("set:")
        age = get_settings().session_ttl_minutes * 60
    else:
        value, age = "", 0
    cookie = f"{COOKIE}={value}; Max-Age={age}; Path=/; SameSite=Strict{secure}"
    # json.dumps quotes it as a JavaScript string (the token is URL-safe base64 anyway).
    st.html(
        f"<script>document.cookie = {json.dumps(cookie)};</script>", unsafe_allow_javascript=True
    )
