"""One campaign: live progress, funnel, pace, failures, the per-recipient log and its actions."""

from __future__ import annotations

from datetime import datetime, tzinfo

import pandas as pd
import streamlit as st

from core import campaigns, tracking
from core.base import (
    CSV_MIME,
    XLSX_MIME,
    DomainError,
    NotFound,
    stored_text,
    to_csv,
    to_xlsx,
    utcnow,
)
from core.i18n import _, format_duration, format_number, format_percent, localize_error, ngettext
from core.models import RecipientStatus
from ui import charts, receipts, streamlit_texts, tracked_links, variants
from ui.context import require_page
from ui.labels import campaign_status_label, error_kind_label, recipient_status_label
from ui.session import db

actor = require_page("campaigns.read")
REFRESH_SECONDS = 3
PER_PAGE = 50
CONFIRM_KEY = "campaign_detail_confirm"
FLASH_KEY = "campaign_detail_flash"

raw_id = st.query_params.get("id", "")
if not raw_id.isdigit():
    st.error(_("No campaign chosen: open one from the campaigns list."))
    st.stop()
campaign_id = int(raw_id)
try:
    with db() as session:
        overview = tracking.campaign_overview(session, actor, campaign_id)
except NotFound:
    st.error(_("Campaign {id} does not exist.").format(id=campaign_id))
    st.stop()


def when(value: datetime | None, zone: tzinfo = overview.timezone) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else "—"


st.title(overview.title)
st.caption(
    _("Numbers: {names} · started {started} · finished {finished}").format(
        names=", ".join(overview.instance_names) or "—",
        started=when(overview.started_at),
        finished=when(overview.completed_at),
    )
)
if flash := st.session_state.pop(FLASH_KEY, None):
    st.success(flash)


@st.fragment(run_every=REFRESH_SECONDS if overview.is_live else None)
def live_progress() -> None:
    """Redrawn every few seconds while the campaign runs, without reloading the page."""
    with db() as session:
        current = tracking.campaign_overview(session, actor, campaign_id)
        progress = tracking.campaign_progress(session, actor, campaign_id, utcnow())
        series = tracking.sends_over_time(session, actor, campaign_id)
        reasons = tracking.failure_reasons(session, actor, campaign_id)
        receipt_warnings = tracking.campaign_receipt_warnings(session, actor, campaign_id, utcnow())
    if current.status != overview.status:
        st.rerun()  # the actions offered depend on the status: redraw the whole page

    st.subheader(_("Status: {status}").format(status=campaign_status_label(current.status)))
    if current.error_message:
        st.warning(stored_text.localized(current.error_text, current.error_message))
    if current.pause_cause == "circuit":
        st.caption(
            _(
                "Nobody is marked failed while it waits, and no one gets the message twice. "
                "To stop it for good, cancel it."
            )
        )
    if current.status == "running":
        with db() as session:
            waits = campaigns.allowance_waits(session, actor, campaign_id)
            local_waits = campaigns.waiting_for_local_window(session, actor, campaign_id)
            finish = campaigns.finish_estimate(session, actor, campaign_id) if waits else None
        if local_waits:
            st.info(
                _("{n} recipients wait for the send window to open in their own timezone.").format(
                    n=format_number(local_waits)
                )
            )
        for wait in waits:
            st.info(
                (
                    _(
                        "{number} has sent today's warm-up allowance ({limit} messages): "
                        "it continues tomorrow at {when}."
                    )
                    if wait.warmup
                    else _(
                        "{number} has reached its daily cap ({limit} messages): it continues "
                        "tomorrow at {when}."
                    )
                ).format(
                    number=wait.instance_name,
                    limit=format_number(wait.limit),
                    when=when(wait.resumes_at),
                )
            )
        if waits and finish is not None:
            st.info(
                (
                    _(
                        "Waiting for tomorrow's warm-up allowance; at the current allowance it "
                        "will finish around {when}."
                    )
                    if any(wait.warmup for wait in waits)
                    else _(
                        "Waiting for tomorrow's daily cap; at the current cap it will finish "
                        "around {when}."
                    )
                ).format(when=when(finish))
            )
    if current.auto_retry_at and current.status == "completed":
        st.info(
            _(
                "Recipients that failed for a temporary reason are retried automatically on {when}."
            ).format(when=when(current.auto_retry_at))
        )
    st.progress(
        progress.fraction_done,
        text=ngettext(
            "{done} of {total} recipient done", "{done} of {total} recipients done", progress.total
        ).format(done=format_number(progress.done), total=format_number(progress.total)),
    )
    counts = progress.counts
    columns = st.columns(8)
    columns[0].metric(_("Targeted"), format_number(progress.total))
    for column, status in zip(
        columns[1:],
        ["pending", "sent", "delivered", "read", "failed", "unknown", "skipped"],
        strict=True,
    ):
        value = counts[status] + (counts["sending"] if status == "pending" else 0)
        column.metric(recipient_status_label(status), format_number(value))
    for warning in receipt_warnings:  # Delivered 0 / Read 0 is not "nobody read it"
        receipts.show(warning)
    columns = st.columns(5)
    columns[3].metric(_("Replies"), format_number(progress.replied))
    columns[4].metric(
        _("Reply rate"),
        format_percent(progress.reply_rate),
        help=_("Recipients who answered within the reply window, of those the message reached."),
    )
    finished = current.status in ("completed", "cancelled", "failed")
    if finished:
        columns[0].metric(_("Time to finish"), _("Finished"))
    else:
        columns[0].metric(
            _("Time to finish"),
            format_duration(progress.eta) if progress.eta is not None else _("Not moving"),
        )
    columns[1].metric(
        _("Average pace (per minute)") if finished else _("Current pace (per minute)"),
        format_number(progress.pace_per_minute, decimals=1),  # "—" until two attempts
    )
    columns[2].metric(_("Rate limit (per minute)"), format_number(progress.rate_per_minute))

    left, right = st.columns(2)
    left.plotly_chart(charts.funnel(progress), key="funnel")
    right.plotly_chart(charts.sends_over_time(series, overview.timezone), key="sends")

    st.subheader(_("Failures by reason"))
    if not reasons:
        st.caption(_("No failures."))
        return
    st.plotly_chart(charts.failure_reasons(reasons), key="failures")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    _("Status"): recipient_status_label(reason.status),
                    _("Kind"): error_kind_label(reason.error_kind) if reason.error_kind else "—",
                    _("Error"): stored_text.recipient_error(reason.last_error) or "—",
                    _("Recipients"): reason.count,
                    _("Examples"): ", ".join(
                        f"{phone} ({name})" if name else phone for phone, name in reason.examples
                    ),
                }
                for reason in reasons
            ]
        ),
        hide_index=True,
    )


live_progress()
variants.panel(actor, campaign_id, overview.timezone)
if overview.track_links:
    tracked_links.panel(actor, campaign_id)

# --- Actions ------------------------------------------------------------------------------------

# Each calls core.campaigns.<action>(session, actor, id), offered when core allows it.
ACTIONS = {  # action: (label, confirmation question)
    "pause": (
        _("Pause"),
        _("Pause this campaign? Messages stop going out until you resume it."),
    ),
    "resume": (
        _("Resume"),
        _("Resume this campaign? Sending starts again at the number's pace."),
    ),
    "cancel": (
        _("Cancel"),
        _(
            "Cancel this campaign? Recipients not sent yet will never receive it. This cannot be undone."
        ),
    ),
    "retry_failed": (
        _("Retry failed"),
        _(
            "Send again to the failed and unknown recipients? Unknown ones may already have received it."
        ),
    ),
}

if actor.can("campaigns.trigger"):
    allowed = campaigns.allowed_actions(overview.status)
    offered = [name for name in ACTIONS if name in allowed]
    pending_action = st.session_state.get(CONFIRM_KEY)
    if offered and pending_action not in offered:
        columns = st.columns(len(offered) + 4)
        for column, name in zip(columns, offered, strict=False):
            if column.button(ACTIONS[name][0], key=f"action_{name}"):
                st.session_state[CONFIRM_KEY] = name
                st.rerun()
    elif pending_action in offered:
        label, question = ACTIONS[pending_action]
        st.warning(question)
        yes, no, *_rest = st.columns(6)
        if yes.button(_("Yes, go ahead"), type="primary", key="confirm_yes"):
            st.session_state.pop(CONFIRM_KEY, None)
            try:
                with db() as session:
                    getattr(campaigns, pending_action)(session, actor, campaign_id)
            except DomainError as error:
                st.error(localize_error(error))
            else:
                st.session_state[FLASH_KEY] = _("Done: {action}.").format(action=label)
                st.rerun()
        if no.button(_("No, keep it as it is"), key="confirm_no"):
            st.session_state.pop(CONFIRM_KEY, None)
            st.rerun()

# --- Per-recipient log ----------------------------------------------------------------------------

st.subheader(_("Recipients"))
filters = st.columns([3, 2, 1])
statuses = filters[0].multiselect(
    _("Status"),
    [status.value for status in RecipientStatus],
    format_func=recipient_status_label,
    placeholder=_("Every status"),
    key="log_statuses",
    select_all=streamlit_texts.select_all(),
)
search = filters[1].text_input(_("Phone or name"), key="log_search")
page = int(filters[2].number_input(_("Page"), min_value=1, value=1, step=1, key="log_page"))

with db() as session:
    rows, total = tracking.recipient_log(
        session, actor, campaign_id, statuses or None, page, PER_PAGE, search.strip() or None
    )
pages = max(1, -(-total // PER_PAGE))
st.caption(
    ngettext(
        "{total} recipient matches · page {page} of {pages}",
        "{total} recipients match · page {page} of {pages}",
        total,
    ).format(total=format_number(total), page=page, pages=pages)
)
st.dataframe(
    pd.DataFrame(
        [
            {
                _("Phone"): row.phone,
                _("Name"): row.name or "",
                _("Status"): recipient_status_label(row.status),
                _("Attempts"): row.attempts,
                _("Last error"): stored_text.recipient_error(row.last_error),
                _("Number"): row.instance or "",
                _("Last attempt"): when(row.last_attempt_at),
                _("Sent"): when(row.sent_at),
                _("Delivered"): when(row.delivered_at),
                _("Read"): when(row.read_at),
                _("Replied"): when(row.replied_at),
                _("Failed"): when(row.failed_at),
                _("Version"): campaigns.variant_letter(row.variant)
                if row.variant is not None
                else "",
                _("Message"): row.rendered_text,
            }
            for row in rows
        ],
        columns=[
            _("Phone"),
            _("Name"),
            _("Status"),
            _("Attempts"),
            _("Last error"),
            _("Number"),
            _("Last attempt"),
            _("Sent"),
            _("Delivered"),
            _("Read"),
            _("Replied"),
            _("Failed"),
            _("Version"),
            _("Message"),
        ],
    ),
    hide_index=True,
    key="recipient_log",
)


def export(kind: str) -> bytes:
    """Built when the button is clicked, not on every refresh (a campaign may have 100k rows)."""
    with db() as session:
        rows = list(tracking.recipient_export_rows(session, actor, campaign_id, statuses or None))
    if kind == "csv":
        return to_csv(tracking.EXPORT_HEADERS, rows)
    return to_xlsx(tracking.EXPORT_HEADERS, rows, title=overview.title)


base_name = f"campaign-{campaign_id}-recipients"
downloads = st.columns(6)
downloads[0].download_button(
    _("Download CSV"),
    lambda: export("csv"),
    file_name=f"{base_name}.csv",
    mime=CSV_MIME,
    on_click="ignore",
)
downloads[1].download_button(
    _("Download Excel"),
    lambda: export("xlsx"),
    file_name=f"{base_name}.xlsx",
    mime=XLSX_MIME,
    on_click="ignore",
)
