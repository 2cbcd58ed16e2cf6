"""Tracked links: the editor's switch, and the campaign page's clicks (core.tracking.link_stats,
campaign_clicks_over_time)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pandas as pd
import streamlit as st

from core import campaigns, tracking
from core.i18n import _, format_number
from core.people import Actor
from ui import charts
from ui.session import db


def load(state: MutableMapping[str, Any], key: str, source: dict[str, Any]) -> None:
    state[key + "track_links"] = bool(source.get("track_links"))


def inputs(key: str) -> None:
    st.checkbox(
        _("Track link clicks"),
        key=key + "track_links",
        help=_(
            "Each link in the message is sent as a short link of ours, different for each "
            "recipient, that opens the original page and counts who clicked. Previews that "
            "WhatsApp and other apps fetch by themselves are not counted."
        ),
    )


def values(state: MutableMapping[str, Any], key: str) -> dict[str, Any]:
    return {"track_links": bool(state.get(key + "track_links"))}


def panel(actor: Actor, campaign_id: int) -> None:
    """Who clicked, and which links, the most clicked first; when they clicked."""
    with db() as session:
        links = tracking.link_stats(session, actor, campaign_id)
        counts = campaigns.recipient_counts(session, actor, [campaign_id])[campaign_id]
        over_time = tracking.campaign_clicks_over_time(session, actor, campaign_id)
    clicked = counts["clicked"]
    sent = counts["sent"] + counts["delivered"] + counts["read"]
    st.subheader(_("Link clicks"))
    share = f" ({clicked / sent:.0%})" if sent else ""
    left, right = st.columns(2)
    left.metric(_("Recipients who clicked"), format_number(clicked) + share)
    right.metric(
        _("Clicks"),
        format_number(over_time.clicks),
        help=_("Every click on the campaign's links, repeat clicks included; previews are not."),
    )
    if not links:
        st.caption(_("The message has no links to track."))
        return
    st.dataframe(
        pd.DataFrame(
            [
                {
                    _("Link"): link.url,
                    _("Sent to"): link.recipients,
                    _("Clicked by"): link.clicked_by,
                    _("Clicks"): link.clicks,
                    _("Previews (not counted)"): link.previews,
                }
                for link in links
            ]
        ),
        hide_index=True,
        use_container_width=True,
    )
    st.plotly_chart(charts.clicks_over_time(over_time), key="clicks_over_time")
    st.caption(charts.clicks_caption(over_time))
