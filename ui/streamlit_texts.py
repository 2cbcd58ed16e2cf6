"""Streamlit's own English words, in the reader's language where its API allows no parameter.

The file uploader's "Upload" button and its "200MB per file" line have no parameter: for a
language other than English a stylesheet swaps the button's words (CSS generated content, which
browsers also read out as its name) and hides the size line (the pages say the limits in their
own, translated, labels). The Deploy button is hidden in .streamlit/config.toml
(`client.toolbarMode = "minimal"`); "Choose options" and "No options to select" are avoided by
the pages (a placeholder, or no widget when there is nothing to choose), and a multiselect's
English "Select all" entry is left out in other languages (`select_all()`).
"""

from __future__ import annotations

import json

import streamlit as st

from core.i18n import DEFAULT_LANGUAGE, _, current_language


def stylesheet() -> str:
    """The CSS for the current language ("" for English, Streamlit's own)."""
    if current_language() == DEFAULT_LANGUAGE:
        return ""
    upload = json.dumps(_("Choose a file"))  # a CSS string literal is a JSON one here
    return (
        '[data-testid="stFileUploaderDropzoneInstructions"] { display: none; }\n'
        '[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"],'
        '[data-testid="stFileUploaderDropzone"] button span:not([data-testid="stIconMaterial"])'
        " { font-size: 0; }\n"
        f'[data-testid="stFileUploaderDropzone"] button::after {{ content: {upload}; font-size: 0.875rem; }}\n'
    )


def select_all() -> bool | int:
    """A multiselect's `select_all`: its "Select all" entry is English only, so other languages
    go without it (Streamlit's default, 1000, in English)."""
    return 1000 if current_language() == DEFAULT_LANGUAGE else False


def translate_builtins() -> None:
    """Call once per run, after the language is set (app.py)."""
    css = stylesheet()
    if css:
        st.html(f"<style>{css}</style>")
