"""Campaigns: the list with status, schedule, progress and numbers; filter by status; actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core import campaigns
from core.base import DomainError, stored_text
from core.i18n import N_, _, format_number, localize_error, ngettext
from core.models import CampaignStatus
from ui.context import local_time, require_page
from ui.labels import campaign_status_label
from ui.session import db

PER_PAGE = 20
FLASH_KEY = "campaigns_flash"
DONE = ("sent", "delivered", "read", "failed", "unknown", "skipped")

actor = require_page("campaigns.read")
st.title(_("Campaigns"))

flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    (st.success if flash[0] == "ok" else st.error)(flash[1])

top = st.columns([2, 1, 1])
status = top[0].selectbox(
    _("Status"),
    [""] + [str(s) for s in CampaignStatus],
    format_func=lambda value: campaign_status_label(value) if value else _("All"),
    key="campaigns_status",
)
page = int(top[1].number_input(_("Page"), min_value=1, value=1, step=1, key="campaigns_page"))
if actor.can("campaigns.write") and top[2].button(_("New campaign"), type="primary"):
    st.switch_page("views/campaign_edit.py")


def run(label: str, action: Callable[..., Any], campaign_id: int) -> None:
    """A button's action: done in its own transaction, reported on the next run."""
    try:
        with db() as session:
            action(session, actor, campaign_id)
        st.session_state[FLASH_KEY] = ("ok", label)
    except DomainError as error:
        st.session_state[FLASH_KEY] = ("error", localize_error(error))


with db() as session:
    rows, total = campaigns.list_campaigns(session, actor, status or None, page, PER_PAGE)
    counts_of = campaigns.recipient_counts(session, actor, [campaign.id for campaign in rows])
    shown = []
    for campaign in rows:
        counts = counts_of[campaign.id]
        shown.append(
            {
                "id": campaign.id,
                "title": campaign.title,
                "status": campaign.status,
                "scheduled_at": campaign.scheduled_at,
                "started_at": campaign.started_at,
                "error": stored_text.localized(campaign.error_text, campaign.error_message),
                "numbers": ", ".join(i.name for i in campaign.instances) or "—",
                "done": sum(counts[s] for s in DONE),
                "total": counts["total"],
            }
        )

st.caption(ngettext("{n} campaign", "{n} campaigns", total).format(n=format_number(total)))
if not shown:
    st.info(_("No campaigns yet.") if not status else _("No campaigns with this status."))

# The life-cycle button a campaign shows, when core allows the action: (action, label, message).
ACTIONS = (
    ("trigger", N_("Send now"), N_("Campaign started.")),
    ("pause", N_("Pause"), N_("Campaign paused.")),
    ("resume", N_("Resume"), N_("Campaign resumed.")),
    ("retry_failed", N_("Retry failed"), N_("Failed recipients queued again.")),
)
for row in shown:
    cid, state = row["id"], row["status"]
    with st.container(border=True):
        head, when, progress, numbers = st.columns([3, 2, 2, 2])
        head.markdown(f"**{row['title']}**")
        head.caption(campaign_status_label(state))
        if row["scheduled_at"]:
            when.write(_("Scheduled {time}").format(time=local_time(row["scheduled_at"])))
        elif row["started_at"]:
            when.write(_("Started {time}").format(time=local_time(row["started_at"])))
        else:
            when.write(_("Not scheduled"))
        if row["total"]:
            progress.progress(
                row["done"] / row["total"],
                text=_("{done} of {total}").format(
                    done=format_number(row["done"]), total=format_number(row["total"])
                ),
            )
        numbers.write(row["numbers"])
        if row["error"]:
            st.warning(row["error"])
        buttons = st.columns(7)
        if buttons[0].button(_("Open"), key=f"open_{cid}"):
            st.switch_page("views/campaign_detail.py", query_params={"id": str(cid)})
        allowed = campaigns.allowed_actions(state)
        editable = "edit" in allowed and actor.can("campaigns.write")
        if editable and buttons[1].button(_("Edit"), key=f"edit_{cid}"):
            st.switch_page("views/campaign_edit.py", query_params={"id": str(cid)})
        if actor.can("campaigns.trigger"):
            for action, label, done in ACTIONS:
                if action in allowed:
                    buttons[2].button(
                        _(label),
                        key=f"{action}_{cid}",
                        on_click=run,
                        args=(_(done), getattr(campaigns, action), cid),
                    )
            if "cancel" in allowed:
                with buttons[3].popover(_("Cancel")):
                    st.write(_("Recipients not yet sent will be skipped. This cannot be undone."))
                    st.button(
                        _("Cancel campaign"),
                        key=f"cancel_{cid}",
                        on_click=run,
                        args=(_("Campaign cancelled."), campaigns.cancel, cid),
                    )
        if actor.can("campaigns.write"):
            buttons[4].button(
                _("Duplicate"),
                key=f"duplicate_{cid}",
                on_click=run,
                args=(_("Campaign duplicated as a draft."), campaigns.duplicate, cid),
            )
            if "delete" in allowed:
                with buttons[5].popover(_("Delete")):
                    st.write(_("Delete this campaign and its recipients' history?"))
                    st.button(
                        _("Delete campaign"),
                        key=f"delete_{cid}",
                        on_click=run,
                        args=(_("Campaign deleted."), campaigns.delete, cid),
                    )
