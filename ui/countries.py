"""The country a browser suggests for local phone numbers: its language's ('pt-BR' -> BR), else
its timezone's. Offered where an account has no default country yet."""

from __future__ import annotations

import streamlit as st

from core import people


def browser_country() -> str | None:
    try:
        return people.suggested_country(st.context.locale, st.context.timezone)
    except Exception:  # a client (or AppTest) that sends neither
        return None
