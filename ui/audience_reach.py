"""Who the campaign editor's criteria reach: the count, those left out, and a sample of rows."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core import campaigns
from core.base import ValidationError
from core.i18n import _, format_number, localize_error
from core.people import Actor
from ui.session import db


def panel(actor: Actor, criteria: dict[str, Any], sample: int) -> campaigns.AudiencePreview | None:
    """Show the reach (core.campaigns.preview_audience); None when the criteria are not valid."""
    try:
        with db() as session:
            reach = campaigns.preview_audience(session, actor, criteria, sample=sample)
    except ValidationError as error:
        st.info(localize_error(error))
        return None
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
    return reach
