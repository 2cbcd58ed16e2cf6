"""The campaign editor's estimate (when it ends), risk meter, and the confirmation of a large send."""

from __future__ import annotations

from datetime import datetime

import streamlit as st

from core import campaigns
from core.base import utcnow
from core.i18n import format_number, ngettext
from core.people import Actor
from ui import risk_meter
from ui.session import db


def panel(
    actor: Actor,
    key: str,
    count: int,
    instance_ids: list[int],
    start_at: datetime,
    timezone: str,
    when: str,
) -> bool:
    """Show the estimate and risk; False while a large send still waits for its confirmation."""
    with db() as session:
        estimate = campaigns.estimate_for(session, actor, count, instance_ids, start_at)
        large = campaigns.needs_confirmation(session, actor, count)
        risk = campaigns.risk_for(session, actor, count, instance_ids, start_at)
    st.info(campaigns.describe_estimate(estimate, timezone, utcnow()))
    risk_meter.show(risk)
    if when == "draft" or not large:
        return True
    return st.checkbox(
        ngettext(
            "I confirm sending this campaign to {n} recipient.",
            "I confirm sending this campaign to {n} recipients.",
            count,
        ).format(n=format_number(count)),
        key=key + "confirm",
    )
