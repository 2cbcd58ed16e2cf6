"""A number's health and warm-up as the numbers page shows them: the score and what took points
off (or gave some back), today's ladder step and why it held, its health over time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import streamlit as st

from core import instances
from core.i18n import N_, _, format_number
from ui import charts
from ui.context import current_timezone, local_time

HEALTH_DAYS = 7  # the chart's span
HEALTH_SIGNALS = {
    "not_on_whatsapp": N_("numbers not on WhatsApp"),
    "send_errors": N_("failed sends"),
    "opt_outs": N_("opt-outs"),
    "low_reads": N_("few reads"),
    "connection_drops": N_("connection drops"),
    "missing_receipts": N_("delivery receipts no longer arriving"),
}
WARMUP_VERDICTS = {
    "held": N_(
        "The ladder held at this step today: the number's health was {score}/100 as the day "
        "turned (it climbs only from {good})."
    ),
    "stepped_back": N_(
        "The ladder stepped back one step today: the number's health was {score}/100 as the "
        "day turned (below {low})."
    ),
}


def health_line(health: dict[str, Any], rate: int) -> None:
    if health.get("score") is None:
        return
    details = health.get("details") or {}
    penalties = details.get("penalties") or {}
    explained = ", ".join(
        _("{signal} −{points}").format(
            signal=_(HEALTH_SIGNALS[signal]) if signal in HEALTH_SIGNALS else signal,
            points=points,
        )
        for signal, points in sorted(penalties.items(), key=lambda item: -item[1])
    )
    if details.get("credit"):
        explained += (", " if explained else "") + _("replies +{points}").format(
            points=details["credit"]
        )
    line = _("Health: {score}/100").format(score=health["score"])
    if explained:
        line += " (" + explained + ")"
    elif not details.get("judged", True):
        line += " " + _("(too few messages in the last day to judge)")
    if health.get("paused"):
        st.error(line + " — " + _("paused for its health; it resumes by itself as it recovers."))
    elif health["effective_rate_per_minute"] < rate:
        st.warning(
            line
            + " — "
            + _("sending slowed to {rate}/min.").format(rate=health["effective_rate_per_minute"])
        )
    else:
        st.write(line)


def warmup_lines(warmup: Any, allowance: dict[str, Any]) -> None:
    """Today's step and allowance, why the ladder held or stepped back, what is left today."""
    if allowance.get("warmup") is not None:
        st.write(
            _(
                "Warm-up: step {step} of {steps} (day {day}), today's allowance {allowance} "
                "messages."
            ).format(
                step=allowance.get("step") or 1,
                steps=allowance.get("steps") or 1,
                day=allowance["age_days"] or 1,
                allowance=format_number(allowance["warmup"]),
            )
        )
    elif warmup != "off":
        st.write(_("Warm-up: done, the ladder is over."))
    judgement = allowance.get("judgement") or {}
    if judgement.get("verdict") in WARMUP_VERDICTS and warmup != "off":
        st.caption(
            _(WARMUP_VERDICTS[judgement["verdict"]]).format(
                score=judgement.get("score"),
                good=instances.HEALTH_FULL_RATE_FROM,
                low=instances.HEALTH_PAUSE_BELOW,
            )
        )
    if allowance and allowance["limit"] is not None:
        text = _("Today: {sent} of {limit} sent, {left} left (resets at {when}).").format(
            sent=format_number(allowance["sent_today"]),
            limit=format_number(allowance["limit"]),
            left=format_number(allowance["left"]),
            when=local_time(datetime.fromisoformat(allowance["resets_at"])),
        )
        (st.warning if allowance["left"] == 0 else st.caption)(text)


def health_chart(name: str, points: Sequence[instances.HealthPoint] | None, key: Any) -> None:
    if not points:
        return
    st.plotly_chart(
        charts.health_over_time(
            {name: points},
            current_timezone(),
            _("Health over the last {days} days").format(days=HEALTH_DAYS),
        ),
        key=f"health-{key}",
    )
