"""The campaign editor's message: variable buttons, the text, and what its variation gives."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

import streamlit as st

from core import campaigns
from core.i18n import _, format_number, localize_error
from ui import field_errors

MAX_VARIABLE_BUTTONS = 12  # attributes offered as buttons, after first_name, name and phone


def load(state: MutableMapping[str, Any], key: str, source: dict[str, Any]) -> None:
    state[key + "message"] = source.get("message", "")


def inputs(
    state: MutableMapping[str, Any],
    key: str,
    attribute_choices: list[str],
    campaign_id: int | None,
    errors: Mapping[str, list[str]],
) -> campaigns.Variation:
    """Draw the message inputs; the variation of what was typed (for the preview)."""

    def insert_variable(name: str) -> None:
        state[key + "message"] = state.get(key + "message", "") + "{{" + name + "}}"

    st.write(_("Insert a variable:"))
    # The fallback in the reader's language ("{{first_name|there}}" in English).
    variables = [
        "first_name|" + _("there"),
        "name",
        "phone",
        *attribute_choices[:MAX_VARIABLE_BUTTONS],
    ]
    # A row that wraps, each button as wide as its text: fixed columns cut "{{first_na…" off.
    with st.container(horizontal=True, gap="small"):
        for n, name in enumerate(variables):
            st.button(
                "{{" + name + "}}",
                key=f"{key}var_{n}",
                on_click=insert_variable,
                args=(name,),
                width="content",
            )
    st.text_area(
        _("Message"),
        key=key + "message",
        height=160,
        help=_(
            # In backticks: the tooltip is Markdown, which would turn *bold* into italic.
            "WhatsApp formatting works: `*bold*`, `_italic_`, `~strikethrough~`, "
            "`` ```monospace``` ``, `> quote`, and lists starting with `* ` or `1. `."
        ),
    )
    field_errors.show(errors, "message")
    variation = campaigns.message_variation(state.get(key + "message", ""), 3, campaign_id)
    if variation.error is not None:
        st.error(localize_error(variation.error), icon="⚠️")
    elif variation.distinct > 1:
        st.caption(
            _(
                "Variation: {n} different texts (one chosen per recipient, always the same for "
                "them)."
            ).format(n=format_number(variation.distinct))
        )
    else:
        st.caption(
            _(
                "Tip: {example} sends one of the words to each recipient, so not everyone gets "
                "the very same text."
            ).format(example="{Hello|Hi|Hey}")
        )
    return variation


def values(state: MutableMapping[str, Any], key: str) -> dict[str, Any]:
    return {"message": state.get(key + "message", "")}
