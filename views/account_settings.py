"""Admins: the account's name, timezone, phone country, opt-out words, webhook, campaign flag."""

from __future__ import annotations

import phonenumbers
import streamlit as st

from core import people
from core.base import ValidationError
from core.i18n import LANGUAGES, _, localize_entry
from ui import chatwoot_settings
from ui.context import require_page
from ui.countries import browser_country
from ui.session import db

actor = require_page("settings.manage")

st.title(_("Account settings"))

with db() as session:
    current = people.account_settings(session, actor)

countries = ["", *sorted(phonenumbers.SUPPORTED_REGIONS)]
suggested = None if current.default_country else browser_country()
with st.form("account_settings"):
    name = st.text_input(_("Name"), current.name)
    timezone = st.text_input(
        _("Timezone"), current.timezone, help=_("An IANA name, such as America/Sao_Paulo.")
    )
    country = st.selectbox(
        _("Default country for phone numbers without +country"),
        countries,
        index=countries.index(current.default_country or suggested or ""),
        help=_(
            "Numbers imported or typed without +country code are read as this country's. "
            "It was taken from the account's timezone when the account was made."
        ),
    )
    if suggested:
        st.caption(
            _("Not set yet: {country} is suggested by your browser. Save to keep it.").format(
                country=suggested
            )
        )
    language = st.selectbox(
        _("Default language"),
        list(LANGUAGES),
        index=list(LANGUAGES).index(current.language) if current.language in LANGUAGES else 0,
        format_func=LANGUAGES.get,
    )
    keywords = st.text_area(
        _("Opt-out keywords (one per line)"),
        "\n".join(current.opt_out_keywords),
        help=_("A contact who replies with one of these words is never messaged again."),
    )
    webhook = st.text_input(
        _("Notification webhook URL"),
        current.notification_webhook_url or "",
        help=_("Optional. Campaign completions and failures are POSTed here as JSON."),
    )
    confirm_above = st.number_input(
        _("Ask for confirmation when a campaign has more recipients than"),
        min_value=0,
        max_value=people.MAX_CONFIRM_ABOVE,
        value=current.confirm_above_recipients,
        step=100,
    )
    reply_window = st.number_input(
        _("Count a message as a reply within (days of the send)"),
        min_value=1,
        max_value=people.MAX_REPLY_WINDOW_DAYS,
        value=current.reply_window_days,
        step=1,
        help=_(
            "A contact's message this many days after a campaign reached them counts as a reply "
            "to that campaign (the latest one, once per recipient)."
        ),
    )
    enabled = st.toggle(
        _("Campaigns enabled"),
        current.campaigns_enabled,
        help=_("Off: campaign pages are hidden and nothing is sent for this account."),
    )
    submitted = st.form_submit_button(_("Save"), type="primary")

if submitted:
    try:
        with db() as session:
            people.update_account_settings(
                session,
                actor,
                {
                    "name": name,
                    "timezone": timezone,
                    "default_country": country or None,
                    "language": language,
                    "opt_out_keywords": keywords,
                    "notification_webhook_url": webhook,
                    "confirm_above_recipients": int(confirm_above),
                    "reply_window_days": int(reply_window),
                    "campaigns_enabled": enabled,
                },
            )
    except ValidationError as error:
        for problem in error.details or [error.entry()]:
            st.error(localize_entry(problem))
    else:
        st.success(_("Saved."))
        st.rerun()

st.divider()
chatwoot_settings.render(actor, current.timezone)
