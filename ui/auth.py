"""Login gate for the UI (minimal; replaced by the full login of the access work)."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import select

from core.access import Actor
from core.accounts import actor_for, memberships
from core.i18n import _
from core.models import User
from core.security import verify_password
from ui.context import ACTOR_KEY, db


def ensure_logged_in() -> Actor:
    actor = st.session_state.get(ACTOR_KEY)
    if actor is not None:
        return actor
    st.title(_("Log in"))
    with st.form("login"):
        username = st.text_input(_("Username"))
        password = st.text_input(_("Password"), type="password")
        submitted = st.form_submit_button(_("Log in"))
    if submitted:
        with db() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user and user.is_active and verify_password(user.password_hash, password):
                member_of = memberships(session, user.id)
                if member_of:
                    st.session_state[ACTOR_KEY] = actor_for(session, user, member_of[0].account_id)
                    st.rerun()
        st.error(_("Wrong username or password."))
    st.stop()
    raise AssertionError("unreachable")
