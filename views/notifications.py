"""In-app notifications: campaigns completed, failed, paused, resumed or retrying; numbers down
or back."""

from __future__ import annotations

import streamlit as st

from core import notifications
from core.base import utcnow
from core.i18n import _, format_number
from ui.context import local_time, require_page
from ui.session import db

actor = require_page("notifications.read")
PER_PAGE = 20
ICONS = {
    "campaign_completed": "✅",
    "campaign_failed": "❌",
    "campaign_paused": "⏸️",
    "campaign_resumed": "▶️",
    "campaign_retrying": "🔁",
    "campaign_ab_decided": "🏆",
    "instance_down": "🔴",
    "instance_up": "🟢",
}

st.title(_("Notifications"))
left, right = st.columns([3, 1])
unread_only = left.toggle(_("Unread only"), key="notifications_unread_only")
page = int(st.session_state.get("notifications_page", 1))

with db() as session:
    unread = notifications.unread_count(session, actor)
    rows, total = notifications.list_notifications(session, actor, page, PER_PAGE, unread_only)

if unread and right.button(_("Mark all read"), key="mark_all_read"):
    with db() as session:
        notifications.mark_all_read(session, actor, utcnow())
    st.rerun()

st.caption(
    _("{unread} unread of {total}").format(unread=format_number(unread), total=format_number(total))
)
if not rows:
    st.info(_("Nothing here yet."))

for notification in rows:
    with st.container(border=True):
        head, action = st.columns([5, 1])
        marker = "" if notification.read_at else "🔵 "
        icon = ICONS.get(notification.kind, "🔔")
        head.markdown(f"{marker}{icon} **{notifications.title_of(notification)}**")
        if body := notifications.body_of(notification):
            head.write(body)
        head.caption(local_time(notification.created_at, "medium"))
        if notification.campaign_id and head.button(
            _("Open the campaign"), key=f"open_{notification.id}"
        ):
            st.switch_page(
                "views/campaign_detail.py", query_params={"id": str(notification.campaign_id)}
            )
        if notification.read_at is None and action.button(
            _("Mark read"), key=f"read_{notification.id}"
        ):
            with db() as session:
                notifications.mark_read(session, actor, notification.id, utcnow())
            st.rerun()

pages = max(1, -(-total // PER_PAGE))
if pages > 1:
    st.number_input(_("Page"), min_value=1, max_value=pages, step=1, key="notifications_page")
