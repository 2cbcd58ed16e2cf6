"""A contact's custom attributes as people read them: `city: Recife · plan: gold` in a list, a
two-column table (name, value) to edit, rows added and removed in place; never raw JSON."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core.i18n import _


def summary(attributes: dict[str, Any] | None) -> str:
    return " · ".join(f"{key}: {value}" for key, value in (attributes or {}).items())


def editor(attributes: dict[str, Any] | None, key: str) -> pd.DataFrame:
    """The table widget; read its result with `values()` (inside a form: on submit)."""
    rows = [
        {"name": k, "value": "" if v is None else str(v)} for k, v in (attributes or {}).items()
    ]
    return st.data_editor(
        pd.DataFrame(rows, columns=["name", "value"]),
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        key=key,
        column_config={
            "name": st.column_config.TextColumn(_("Attribute"), required=True),
            "value": st.column_config.TextColumn(_("Value")),
        },
    )


def values(table: pd.DataFrame) -> dict[str, str]:
    """The attributes the table says (rows without a name are left out)."""
    result: dict[str, str] = {}
    for row in table.to_dict("records"):
        name = str(row.get("name") or "").strip()
        if name:
            value = row.get("value")
            result[name] = (
                "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
            )
    return result
