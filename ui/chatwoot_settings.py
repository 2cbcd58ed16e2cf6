"""The Chatwoot section of Account settings: connect, test the connection, sync contacts now."""

from __future__ import annotations

import streamlit as st

from core import crm
from core.base import DomainError, ValidationError
from core.i18n import _, format_datetime, format_number, localize_entry, localize_error
from core.people import Actor
from ui.session import db


def render(actor: Actor, timezone: str) -> None:
    st.header(_("Chatwoot"))
    st.caption(
        _(
            "Pull your Chatwoot contacts (with their labels and custom attributes) into "
            "this account. Use an access token from your Chatwoot profile."
        )
    )
    with db() as session:
        current = crm.chatwoot_settings(session, actor)
    with st.form("chatwoot_settings"):
        base_url = st.text_input(
            _("Chatwoot URL"), current.base_url if current else "", placeholder="https://"
        )
        account_id = st.number_input(
            _("Chatwoot account id"),
            min_value=1,
            value=current.chatwoot_account_id if current else 1,
            step=1,
            help=_("The number after /accounts/ in your Chatwoot address."),
        )
        token = st.text_input(
            _("Access token"),
            type="password",
            placeholder=_("Leave blank to keep the saved token") if current else "",
            help=_("Stored encrypted and never shown again."),
        )
        every = st.number_input(
            _("Sync every (minutes, 0 = off)"),
            min_value=0,
            max_value=7 * 24 * 60,
            value=current.sync_every_minutes if current else 15,
            step=5,
        )
        saved = st.form_submit_button(_("Save Chatwoot settings"), type="primary")
    if saved:
        data = {
            "base_url": base_url,
            "chatwoot_account_id": int(account_id),
            "token": token,
            "sync_every_minutes": int(every),
        }
        try:
            with db() as session:
                crm.connect_chatwoot(session, actor, data)
        except ValidationError as error:
            for problem in error.details or [error.entry()]:
                st.error(localize_entry(problem))
        else:
            st.success(_("Saved."))
            st.rerun()
    if current is None:
        return
    test, sync, disconnect = st.columns(3)
    if test.button(_("Test connection"), key="chatwoot_test"):
        with db() as session:
            check = crm.test_connection(session, actor)
        if check.ok:
            st.success(_("Connected to {name}.").format(name=check.account_name))
            for inbox in check.inboxes:
                st.write(f"- {inbox.name} ({inbox.channel_type}, #{inbox.id})")
        else:
            st.error(_("Chatwoot answered: {error}").format(error=check.error))
    if sync.button(_("Sync now"), key="chatwoot_sync"):
        try:
            with st.spinner(_("Syncing contacts from Chatwoot…")), db() as session:
                crm.sync_contacts(session, actor)
        except DomainError as error:
            st.error(localize_error(error))
        else:
            st.rerun()
    if disconnect.button(_("Disconnect"), key="chatwoot_disconnect"):
        with db() as session:
            crm.disconnect_chatwoot(session, actor)
        st.rerun()
    _last_sync(current, timezone)


def _last_sync(current: crm.ChatwootSettings, timezone: str) -> None:
    if current.last_error:
        st.error(_("The last sync stopped: {error}").format(error=current.last_error))
    if current.last_sync_at is None:
        st.info(_("No sync has run yet."))
        return
    st.write(_("Last sync: {when}").format(when=format_datetime(current.last_sync_at, timezone)))
    report = current.last_report or {}
    cols = st.columns(5)
    for col, key, label in zip(
        cols,
        ("created", "updated", "unchanged", "rejected", "unlinked"),
        (_("Created"), _("Updated"), _("Unchanged"), _("Rejected"), _("Unlinked")),
        strict=True,
    ):
        col.metric(label, format_number(int(report.get(key, 0))))
    if current.next_sync_at:
        st.caption(
            _("Next sync: {when}").format(when=format_datetime(current.next_sync_at, timezone))
        )
    errors = report.get("errors") or []
    if errors:
        with st.expander(_("Rejected contacts")):
            st.dataframe(
                [
                    {
                        _("Chatwoot contact"): e.get("chatwoot_contact_id"),
                        _("Phone"): e.get("phone"),
                        _("Reason"): localize_entry(e, "reason"),
                    }
                    for e in errors
                ],
                hide_index=True,
            )
