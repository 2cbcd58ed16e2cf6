"""Admins: the account's users — invite, change role, deactivate, reset a password."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core import people
from core.base import DomainError
from core.i18n import _, localize_error
from core.models import Role
from ui.context import local_time, require_page
from ui.session import db

actor = require_page("users.manage")
ROLES = [Role.ADMIN, Role.MANAGER, Role.VIEWER]
ONE_TIME_KEY = "users_one_time_password"

st.title(_("Users"))

shown = st.session_state.pop(ONE_TIME_KEY, None)
if shown:
    st.success(
        _(
            "One-time password for {user} — shown only now; they choose their own at first login:"
        ).format(user=shown[0])
    )
    st.code(shown[1], language=None)

with db() as session:
    rows = people.list_users(session, actor)

st.dataframe(
    pd.DataFrame(
        [
            {
                _("Username"): row.username,
                _("E-mail"): row.email or "",
                _("Role"): _(row.role),
                _("Active"): row.is_active,
                _("Must change password"): row.must_change_password,
                _("Last login"): local_time(row.last_login_at),
                _("Locked until"): local_time(row.locked_until),
            }
            for row in rows
        ]
    ),
    hide_index=True,
    width="stretch",
)


def run(action, *args) -> bool:  # type: ignore[no-untyped-def]
    try:
        with db() as session:
            result = action(session, actor, *args)
    except DomainError as error:
        st.error(localize_error(error))
        return False
    return result if result is not None else True


with st.expander(_("Invite a user"), expanded=not rows), st.form("invite", clear_on_submit=True):
    username = st.text_input(_("Username"))
    email = st.text_input(_("E-mail (for single sign-on)"))
    role = st.selectbox(_("Role"), ROLES, index=1, format_func=_)
    if st.form_submit_button(_("Create user"), type="primary"):
        created = run(people.invite_user, username, role, email)
        if created:
            st.session_state[ONE_TIME_KEY] = (username.strip(), created[1])
            st.rerun()

if rows:
    st.subheader(_("Change a user"))
    by_id = {row.id: row for row in rows}
    chosen = by_id[
        st.selectbox(
            _("User"),
            list(by_id),
            format_func=lambda uid: by_id[uid].username,
            key="user_picker",
        )
    ]
    left, middle, right = st.columns(3)
    with left:
        new_role = st.selectbox(
            _("New role"), ROLES, index=ROLES.index(chosen.role), format_func=_, key="new_role"
        )
        changed = st.button(_("Change role"), disabled=new_role == chosen.role)
        if changed and run(people.change_role, chosen.id, new_role):
            st.rerun()
    with middle:
        if chosen.is_active:
            clicked = st.button(_("Deactivate"), disabled=chosen.id == actor.user_id)
            if clicked and run(people.deactivate_user, chosen.id):
                st.rerun()
        elif st.button(_("Reactivate")) and run(people.reactivate_user, chosen.id):
            st.rerun()
    with right:
        if st.button(_("Reset password"), disabled=chosen.id == actor.user_id):
            password = run(people.reset_password, chosen.id)
            if password:
                st.session_state[ONE_TIME_KEY] = (chosen.username, password)
                st.rerun()
