"""Create or edit a campaign: message, media, numbers, schedule, and the audience with a live preview.

Everything shown here comes from the same core functions the worker uses: the count and rows are
`core.audience.preview`, the rendered texts `core.message_template.render`. Each part of the form
is a ui module (`load` its keys from a campaign, draw its `inputs`, give its `values`); this page
lays them out and saves.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import streamlit as st

from core import campaigns, contacts, people
from core.base import DomainError, ValidationError
from core.i18n import _, localize_entry, localize_error, ngettext
from ui import (
    audience_picker,
    audience_reach,
    auto_retry,
    campaign_media,
    campaign_message,
    campaign_schedule,
    contact_choices,
    field_errors,
    form_state,
    local_time,
    send_estimate,
    streamlit_texts,
    tracked_links,
    variants,
)
from ui.context import require_page
from ui.labels import campaign_status_label
from ui.session import db

KEY = "ce_"  # prefix of this page's widget keys
SAMPLE = 5  # audience rows shown

actor = require_page("campaigns.write")
raw_id = st.query_params.get("id")
campaign_id = int(raw_id) if raw_id and str(raw_id).isdigit() else None

with db() as session:
    account = people.get_account(session, actor.account_id)
    timezone = account.timezone
    existing = (
        campaigns.campaign_json(campaigns.get(session, actor, campaign_id)) if campaign_id else None
    )
    numbers = {
        i.id: _("{name} ({rate}/min)").format(name=i.name, rate=i.rate_per_minute)
        for i in campaigns.sender_instances(session, actor)
    }
    label_choices = contacts.label_names(session, actor)
attribute_choices = contact_choices.attribute_keys(actor)
zone = ZoneInfo(timezone)
state = st.session_state

st.title(_("Edit campaign") if existing else _("New campaign"))
flash = state.pop(KEY + "flash", None)
if flash:
    st.success(flash)
if existing and "edit" not in existing["allowed_actions"]:
    st.info(
        _("This campaign is {status}: it can no longer be edited.").format(
            status=campaign_status_label(existing["status"])
        )
    )
    if st.button(_("Open campaign")):
        st.switch_page("views/campaign_detail.py", query_params={"id": str(campaign_id)})
    st.stop()


def form_defaults(source: dict[str, Any] | None) -> dict[str, Any]:
    """What the widgets show for a campaign (or a new one) before staff change anything."""
    source = source or {}
    values: dict[str, Any] = {KEY + "title": source.get("title", "")}
    campaign_message.load(values, KEY, source)
    audience_picker.load(values, KEY, source, label_choices)
    default_numbers = list(numbers) if len(numbers) == 1 else []
    values[KEY + "numbers"] = [
        i for i in source.get("instance_ids", default_numbers) if i in numbers
    ]
    campaign_media.load(values, KEY, source)
    campaign_schedule.load(values, KEY, source, zone)
    auto_retry.load(values, KEY, source)
    tracked_links.load(values, KEY, source)
    variants.load(values, KEY, source)
    local_time.load(values, KEY, source)
    values[KEY + "errors"] = {}
    return values


# Every key the page reads is there on every run: after a visit to another page Streamlit has
# dropped the widgets' values (see ui.form_state), which used to raise KeyError here.
loaded = state.get(KEY + "loaded") == (campaign_id or "new")
form_state.fill(form_defaults(existing), reset=not loaded)
form_state.keep([KEY + "search", KEY + "test_phones", KEY + "confirm"])
state[KEY + "loaded"] = campaign_id or "new"
errors: dict[str, list[str]] = state.get(KEY + "errors", {})


def field_error(*fields: str) -> None:
    field_errors.show(errors, *fields)


# -- message and media ----------------------------------------------------------------------------
st.text_input(_("Title"), key=KEY + "title", max_chars=255)
field_error("title")
variation = campaign_message.inputs(state, KEY, attribute_choices, campaign_id, errors)
upload = campaign_media.inputs(state, KEY, actor, errors)
variants.inputs(state, KEY, errors)

# -- numbers and schedule ------------------------------------------------------------------------
if numbers:
    st.multiselect(
        _("Send through (WhatsApp numbers)"),
        list(numbers),
        format_func=numbers.get,
        key=KEY + "numbers",
        placeholder=_("Choose one or more numbers"),
        select_all=streamlit_texts.select_all(),
    )
else:
    st.caption(_("No WhatsApp number yet: an admin adds them under Settings."))
field_error("instance_ids")
campaign_schedule.inputs(state, KEY, timezone, errors)
auto_retry.inputs(state, KEY)
field_error("auto_retry_hours", "auto_retry_limit")
tracked_links.inputs(KEY)
field_error("track_links")
local_time.inputs(KEY)
field_error("deliver_in_recipient_timezone")

# -- audience, and what they will read ------------------------------------------------------------
audience_picker.inputs(state, KEY, actor, label_choices, attribute_choices)
reach = audience_reach.panel(actor, audience_picker.criteria(state, KEY), SAMPLE)
field_error("audience")
variants.preview(
    state, KEY, reach, variation, campaign_media.thumbnail(state, KEY, upload), campaign_id
)

# -- estimate and confirmation --------------------------------------------------------------------
when = state[KEY + "when"]
start_at = campaign_schedule.start_at(state, KEY, zone)
confirmed = True
if reach is not None and reach.count and state.get(KEY + "numbers"):
    confirmed = send_estimate.panel(
        actor, KEY, reach.count, state[KEY + "numbers"], start_at, timezone, when
    )


def save() -> None:
    data = {
        "title": state.get(KEY + "title", ""),
        **campaign_message.values(state, KEY),
        **audience_picker.values(state, KEY),
        **campaign_media.values(state, KEY),
        "instance_ids": list(state.get(KEY + "numbers", [])),
        **campaign_schedule.values(state, KEY, start_at),
        **auto_retry.values(state, KEY),
        **tracked_links.values(state, KEY),
        **local_time.values(state, KEY),
    }
    data.update(variants.values(state, KEY, data))
    try:
        with db() as session:
            if campaign_id:
                saved = campaigns.update(session, actor, campaign_id, data)
            else:
                saved = campaigns.create(session, actor, data)
            if state[KEY + "when"] == "now":
                campaigns.trigger(session, actor, saved.id)
            saved_id, saved_status = saved.id, saved.status
    except ValidationError as error:
        items = error.details or [error.detail(error.field or "title")]
        found: dict[str, list[str]] = {}
        for item in items:  # every problem, not only the first of each field
            found.setdefault((item.get("field") or "title").split(".")[0], []).append(
                localize_entry(item)
            )
        state[KEY + "errors"] = found
        return
    except DomainError as error:
        state[KEY + "errors"] = {"status": [localize_error(error)]}
        return
    state[KEY + "errors"] = {}
    state[KEY + "flash"] = {
        "running": _("Campaign saved and started."),
        "pending": _("Campaign saved and scheduled."),
    }.get(str(saved_status), _("Campaign saved as a draft."))
    state[KEY + "loaded"] = saved_id  # keep what is on screen as the edited campaign
    st.query_params["id"] = str(saved_id)


label = {
    "draft": _("Save draft"),
    "now": _("Save and send now"),
    "schedule": _("Save and schedule"),
}[when]
if errors:  # all at once, beside the button, also those of fields drawn higher up
    problems = [field_errors.sentence(m) for messages in errors.values() for m in messages]
    st.error(
        ngettext(
            "Not saved: {n} problem to fix.", "Not saved: {n} problems to fix.", len(problems)
        ).format(n=len(problems))
        + "\n\n"
        + "\n".join(f"- {p}" for p in problems),
        icon="⚠️",
    )
st.button(label, type="primary", disabled=not confirmed, on_click=save, key=KEY + "save")
if not confirmed:
    st.caption(_("Confirm the number of recipients above to continue."))

# -- a test ---------------------------------------------------------------------------------------
if actor.can("campaigns.test_send"):
    with st.expander(_("Send a test")):
        if not campaign_id:
            st.caption(_("Save the campaign first; the test uses what is saved."))
        else:
            st.text_input(
                _("Staff numbers (up to 5, separated by commas)"), key=KEY + "test_phones"
            )

            def send_test() -> None:
                phones = [p for p in state.get(KEY + "test_phones", "").split(",") if p.strip()]
                try:
                    with db() as session:
                        queued = campaigns.send_test(session, actor, campaign_id, phones)
                    state[KEY + "flash"] = ngettext(
                        "Test queued for {n} number.", "Test queued for {n} numbers.", len(queued)
                    ).format(n=len(queued))
                    state[KEY + "errors"] = {}
                except DomainError as error:
                    state[KEY + "errors"] = {"test_phones": [localize_error(error)]}

            st.button(_("Send a test"), on_click=send_test, key=KEY + "send_test")
            field_error("test_phones")
