"""The landing page: how campaigns and numbers are doing over a chosen period."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from core import tracking
from core.base import utcnow
from core.i18n import _, format_duration, format_number, format_percent, ngettext
from ui import charts
from ui.context import require_page
from ui.labels import campaign_status_label, connection_label, status_label
from ui.session import db

actor = require_page("stats.read")

st.title(_("Dashboard"))
PERIODS = {1: _("Last 24 hours"), 7: _("Last 7 days"), 30: _("Last 30 days"), 90: _("Last 90 days")}
days = st.radio(
    _("Period"), list(PERIODS), index=1, format_func=PERIODS.get, horizontal=True, key="period"
)
now = utcnow()
start = now - timedelta(days=days)

with db() as session:
    zone = tracking.account_zone(session, actor)
    by_status = tracking.campaigns_by_status(session, actor)
    live = tracking.live_campaigns(session, actor)
    totals = tracking.message_totals(session, actor, start, now)
    per_day = tracking.messages_over_time(session, actor, start, now)
    mean_duration, finished = tracking.average_execution_time(session, actor, start, now)
    errors = tracking.errors_by_type(session, actor, start, now)
    volume = tracking.send_volume(session, actor, start, now)
    health = tracking.instance_health(session, actor, now)
    click_rate = tracking.period_click_rate(session, actor, start, now)
    clicks = tracking.period_clicks_over_time(session, actor, start, now)
tracks_links = bool(click_rate.sent or clicks.people)

columns = st.columns(10 if tracks_links else 9)
columns[0].metric(_("Sent"), format_number(totals.sent))
columns[1].metric(_("Delivered"), format_number(totals.delivered))
columns[2].metric(_("Read"), format_number(totals.read))
columns[3].metric(_("Failed"), format_number(totals.failed))
columns[4].metric(_("Unknown"), format_number(totals.unknown))
columns[5].metric(
    _("Confirmed delivered"),
    format_percent(totals.confirmed_rate),
    help=_(
        "Delivered or read, as WhatsApp confirmed, of every message sent, failed or unknown in "
        "the period. A message the server accepted but no receipt confirmed is not counted "
        "as a success."
    ),
)
columns[7].metric(_("Replies"), format_number(totals.replied))
columns[8].metric(
    _("Reply rate"),
    format_percent(totals.reply_rate),
    help=_("Messages sent in the period that were answered within the reply window."),
)
columns[6].metric(
    _("Average execution time"),
    format_duration(mean_duration),
    help=ngettext(
        "From start to completion, over the {n} campaign completed in the period.",
        "From start to completion, over the {n} campaigns completed in the period.",
        finished,
    ).format(n=finished),
)
if tracks_links:
    columns[9].metric(
        _("Click rate"),
        format_percent(click_rate.rate),
        help=_(
            "Messages sent in the period by campaigns that track links, whose recipient clicked "
            "one of them (so far)."
        ),
    )
if totals.unconfirmed:
    st.caption(
        ngettext(
            "{n} message sent, not confirmed: no delivery receipt has arrived for it (yet).",
            "{n} messages sent, not confirmed: no delivery receipt has arrived for them (yet).",
            totals.unconfirmed,
        ).format(n=format_number(totals.unconfirmed))
    )

if live:
    st.subheader(_("Running now"))
    for campaign in live:
        fraction = campaign.done / campaign.total if campaign.total else 1.0
        left, right = st.columns([3, 1])
        left.progress(
            fraction,
            text=_("{title} — {status}: {done} of {total}").format(
                title=campaign.title,
                status=campaign_status_label(campaign.status),
                done=format_number(campaign.done),
                total=format_number(campaign.total),
            ),
        )
        if right.button(_("Open"), key=f"open_{campaign.id}"):
            st.switch_page("views/campaign_detail.py", query_params={"id": str(campaign.id)})

left, right = st.columns(2)
left.plotly_chart(charts.messages_over_time(per_day), key="per_day")
right.plotly_chart(charts.campaigns_by_status(by_status), key="by_status")
left, right = st.columns(2)
left.plotly_chart(charts.errors_by_type(errors), key="errors")
right.plotly_chart(charts.hourly_volume(volume), key="hourly")
st.plotly_chart(charts.heatmap(volume), key="heatmap")
if tracks_links:
    st.plotly_chart(charts.clicks_over_time(clicks), key="clicks")
    st.caption(charts.clicks_caption(clicks))

st.subheader(_("WhatsApp numbers"))
if not health:
    st.caption(_("No numbers yet."))
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    _("Number"): item.name,
                    _("Connection"): connection_label(item.state),
                    _("Circuit"): status_label(item.circuit),
                    _("Reason"): item.circuit_reason or "",
                    _("Sent today"): item.sent_today,
                    _("Daily cap"): item.daily_cap if item.daily_cap is not None else "—",
                    _("Rate (per minute)"): item.rate_per_minute,
                    _("Next send"): item.next_send_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
                    if item.next_send_at
                    else "—",
                    _("Active"): item.is_active,
                }
                for item in health
            ]
        ),
        hide_index=True,
        key="health",
    )
