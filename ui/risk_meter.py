"""The campaign editor's risk meter: core.campaigns.risk_for's points, in the level's colour."""

from __future__ import annotations

import streamlit as st

from core import campaigns
from core.i18n import _, format_number


def _texts() -> dict[str, str]:
    """A point's sentence by its kind; built per call so it is in the reader's language."""
    return {
        "fast_new_number": _(
            "{number} is a new number (day {age}): {per_hour} messages an hour is risky; over 60 "
            "an hour on a new number invites a ban."
        ),
        "warmup_off_new": _(
            "{number} is a new number (day {age}) with warm-up off: turn it on in WhatsApp numbers."
        ),
        "health_paused": _(
            "{number} is paused for its health ({score}/100): nothing goes out now."
        ),
        "health_low": _("{number}'s health is {score}/100: it sends at {rate}/min for now."),
        "days_needed": _(
            "This campaign needs {days} days on a number on day {age} of its life: "
            "its daily allowance spreads it out."
        ),
    }


def show(risk: campaigns.Risk) -> None:
    """One line per point; a low risk is a caption."""
    if risk.level == "ok":
        st.caption(_("Risk: low for these numbers and this audience."))
        return
    texts = _texts()
    lines = [
        texts[item.kind].format(
            **{k: format_number(v) if isinstance(v, int) else v for k, v in item.params.items()}
        )
        for item in risk.items
    ]
    title = _("Risk: high") if risk.level == "risky" else _("Risk: some caution")
    (st.error if risk.level == "risky" else st.warning)(
        title + "\n\n" + "\n".join("- " + line for line in lines), icon="⚠️"
    )
