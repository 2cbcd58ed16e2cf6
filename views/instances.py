"""WhatsApp numbers (Evolution instances): list, add, edit, test, re-register the webhook,
re-enable after a failure. Everyone with instances.read sees them; only admins change them."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import streamlit as st

from core import instances, tracking
from core.base import DomainError, stored_text, utcnow
from core.i18n import _, format_number, localize_error
from core.models import CircuitCause
from ui import deliverability, receipts, streamlit_texts
from ui.context import local_time, require_page
from ui.labels import connection_label
from ui.session import db

actor = require_page("instances.read")
can_write = actor.can("instances.write")
FLASH_KEY = "instances_flash"
OPEN_KEY = "instances_open"  # the number whose panel a button was pressed in
DAYS = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]
MAX_TYPING = instances.MAX_TYPING_SECONDS
RESUMES_BY_ITSELF = {cause.value for cause in CircuitCause if cause.closes_by_itself}
WARMUP_LABELS = {
    "off": _("Off"),
    "new_number": _("New number (20 a day, growing over two weeks)"),
    "established": _("Established number (three careful days)"),
    "custom": _("Custom ladder"),
}

st.title(_("WhatsApp numbers"))
st.caption(
    _(
        "Each number is one Evolution API instance. Sends through a number are paced to its "
        "rate and never leave its send window."
    )
)
flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    kind, text = flash
    {"ok": st.success, "warn": st.warning}.get(kind, st.error)(text)


def _done(text: str, ok: bool = True, kind: str | None = None) -> None:
    st.session_state[FLASH_KEY] = (kind or ("ok" if ok else "error"), text)
    st.rerun()


MIRROR_MODES = {
    "off": _("Off"),
    "ours": _("We do (this tool posts them)"),
    "evolution": _("Evolution does it (its Chatwoot integration)"),
}


def _form(key: str, current: dict[str, Any] | None) -> dict[str, Any] | None:
    """The add/edit form; returns the submitted data (token only when typed)."""
    current = current or {}
    with st.form(key, clear_on_submit=True):
        name = st.text_input(_("Name"), current.get("name", ""), help=_("e.g. Sales line"))
        base_url = st.text_input(
            _("Evolution server URL"), current.get("base_url", ""), placeholder="https://"
        )
        instance_name = st.text_input(_("Instance name"), current.get("instance_name", ""))
        token = st.text_input(
            _("API key (token)"),
            "",
            type="password",
            placeholder=_("Leave blank to keep the saved key") if current else "",
            help=_(
                "Stored encrypted. It is never shown again after saving. Type it again when "
                "you change the server URL or the instance name: the saved key is only ever "
                "sent to the server it was saved for."
            )
            if current
            else _("Stored encrypted. It is never shown again after saving."),
        )
        cols = st.columns(3)
        api_version = cols[0].selectbox(
            _("API version"),
            ["v2", "v1"],
            index=0 if current.get("api_version", "v2") == "v2" else 1,
        )
        rate = cols[1].number_input(
            _("Messages per minute"), 1, 60, int(current.get("rate_per_minute") or 12)
        )
        extra = cols[2].number_input(
            _("Random extra delay, up to (seconds)"),
            0.0,
            3600.0,
            float(current.get("extra_delay_max_seconds") or 0.0),
        )
        cols = st.columns(2)
        typing_min = cols[0].number_input(
            _("Typing presence from (seconds)"),
            0.0,
            MAX_TYPING,
            float(current.get("typing_min_seconds") or 0.0),
            help=_(
                "Before each message WhatsApp shows “typing…” for a random time in this range "
                "(0 to 0: off). It counts within the number's pace, never on top of its rate."
            ),
        )
        typing_max = cols[1].number_input(
            _("Typing presence up to (seconds)"),
            0.0,
            MAX_TYPING,
            float(current.get("typing_max_seconds") or 0.0),
        )
        cols = st.columns(3)
        cap = cols[0].number_input(
            _("Daily cap (0 = none)"), 0, 1_000_000, int(current.get("daily_cap") or 0)
        )
        start = cols[1].text_input(
            _("Window opens (HH:MM)"), current.get("window_start") or "", placeholder="09:00"
        )
        end = cols[2].text_input(
            _("Window closes (HH:MM)"), current.get("window_end") or "", placeholder="18:00"
        )
        days = st.multiselect(
            _("Days"),
            list(range(7)),
            default=current.get("window_days") or list(range(7)),
            format_func=lambda d: DAYS[d],
            select_all=streamlit_texts.select_all(),
        )
        cols = st.columns(2)
        inbox = cols[0].number_input(
            _("Chatwoot inbox id"),
            min_value=0,
            value=current.get("chatwoot_inbox_id") or 0,
            step=1,
            help=_("The inbox of this number in your Chatwoot (Account settings → Chatwoot)."),
        )
        modes = ["off", "ours", "evolution"]
        mirror = cols[1].selectbox(
            _("Copy campaign messages into Chatwoot"),
            modes,
            index=modes.index(current.get("chatwoot_mirror") or "off"),
            format_func=MIRROR_MODES.get,
            help=_(
                "Choose 'Evolution does it' when Evolution's own Chatwoot integration is on for "
                "this instance: it already copies every message sent, so we post nothing."
            ),
        )
        cols = st.columns(3)
        pause_every = cols[0].number_input(
            _("Long pause after every N messages (0 = never)"),
            0,
            100_000,
            int(current.get("long_pause_every") or 0),
            help=_(
                "After every N messages the number rests for a random time in the range below, "
                "on top of its pace, as a person sending by hand would."
            ),
        )
        pause_min = cols[1].number_input(
            _("Long pause from (minutes)"),
            0.0,
            240.0,
            float(current.get("long_pause_min_minutes") or 0.0),
        )
        pause_max = cols[2].number_input(
            _("Long pause up to (minutes)"),
            0.0,
            240.0,
            float(current.get("long_pause_max_minutes") or 0.0),
        )
        # A number added here starts warming up unless staff choose otherwise.
        warmup = current.get("warmup", "new_number") if current else "new_number"
        choice = "custom" if isinstance(warmup, list) else str(warmup)
        cols = st.columns(3)
        choice = cols[0].selectbox(
            _("Warm-up"),
            list(WARMUP_LABELS),
            index=list(WARMUP_LABELS).index(choice) if choice in WARMUP_LABELS else 0,
            format_func=WARMUP_LABELS.__getitem__,
            help=_(
                "A daily allowance that grows with the number's age, so a new number does not "
                "send hundreds of messages on its first days."
            ),
        )
        ladder_text = cols[1].text_input(
            _("Custom ladder (messages per day)"),
            ", ".join(str(step) for step in warmup) if isinstance(warmup, list) else "",
            placeholder="20, 50, 100, 200",
        )
        since_value = current.get("number_since")
        since = cols[2].date_input(
            _("Number in use since"),
            date.fromisoformat(since_value) if since_value else None,
            help=_("Leave empty: its age counts from its first message sent from here."),
        )
        active = st.checkbox(_("Active"), current.get("is_active", True))
        submitted = st.form_submit_button(_("Save"), type="primary")
    if not submitted:
        return None
    data: dict[str, Any] = {
        "name": name,
        "base_url": base_url,
        "instance_name": instance_name,
        "api_version": api_version,
        "rate_per_minute": rate,
        "extra_delay_max_seconds": extra,
        "typing_min_seconds": typing_min,
        "typing_max_seconds": typing_max,
        "daily_cap": cap or None,
        "window_start": start or None,
        "window_end": end or None,
        "window_days": None if len(days) == 7 else days,
        "is_active": active,
        "chatwoot_inbox_id": int(inbox) or None,
        "chatwoot_mirror": mirror,
        "long_pause_every": pause_every or None,
        "long_pause_min_minutes": pause_min,
        "long_pause_max_minutes": pause_max,
        "warmup": _ladder(ladder_text) if choice == "custom" else choice,
        "number_since": since.isoformat() if isinstance(since, date) else None,
    }
    if token:
        data["token"] = token
    return data


def _ladder(text: str) -> list[Any]:
    """ "20, 50, 100" -> [20, 50, 100]; what is not a number is passed on for core to refuse."""
    steps: list[Any] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if part:
            steps.append(int(part) if part.isdigit() else part)
    return steps


with db() as session:
    rows = [instances.instance_json(i, session) for i in instances.list_instances(session, actor)]
    health_series = instances.account_health_history(
        session, actor, utcnow() - timedelta(days=deliverability.HEALTH_DAYS)
    )
    receipt_warnings = {
        row["id"]: tracking.instance_receipt_warning(session, actor, row["id"], utcnow())
        for row in rows
    }

if not rows:
    st.info(_("No WhatsApp number yet."))

for row in rows:
    healthy = row["circuit"] == "closed"
    icon = "🟢" if healthy and row["state"] == "open" else ("🔴" if not healthy else "⚪")
    # Open when something needs doing, and the one just acted on: the flash drawn above after
    # a button's rerun would otherwise collapse it ("Test connection" closed the panel).
    if any(st.session_state.get(f"{name}-{row['id']}") for name in ("test", "hook", "reset")):
        st.session_state[OPEN_KEY] = row["id"]
    expanded = (
        not healthy
        or receipt_warnings.get(row["id"]) is not None
        or st.session_state.get(OPEN_KEY) == row["id"]
    )
    with st.expander(f"{icon} {row['name']} — {row['instance_name']}", expanded=expanded):
        cols = st.columns(4)
        cols[0].metric(_("Connection"), connection_label(row["state"]))
        cols[1].metric(_("Rate"), _("{rate}/min").format(rate=row["rate_per_minute"]))
        cols[2].metric(_("Daily cap"), row["daily_cap"] or "—")
        cols[3].metric(_("API key"), row["token"])
        if row["window_start"] or row["window_end"] or row["window_days"]:
            days_text = ", ".join(DAYS[d] for d in (row["window_days"] or range(7)))
            st.write(
                _("Send window: {start}–{end}, {days}").format(
                    start=row["window_start"] or "00:00",
                    end=row["window_end"] or "24:00",
                    days=days_text,
                )
            )
        if row["typing_max_seconds"]:
            st.write(
                _("Typing presence: {low}–{high} s before each message.").format(
                    low=format_number(row["typing_min_seconds"], decimals=1),
                    high=format_number(row["typing_max_seconds"], decimals=1),
                )
            )
        deliverability.health_line(row["health"] or {}, row["rate_per_minute"])
        deliverability.warmup_lines(row["warmup"], row["allowance_today"] or {})
        deliverability.health_chart(row["name"], health_series.get(row["name"]), row["id"])
        if row["long_pause_every"] and row["long_pause_max_minutes"]:
            st.write(
                _("Long pause: {low}–{high} min after every {n} messages.").format(
                    low=format_number(row["long_pause_min_minutes"], decimals=1),
                    high=format_number(row["long_pause_max_minutes"], decimals=1),
                    n=format_number(row["long_pause_every"]),
                )
            )
        if row["activation_url"]:
            st.error(_("This Evolution server is not activated (Evolution 2.4): nothing is sent."))
            st.link_button(_("Activate this Evolution server"), row["activation_url"])
        reason = stored_text.localized(row["circuit_reason_text"], row["circuit_reason"])
        if healthy:
            st.write(_("Sending: enabled."))
        elif row["circuit_cause"] in RESUMES_BY_ITSELF:
            st.warning(_("Sending paused: {reason}").format(reason=reason or _("unknown")))
            checked = row["next_check_at"]
            st.caption(
                _(
                    "Checked again at {when}. Sending, and the campaigns it paused, resume by "
                    "themselves when it answers; no recipient is marked failed meanwhile."
                ).format(when=local_time(datetime.fromisoformat(checked)) if checked else "—")
            )
        else:
            st.error(_("Sending stopped: {reason}").format(reason=reason or _("unknown")))
            st.caption(
                _("Fix it, then re-enable sending: the campaigns it paused resume by themselves.")
            )
        if row["webhook_registered_at"] and not row["webhook_error"]:
            st.write(
                _("Webhook registered {when}: {url}").format(
                    when=local_time(datetime.fromisoformat(row["webhook_registered_at"])),
                    url=row["webhook_url"],
                )
            )
        if warning := receipt_warnings.get(row["id"]):
            receipts.show(warning)
        if row["chatwoot_mirror"] == "ours" and row["chatwoot_mirror_error"]:
            st.warning(
                _("Copying messages into Chatwoot is failing (sending goes on): {error}").format(
                    error=row["chatwoot_mirror_error"]
                )
            )
        if not can_write:
            continue
        cols = st.columns(4)
        if cols[0].button(_("Test connection"), key=f"test-{row['id']}"):
            with db() as session:
                check = instances.check_instance(session, actor, row["id"])
            if check.error:
                _done(_("Could not reach the instance: {error}").format(error=check.error), False)
            _done(_("Connection state: {state}").format(state=check.state))
        if cols[1].button(_("Re-register webhook"), key=f"hook-{row['id']}"):
            with db() as session:
                ok = instances.register_webhook(session, actor, row["id"])
            _done(_("Webhook registered.") if ok else _("Webhook registration failed."), ok)
        if not healthy and cols[2].button(
            _("Re-enable sending"), key=f"reset-{row['id']}", type="primary"
        ):
            with db() as session:
                instances.reset_circuit(session, actor, row["id"])
            _done(_("Sending re-enabled. The campaigns it paused resume in a few seconds."))
        if cols[3].button(_("Delete"), key=f"delete-{row['id']}"):
            try:
                with db() as session:
                    instances.delete_instance(session, actor, row["id"])
            except DomainError as error:
                _done(localize_error(error), False)
            _done(_("Deleted."))
        st.subheader(_("Edit"))
        data = _form(f"edit-{row['id']}", row)
        if data is not None:
            try:
                with db() as session:
                    instances.update_instance(session, actor, row["id"], data)
            except DomainError as error:
                st.error(localize_error(error))
            else:
                _done(_("Saved."))

if can_write:
    st.subheader(_("Add a WhatsApp number"))
    data = _form("add", None)
    if data is not None:
        try:
            with db() as session:
                created = instances.create_instance(session, actor, data)
                trouble = tracking.webhook_trouble(created)
        except DomainError as error:
            st.error(localize_error(error))
        else:
            if trouble is None:
                _done(_("Number added."))
            # Not a green box: without a webhook no Delivered or Read ever arrives.
            _done(
                _("Number added, but its receipts may not arrive: see the warning on it above."),
                kind="warn",
            )
