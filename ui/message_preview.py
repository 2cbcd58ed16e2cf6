"""What recipients will read: the message rendered for a few of them, as WhatsApp shows it."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import campaigns
from core.i18n import _, format_number
from ui import whatsapp_format

SHOWN = 3  # recipients whose message is shown


def panel(
    message: str,
    reach: campaigns.AudiencePreview | None,
    variation: campaigns.Variation,
    thumbnail: Any,
    campaign_id: int | None,
) -> None:
    """The preview bubbles and variants, and a warning when everyone gets the very same text."""
    if message.strip() and reach is not None and reach.sample:
        st.subheader(_("Preview"))
        for row in reach.sample[:SHOWN]:
            with st.chat_message("user", avatar="💬"):
                st.caption(row["name"] or row["phone"])
                if thumbnail is not None:  # above the text, as in WhatsApp
                    st.image(thumbnail, width=240)
                # WhatsApp's formatting (not Markdown's), the contact's text escaped.
                st.html(
                    whatsapp_format.to_html(campaigns.render_message(message, row, campaign_id))
                )
        if variation.distinct > 1:
            with st.expander(
                _("Variants ({n} different texts)").format(n=format_number(variation.distinct))
            ):
                for sample in variation.samples:
                    st.text(sample)
    if message.strip() and reach is not None and variation.identical_blast(reach.count):
        st.warning(
            _(
                "Every one of the {n} recipients gets the very same text. Identical messages sent "
                "in bulk look like spam to WhatsApp: add a variable such as {variable} or "
                "variation such as {choice}."
            ).format(n=format_number(reach.count), variable="{{first_name}}", choice="{Hello|Hi}"),
            icon="⚠️",
        )
