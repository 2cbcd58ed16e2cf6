"""My profile: my language, my password."""

from __future__ import annotations

import streamlit as st

from core import people
from core.i18n import LANGUAGES, _, current_language, set_language
from ui.auth import password_form
from ui.context import current_actor
from ui.session import db

actor = current_actor()

st.title(_("My profile"))
st.caption(_("Logged in as {user}").format(user=actor.username))

if actor.user_id is not None:
    st.subheader(_("Language"))
    languages = list(LANGUAGES)
    language = st.selectbox(
        _("Language"),
        languages,
        index=languages.index(current_language()),
        format_func=LANGUAGES.get,
    )
    if language != current_language() and st.button(_("Save language")):
        with db() as session:
            people.set_user_language(session, actor.user_id, language)
        set_language(language)
        st.rerun()

    st.subheader(_("Password"))
    if st.session_state.pop("password_changed", False):
        st.success(_("Your password was changed. Your other sessions were logged out."))
    password_form(actor.user_id)
