"""Admins: who did what, to which object, and when — filterable."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta

import pandas as pd
import streamlit as st

from core import people
from core.i18n import _, ngettext
from ui.context import current_timezone, local_time, require_page
from ui.session import db

actor = require_page("audit.read")
PER_PAGE = 50

st.title(_("Audit log"))

with db() as session:
    choices = people.audit_filter_choices(session, actor)

ANY = ""
columns = st.columns(4)
who = columns[0].selectbox(
    _("Who"), [ANY, *choices["actor"]], format_func=lambda v: v or _("Anyone")
)
action = columns[1].selectbox(
    _("Action"),
    [ANY, *choices["action"]],
    format_func=lambda v: v or _("Any action"),
)
object_type = columns[2].selectbox(
    _("Object"), [ANY, *choices["object_type"]], format_func=lambda v: v or _("Any object")
)
object_id = columns[3].text_input(_("Object id"))
dates = st.date_input(_("Between"), value=(), format="YYYY-MM-DD")

zone = current_timezone()
since = until = None
if isinstance(dates, tuple | list) and dates:
    # The days are the account's local days; the log is stored in UTC.
    since = datetime.combine(dates[0], time.min, zone)
    until = datetime.combine(dates[-1], time.min, zone) + timedelta(days=1)

filters = people.AuditFilters(
    actor=who or None,
    action=action or None,
    object_type=object_type or None,
    object_id=object_id.strip() or None,
    since=since,
    until=until,
)
page = st.session_state.get("audit_page", 1)
with db() as session:
    entries, total = people.list_audit_entries(session, actor, filters, page, PER_PAGE)
    table = pd.DataFrame(
        [
            {
                _("When"): local_time(entry.created_at, "medium"),
                _("Who"): entry.actor,
                _("Action"): entry.action,
                _("Object"): entry.object_type,
                _("Id"): entry.object_id or "",
                _("Details"): json.dumps(entry.details, ensure_ascii=False)
                if entry.details
                else "",
            }
            for entry in entries
        ]
    )

st.caption(ngettext("{n} entry", "{n} entries", total).format(n=total))
if total:
    st.dataframe(table, hide_index=True, width="stretch")
    pages = max(1, -(-total // PER_PAGE))
    if pages > 1:
        st.number_input(_("Page"), min_value=1, max_value=pages, key="audit_page")
else:
    st.info(_("Nothing matches these filters."))
