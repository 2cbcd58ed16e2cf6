"""A form's problems from core's ValidationError, under the fields they name."""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st


def sentence(text: str) -> str:
    """Core's messages are phrases ("the title is required"): shown as sentences."""
    return text[:1].upper() + text[1:]


def show(errors: Mapping[str, list[str]], *fields: str) -> None:
    """Every problem of these fields, one error box each."""
    for name in fields:
        for message in errors.get(name, []):
            st.error(sentence(message), icon="⚠️")
