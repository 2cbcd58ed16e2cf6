"""Create or edit a campaign: message, media, numbers, schedule, and the audience with a live preview.

Everything shown here comes from the same core functions the worker uses: the count and rows are
`core.audience.preview`, the rendered texts `core.message_template.render`.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import streamlit as st

from core import campaigns, contacts, people
from core.base import FIRST_DAY, LAST_DAY, DomainError, ValidationError, parse_datetime, utcnow
from core.campaigns import describe_estimate
from core.i18n import _, format_number, localize_entry, localize_error, ngettext
from core.models import MediaType
from ui import (
    auto_retry,
    contact_choices,
    form_state,
    streamlit_texts,
    tracked_links,
    whatsapp_format,
)
from ui.context import require_page
from ui.labels import campaign_status_label
from ui.session import db

KEY = "ce_"  # prefix of this page's widget keys
SAMPLE = 5
MAX_CONDITIONS = 5

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
    crit = source.get("audience") or {}
    values: dict[str, Any] = {
        KEY + "title": source.get("title", ""),
        KEY + "message": source.get("message", ""),
        KEY + "labels": [x for x in crit.get("labels", []) if x in label_choices],
        KEY + "labels_match": crit.get("labels_match", "any"),
        KEY + "exclude": [x for x in crit.get("exclude_labels", []) if x in label_choices],
        KEY + "contact_ids": list(crit.get("contact_ids", [])),
    }
    conditions = list((crit.get("custom_attributes") or {}).items())[:MAX_CONDITIONS]
    values[KEY + "conditions"] = len(conditions)
    for n, (key, given) in enumerate(conditions):
        values[f"{KEY}attr_key_{n}"] = key
        values[f"{KEY}attr_values_{n}"] = ", ".join(str(v) for v in given)
    default_numbers = list(numbers) if len(numbers) == 1 else []
    values[KEY + "numbers"] = [
        i for i in source.get("instance_ids", default_numbers) if i in numbers
    ]
    mm = source.get("multimedia") or {}
    values[KEY + "media_mode"] = (
        "upload" if mm.get("media_id") else ("url" if mm.get("url") else "none")
    )
    values[KEY + "media_type"] = mm.get("type", "image")
    values[KEY + "media_url"] = mm.get("url", "")
    values[KEY + "media_filename"] = mm.get("filename", "")
    values[KEY + "media_id"] = mm.get("media_id")
    try:
        scheduled = parse_datetime(source.get("scheduled_at"), "scheduled_at")
    except ValidationError:  # stored before dates were bounded (year 9999): offer a new one
        scheduled = None
    local = (scheduled or utcnow() + timedelta(hours=1)).astimezone(zone)
    values[KEY + "when"] = "schedule" if source.get("status") == "pending" else "draft"
    values[KEY + "date"] = min(max(local.date(), FIRST_DAY), LAST_DAY)
    values[KEY + "time"] = local.time().replace(second=0, microsecond=0)
    auto_retry.load(values, KEY, source)
    tracked_links.load(values, KEY, source)
    values[KEY + "local_time"] = bool(source.get("deliver_in_recipient_timezone"))
    values[KEY + "errors"] = {}
    return values


# Every key the page reads is there on every run: after a visit to another page Streamlit has
# dropped the widgets' values (see ui.form_state), which used to raise KeyError here.
loaded = state.get(KEY + "loaded") == (campaign_id or "new")
form_state.fill(form_defaults(existing), reset=not loaded)
form_state.keep([KEY + "search", KEY + "test_phones", KEY + "confirm"])
state[KEY + "loaded"] = campaign_id or "new"
errors: dict[str, list[str]] = state.get(KEY + "errors", {})


def sentence(text: str) -> str:
    """Core's messages are phrases ("the title is required"): shown as sentences."""
    return text[:1].upper() + text[1:]


def field_error(*fields: str) -> None:
    for name in fields:
        for message in errors.get(name, []):
            st.error(sentence(message), icon="⚠️")


def insert_variable(name: str) -> None:
    state[KEY + "message"] = state.get(KEY + "message", "") + "{{" + name + "}}"


# -- message --------------------------------------------------------------------------------------
st.text_input(_("Title"), key=KEY + "title", max_chars=255)
field_error("title")

st.write(_("Insert a variable:"))
# The fallback in the reader's language ("{{first_name|there}}" in English).
variables = ["first_name|" + _("there"), "name", "phone", *attribute_choices[:12]]
# A row that wraps, each button as wide as its text: fixed columns cut "{{first_na…" off.
with st.container(horizontal=True, gap="small"):
    for n, name in enumerate(variables):
        st.button(
            "{{" + name + "}}",
            key=f"{KEY}var_{n}",
            on_click=insert_variable,
            args=(name,),
            width="content",
        )
st.text_area(
    _("Message"),
    key=KEY + "message",
    height=160,
    help=_(
        # In backticks: the tooltip is Markdown, which would turn *bold* into italic.
        "WhatsApp formatting works: `*bold*`, `_italic_`, `~strikethrough~`, "
        "`` ```monospace``` ``, `> quote`, and lists starting with `* ` or `1. `."
    ),
)
field_error("message")
variation = campaigns.message_variation(state.get(KEY + "message", ""), 3, campaign_id)
if variation.error is not None:
    st.error(localize_error(variation.error), icon="⚠️")
elif variation.distinct > 1:
    st.caption(
        _(
            "Variation: {n} different texts (one chosen per recipient, always the same for them)."
        ).format(n=format_number(variation.distinct))
    )
else:
    st.caption(
        _(
            "Tip: {example} sends one of the words to each recipient, so not everyone gets "
            "the very same text."
        ).format(example="{Hello|Hi|Hey}")
    )

# -- media ----------------------------------------------------------------------------------------
upload = None
with st.expander(_("Media"), expanded=state[KEY + "media_mode"] != "none"):
    st.radio(
        _("Attachment"),
        ["none", "url", "upload"],
        format_func={"none": _("None"), "url": _("By URL"), "upload": _("Upload a file")}.get,
        key=KEY + "media_mode",
        horizontal=True,
    )
    if state[KEY + "media_mode"] != "none":
        st.selectbox(
            _("Type"),
            [str(t) for t in MediaType],
            format_func=lambda t: {
                "image": _("Image (up to 5 MB)"),
                "video": _("Video (up to 16 MB)"),
                "audio": _("Audio (up to 16 MB)"),
                "document": _("Document (up to 100 MB)"),
            }[t],
            key=KEY + "media_type",
        )
        if state[KEY + "media_type"] == "audio":
            st.caption(_("Audio has no caption: the message is sent just before it."))
    if state[KEY + "media_mode"] == "url":
        st.text_input(_("URL"), key=KEY + "media_url", placeholder="https://")
        st.text_input(_("File name"), key=KEY + "media_filename")
    elif state[KEY + "media_mode"] == "upload":
        upload = st.file_uploader(_("File"), key=KEY + "upload")
        if upload is not None and state.get(KEY + "upload_file_id") != upload.file_id:
            try:
                with db() as session:
                    stored = campaigns.store_media(
                        session,
                        actor,
                        state[KEY + "media_type"],
                        upload.name,
                        upload.getvalue(),
                        upload.type,
                    )
                    state[KEY + "media_id"] = stored.id
                    state[KEY + "upload_file_id"] = upload.file_id
            except ValidationError as error:
                st.error(localize_error(error), icon="⚠️")
        if state.get(KEY + "media_id"):
            st.caption(_("Uploaded file #{id} will be sent.").format(id=state[KEY + "media_id"]))
    field_error("multimedia")

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

st.radio(
    _("When"),
    ["draft", "now", "schedule"],
    format_func={
        "draft": _("Save as draft"),
        "now": _("Send now"),
        "schedule": _("Schedule"),
    }.get,
    key=KEY + "when",
    horizontal=True,
)
if state[KEY + "when"] == "schedule":
    left, right = st.columns(2)
    left.date_input(_("Date"), key=KEY + "date", min_value=FIRST_DAY, max_value=LAST_DAY)
    right.time_input(_("Time ({zone})").format(zone=timezone), key=KEY + "time", step=300)
field_error("scheduled_at", "status")
auto_retry.inputs(state, KEY)
field_error("auto_retry_hours", "auto_retry_limit")
tracked_links.inputs(KEY)
field_error("track_links")
st.checkbox(
    _("Deliver in each recipient's local time"),
    key=KEY + "local_time",
    help=_(
        "The send window is read in each recipient's own timezone: the contact's 'timezone' "
        "attribute, else the phone number's country or area, else the account's."
    ),
)
field_error("deliver_in_recipient_timezone")

# -- audience -------------------------------------------------------------------------------------
st.subheader(_("Audience"))
a_left, a_right = st.columns(2)
if label_choices:  # an empty list would show Streamlit's English "No options to select"
    a_left.multiselect(
        _("With labels"),
        label_choices,
        key=KEY + "labels",
        placeholder=_("Choose labels"),
        select_all=streamlit_texts.select_all(),
    )
    a_left.radio(
        _("Contacts need"),
        ["any", "all"],
        format_func={"any": _("any of these labels"), "all": _("all of these labels")}.get,
        key=KEY + "labels_match",
        horizontal=True,
    )
    a_right.multiselect(
        _("Without labels"),
        label_choices,
        key=KEY + "exclude",
        placeholder=_("Choose labels"),
        select_all=streamlit_texts.select_all(),
    )
else:
    a_left.caption(_("No labels yet: contacts get them when imported or edited."))

st.write(_("Attribute conditions (a list of values separated by commas matches any of them)"))


def remove_condition(n: int) -> None:
    """Drop condition n: the ones below move up a row (a callback: before the widgets draw)."""
    count = state.get(KEY + "conditions", 0)
    for i in range(n, count - 1):
        state[f"{KEY}attr_key_{i}"] = state.get(f"{KEY}attr_key_{i + 1}", "")
        state[f"{KEY}attr_values_{i}"] = state.get(f"{KEY}attr_values_{i + 1}", "")
    state.pop(f"{KEY}attr_key_{count - 1}", None)
    state.pop(f"{KEY}attr_values_{count - 1}", None)
    state[KEY + "conditions"] = max(count - 1, 0)


for n in range(state.get(KEY + "conditions", 0)):
    c_key, c_values, c_remove = st.columns([5, 5, 1], vertical_alignment="bottom")
    c_remove.button(
        "✕",
        key=f"{KEY}remove_condition_{n}",
        help=_("Remove this condition"),
        on_click=remove_condition,
        args=(n,),
    )
    c_key.selectbox(
        _("Attribute"),
        [""] + attribute_choices,
        key=f"{KEY}attr_key_{n}",
        label_visibility="collapsed",
    )
    c_values.text_input(
        _("Values"),
        key=f"{KEY}attr_values_{n}",
        label_visibility="collapsed",
        placeholder=_("Values"),
    )
if state.get(KEY + "conditions", 0) < MAX_CONDITIONS and attribute_choices:

    def add_condition() -> None:
        n = state.get(KEY + "conditions", 0)
        state[KEY + "conditions"] = n + 1
        form_state.keep([f"{KEY}attr_key_{n}", f"{KEY}attr_values_{n}"])

    st.button(_("Add a condition"), on_click=add_condition)

search = st.text_input(_("Pick contacts by name or phone"), key=KEY + "search")
with db() as session:
    chosen = contacts.contacts_by_ids(session, actor, state.get(KEY + "contact_ids", []))
    found = contacts.find_contacts(session, actor, search, 20) if search else []
contact_labels = {c["id"]: f"{c['name'] or ''} {c['phone']}".strip() for c in [*chosen, *found]}
state[KEY + "contact_ids"] = [i for i in state.get(KEY + "contact_ids", []) if i in contact_labels]
if contact_labels:  # nothing found or chosen: no empty list in Streamlit's English
    st.multiselect(
        _("Only these contacts"),
        list(contact_labels),
        placeholder=_("Search above, then choose"),
        format_func=lambda cid: contact_labels.get(cid, str(cid)),
        key=KEY + "contact_ids",
        select_all=streamlit_texts.select_all(),
    )


def criteria_from_form() -> dict[str, Any]:
    criteria: dict[str, Any] = {}
    if state.get(KEY + "contact_ids"):
        criteria["contact_ids"] = list(state[KEY + "contact_ids"])
    if state.get(KEY + "labels"):
        criteria["labels"] = list(state[KEY + "labels"])
        criteria["labels_match"] = state.get(KEY + "labels_match", "any")
    if state.get(KEY + "exclude"):
        criteria["exclude_labels"] = list(state[KEY + "exclude"])
    conditions: dict[str, Any] = {}
    for n in range(state.get(KEY + "conditions", 0)):
        key = state.get(f"{KEY}attr_key_{n}")
        values = [
            v.strip() for v in str(state.get(f"{KEY}attr_values_{n}", "")).split(",") if v.strip()
        ]
        if key and values:
            conditions[key] = values if len(values) > 1 else values[0]
    if conditions:
        criteria["custom_attributes"] = conditions
    return criteria


criteria = criteria_from_form()
reach = None
try:
    with db() as session:
        reach = campaigns.preview_audience(session, actor, criteria, sample=SAMPLE)
except ValidationError as error:
    st.info(localize_error(error))
if reach is not None:
    st.metric(_("Recipients"), format_number(reach.count))
    if reach.excluded:
        st.caption(
            _("{n} more match but opted out or are not on WhatsApp; they are left out.").format(
                n=format_number(reach.excluded)
            )
        )
    if reach.sample:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        _("Name"): row["name"] or "",
                        _("Phone"): row["phone"],
                        _("Labels"): ", ".join(row["labels"]),
                    }
                    for row in reach.sample
                ]
            ),
            hide_index=True,
        )
field_error("audience")

# -- what they will read --------------------------------------------------------------------------
message = state.get(KEY + "message", "")
thumbnail: Any = None  # the image they will get, above the text as in WhatsApp
if state.get(KEY + "media_type") == "image":
    media_url = str(state.get(KEY + "media_url") or "").strip()
    if state.get(KEY + "media_mode") == "url" and media_url.startswith(("http://", "https://")):
        thumbnail = media_url
    elif state.get(KEY + "media_mode") == "upload" and upload is not None:
        thumbnail = upload.getvalue()
if message.strip() and reach is not None and reach.sample:
    st.subheader(_("Preview"))
    for row in reach.sample[:3]:
        with st.chat_message("user", avatar="💬"):
            st.caption(row["name"] or row["phone"])
            if thumbnail is not None:
                st.image(thumbnail, width=240)
            # WhatsApp's formatting (not Markdown's), the contact's text escaped.
            st.html(whatsapp_format.to_html(campaigns.render_message(message, row, campaign_id)))
    if variation.distinct > 1:
        with st.expander(
            _("Variants ({n} different texts)").format(n=format_number(variation.distinct))
        ):
            for sample in variation.samples:
                st.text(sample)
if message.strip() and reach is not None and variation.identical_blast(reach.count):
    st.warning(
        _(
            "Every one of the {n} recipients gets the very same text. Identical messages sent in "
            "bulk look like spam to WhatsApp: add a variable such as {variable} or variation "
            "such as {choice}."
        ).format(n=format_number(reach.count), variable="{{first_name}}", choice="{Hello|Hi}"),
        icon="⚠️",
    )

RISK_TEXTS = {
    "fast_new_number": _(
        "{number} is a new number (day {age}): {per_hour} messages an hour is risky; over 60 an "
        "hour on a new number invites a ban."
    ),
    "warmup_off_new": _(
        "{number} is a new number (day {age}) with warm-up off: turn it on in WhatsApp numbers."
    ),
    "health_paused": _("{number} is paused for its health ({score}/100): nothing goes out now."),
    "health_low": _("{number}'s health is {score}/100: it sends at {rate}/min for now."),
    "days_needed": _(
        "This campaign needs {days} days on a number on day {age} of its life: "
        "its daily allowance spreads it out."
    ),
}


def show_risk(risk: campaigns.Risk) -> None:
    """The risk meter: one line per point, the level in its colour."""
    if risk.level == "ok":
        st.caption(_("Risk: low for these numbers and this audience."))
        return
    lines = [
        RISK_TEXTS[item.kind].format(
            **{k: format_number(v) if isinstance(v, int) else v for k, v in item.params.items()}
        )
        for item in risk.items
    ]
    title = _("Risk: high") if risk.level == "risky" else _("Risk: some caution")
    (st.error if risk.level == "risky" else st.warning)(
        title + "\n\n" + "\n".join("- " + line for line in lines), icon="⚠️"
    )


# -- estimate and confirmation --------------------------------------------------------------------
when = state[KEY + "when"]
start_at = (
    datetime.combine(state[KEY + "date"], state.get(KEY + "time") or time(0), tzinfo=zone)
    if when == "schedule"
    else utcnow()
)
confirmed = True
if reach is not None and reach.count and state.get(KEY + "numbers"):
    with db() as session:
        estimate = campaigns.estimate_for(
            session, actor, reach.count, state[KEY + "numbers"], start_at
        )
        large = campaigns.needs_confirmation(session, actor, reach.count)
        risk = campaigns.risk_for(session, actor, reach.count, state[KEY + "numbers"], start_at)
    st.info(describe_estimate(estimate, timezone, utcnow()))
    show_risk(risk)
    if when != "draft" and large:
        confirmed = st.checkbox(
            ngettext(
                "I confirm sending this campaign to {n} recipient.",
                "I confirm sending this campaign to {n} recipients.",
                reach.count,
            ).format(n=format_number(reach.count)),
            key=KEY + "confirm",
        )


def multimedia_from_form() -> dict[str, Any] | None:
    mode = state.get(KEY + "media_mode", "none")
    if mode == "url":
        result = {
            "type": state[KEY + "media_type"],
            "url": state.get(KEY + "media_url", "").strip(),
        }
        if state.get(KEY + "media_filename", "").strip():
            result["filename"] = state[KEY + "media_filename"].strip()
        return result
    if mode == "upload":
        return {"type": state[KEY + "media_type"], "media_id": state.get(KEY + "media_id")}
    return None


def save() -> None:
    data = {
        "title": state.get(KEY + "title", ""),
        "message": state.get(KEY + "message", ""),
        "audience": criteria_from_form(),
        "multimedia": multimedia_from_form(),
        "instance_ids": list(state.get(KEY + "numbers", [])),
        "status": "pending" if state[KEY + "when"] == "schedule" else "draft",
        "scheduled_at": start_at if state[KEY + "when"] == "schedule" else None,
        **auto_retry.values(state, KEY),
        **tracked_links.values(state, KEY),
        "deliver_in_recipient_timezone": bool(state.get(KEY + "local_time")),
    }
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
    problems = [sentence(m) for messages in errors.values() for m in messages]
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
