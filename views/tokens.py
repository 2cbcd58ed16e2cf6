"""Admins: API tokens for scripts and n8n — created (shown once) and revoked."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import people
from core.base import DomainError
from core.i18n import _, localize_error
from ui.context import local_time, require_page
from ui.session import db

actor = require_page("tokens.manage")
NEW_TOKEN_KEY = "tokens_new_token"

st.title(_("API tokens"))
st.caption(
    _("A token acts as its user, with that user's role, through the REST API. It is shown once.")
)

created = st.session_state.pop(NEW_TOKEN_KEY, None)
if created:
    st.success(_("Copy the new token now: it will not be shown again."))
    st.code(created, language=None)

with db() as session:
    tokens = people.list_tokens(session, actor)
    members = [row for row in people.list_users(session, actor) if row.is_active]

with st.form("new_token", clear_on_submit=True):
    name = st.text_input(_("Name (to tell tokens apart)"))
    ids = [row.id for row in members]
    names = {row.id: f"{row.username} ({_(row.role)})" for row in members}
    user_id = st.selectbox(
        _("Acts as"),
        ids,
        index=ids.index(actor.user_id) if actor.user_id in ids else 0,
        format_func=names.get,
    )
    if st.form_submit_button(_("Create token"), type="primary"):
        try:
            with db() as session:
                st.session_state[NEW_TOKEN_KEY] = people.create_token(session, actor, name, user_id)
        except DomainError as error:
            st.error(localize_error(error))
        else:
            st.rerun()

if not tokens:
    st.info(_("No API tokens yet."))
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    _("Name"): token.name,
                    _("Starts with"): token.prefix + "…",
                    _("User"): token.username,
                    _("Created"): local_time(token.created_at),
                    _("Last used"): local_time(token.last_used_at),
                    _("Revoked"): local_time(token.revoked_at),
                }
                for token in tokens
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    live = {token.id: token for token in tokens if token.revoked_at is None}
    if live:
        chosen = st.selectbox(
            _("Token to revoke"),
            list(live),
            format_func=lambda token_id: "{name} · {prefix}… · {user}".format(
                name=live[token_id].name or "-",
                prefix=live[token_id].prefix,
                user=live[token_id].username,
            ),
        )
        if st.button(_("Revoke"), type="secondary"):
            with db() as session:
                people.revoke_token(session, actor, chosen)
            st.rerun()
