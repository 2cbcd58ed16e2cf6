"""The sidebar's notification badge, and a toast when one arrives while a page is open."""

from __future__ import annotations

import streamlit as st

from core import notifications
from core.i18n import _, ngettext
from core.people import Actor
from ui.session import db

POLL_SECONDS = 15
SEEN_KEY = "notifications_seen_id"


def sidebar_badge(actor: Actor) -> None:
    """Call once per run from app.py: draws the unread count in the sidebar and keeps it fresh."""
    if not actor.can("notifications.read"):
        return
    with st.sidebar:
        _badge(actor)


@st.fragment(run_every=POLL_SECONDS)
def _badge(actor: Actor) -> None:
    with db() as session:
        unread = notifications.unread_count(session, actor)
        seen = st.session_state.get(SEEN_KEY)
        if seen is None:  # the first run of a browser session: old news needs no toast
            fresh = []
            st.session_state[SEEN_KEY] = notifications.latest_id(session, actor)
        else:
            fresh = notifications.newer_than(session, actor, seen)
    for notification in fresh:
        st.toast(notifications.title_of(notification), icon="🔔")
        st.session_state[SEEN_KEY] = max(st.session_state[SEEN_KEY], notification.id)
    label = (
        ngettext(
            "Notifications ({unread} unread)", "Notifications ({unread} unread)", unread
        ).format(unread=unread)
        if unread
        else _("Notifications")
    )
    if st.button(label, icon="🔔", type="tertiary", key="notifications_badge"):
        st.switch_page("views/notifications.py")
