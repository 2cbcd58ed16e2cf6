"""Experiments: the editor's variants, A/B test and holdout group, and the campaign page's
per-variant funnel, A/B state and "pick this winner" buttons.

Variant A is the editor's message and attachment; B–E add a text and a weight each and use A's
attachment (the API gives each its own). Shares are percent here, fractions in core and the API.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from datetime import tzinfo
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core import campaigns, tracking
from core.base import DomainError
from core.i18n import N_, _, format_number, format_percent, localize_error
from core.people import Actor
from ui import field_errors, message_preview
from ui.session import db

METRICS = {"read": N_("Read rate"), "reply": N_("Reply rate"), "click": N_("Click rate")}
HOW = {  # how the A/B winner was decided (core.campaigns.How)
    "auto": N_("the best rate by more than {points} points"),
    "tie": N_("a tie (within {points} points): the highest weight, then the first, won"),
    "too_little_data": N_(
        "too little data (each version needs {minimum} sent): the highest weight, then the "
        "first, won"
    ),
    "manual": N_("picked by hand by {user}"),
}


def _metric_label(metric: str) -> str:
    return _(METRICS.get(metric, metric))


def load(state: MutableMapping[str, Any], key: str, source: dict[str, Any]) -> None:
    variants = source.get("variants") or []
    state[key + "variants_on"] = bool(variants)
    state[key + "variant_count"] = max(2, len(variants))
    for index in range(campaigns.MAX_VARIANTS):
        found = variants[index] if index < len(variants) else {}
        if index:  # A is the editor's message
            state[f"{key}variant_{index}_message"] = found.get("message", "")
        state[f"{key}variant_{index}_weight"] = int(found.get("weight") or 1)
    test = source.get("ab_test") or {}
    state[key + "ab_on"] = bool(test)
    state[key + "ab_share"] = round(float(test.get("test_share", 0.2)) * 100)
    state[key + "ab_minutes"] = int(test.get("decide_after_minutes", 240))
    state[key + "ab_metric"] = test.get("metric", "read")
    state[key + "holdout"] = round(float(source.get("holdout_share") or 0) * 100)


def inputs(state: MutableMapping[str, Any], key: str, errors: Mapping[str, list[str]]) -> None:
    st.checkbox(
        _("Test several versions of the message (A/B)"),
        key=key + "variants_on",
        help=_(
            "Each recipient gets one version, chosen when the campaign starts and always the "
            "same for them; the weights say how the audience is split."
        ),
    )
    if state.get(key + "variants_on"):
        count = int(
            st.number_input(
                _("Versions"),
                min_value=2,
                max_value=campaigns.MAX_VARIANTS,
                step=1,
                key=key + "variant_count",
            )
        )
        st.number_input(
            _("Weight of version A (the message above)"),
            min_value=1,
            max_value=1000,
            step=1,
            key=f"{key}variant_0_weight",
        )
        for index in range(1, count):
            letter = campaigns.variant_letter(index)
            st.text_area(
                _("Message of version {letter}").format(letter=letter),
                key=f"{key}variant_{index}_message",
                height=120,
            )
            st.number_input(
                _("Weight of version {letter}").format(letter=letter),
                min_value=1,
                max_value=1000,
                step=1,
                key=f"{key}variant_{index}_weight",
            )
        field_errors.show(errors, "variants")
        st.checkbox(
            _("Send to a test share first, then the winner to the rest"),
            key=key + "ab_on",
        )
        if state.get(key + "ab_on"):
            left, middle, right = st.columns(3)
            left.number_input(
                _("Test share (percentage of the audience)"),
                min_value=1,
                max_value=99,
                step=1,
                key=key + "ab_share",
            )
            middle.number_input(
                _("Decide after (minutes)"),
                min_value=1,
                max_value=7 * 24 * 60,
                step=15,
                key=key + "ab_minutes",
                help=_("Counted from the moment the test share has finished sending."),
            )
            right.selectbox(
                _("Winner by"), list(METRICS), format_func=_metric_label, key=key + "ab_metric"
            )
            st.caption(rule_text())
            field_errors.show(errors, "ab_test")
    st.number_input(
        _("Holdout group (percentage of the audience kept unsent, to compare against)"),
        min_value=0,
        max_value=50,
        step=1,
        key=key + "holdout",
    )
    field_errors.show(errors, "holdout_share")


def rule_text() -> str:
    return _(
        "Rule: each version needs at least {minimum} messages sent; the best rate wins by more "
        "than {points} points. A tie, or too little data, goes to the version with the highest "
        "weight, then to the first."
    ).format(minimum=campaigns.MIN_SENT_PER_VARIANT, points=format_number(campaigns.TIE_POINTS))


def values(state: MutableMapping[str, Any], key: str, first: Mapping[str, Any]) -> dict[str, Any]:
    """`first`: the editor's message and multimedia (version A)."""
    holdout = int(state.get(key + "holdout") or 0)
    result: dict[str, Any] = {
        "variants": None,
        "ab_test": None,
        "holdout_share": holdout / 100 if holdout else None,
    }
    if not state.get(key + "variants_on"):
        return result
    count = int(state.get(key + "variant_count") or 2)
    multimedia = first.get("multimedia")
    result["variants"] = [
        {
            "message": first.get("message", "")
            if index == 0
            else state.get(f"{key}variant_{index}_message", ""),
            "multimedia": multimedia,
            "weight": int(state.get(f"{key}variant_{index}_weight") or 1),
        }
        for index in range(count)
    ]
    if state.get(key + "ab_on"):
        result["ab_test"] = {
            "test_share": int(state.get(key + "ab_share") or 20) / 100,
            "decide_after_minutes": int(state.get(key + "ab_minutes") or 240),
            "metric": state.get(key + "ab_metric") or "read",
        }
    return result


def preview(
    state: MutableMapping[str, Any],
    key: str,
    reach: campaigns.AudiencePreview | None,
    variation: campaigns.Variation,
    thumbnail: Any,
    campaign_id: int | None,
) -> None:
    """What recipients will read: one tab per version when there are several."""
    first = state.get(key + "message", "")
    if not state.get(key + "variants_on"):
        message_preview.panel(first, reach, variation, thumbnail, campaign_id)
        return
    count = int(state.get(key + "variant_count") or 2)
    texts = [first] + [state.get(f"{key}variant_{i}_message", "") for i in range(1, count)]
    tabs = st.tabs(
        [_("Version {letter}").format(letter=campaigns.variant_letter(i)) for i in range(count)]
    )
    for index, (tab, text) in enumerate(zip(tabs, texts, strict=True)):
        with tab:
            shown = variation if index == 0 else campaigns.message_variation(text, 3, campaign_id)
            if shown.error is not None:
                st.error(localize_error(shown.error), icon="⚠️")
            message_preview.panel(text, reach, shown, thumbnail, campaign_id)


# -- the campaign page -------------------------------------------------------------------------


def funnel_chart(rows: list[tracking.VariantStats]) -> go.Figure:
    figure = go.Figure()
    stages = [
        ("sent", _("Sent")),
        ("delivered", _("Delivered")),
        ("read", _("Read")),
        ("replied", _("Replied")),
        ("clicked", _("Clicked")),
    ]
    for row in rows:
        name = (
            _("Version {letter}").format(letter=row.label)
            if row.variant is not None
            else _("Holdout")
        )
        figure.add_bar(
            name=name,
            x=[label for _key, label in stages],
            y=[getattr(row, stage) for stage, _label in stages],
        )
    figure.update_layout(
        title=_("Funnel by version"),
        barmode="group",
        height=320,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    figure.update_yaxes(rangemode="tozero", tickformat=",d")
    return figure


def panel(actor: Actor, campaign_id: int, zone: tzinfo) -> None:
    """Each version's funnel, where the A/B test stands, and staff's pick."""
    with db() as session:
        rows = tracking.variant_stats(session, actor, campaign_id)
        state = tracking.ab_state(session, actor, campaign_id)
    if not rows:
        return
    st.subheader(_("Versions"))
    if state is not None:
        _ab_state(actor, campaign_id, state, zone)
    table = [
        {
            _("Version"): row.label or _("Holdout (never sent)"),
            _("Weight"): row.weight if row.variant is not None else "",
            _("Recipients"): row.recipients,
            _("Sent"): row.sent,
            _("Delivered"): row.delivered,
            _("Read"): row.read,
            _("Replied"): row.replied,
            _("Clicked"): row.clicked,
            _("Failed"): row.failed,
            _("Opted out"): row.opted_out,
            _("Read rate"): format_percent(row.rate(row.read)),
            _("Reply rate"): format_percent(row.rate(row.replied)),
            _("Click rate"): format_percent(row.rate(row.clicked)),
        }
        for row in rows
    ]
    st.dataframe(pd.DataFrame(table), hide_index=True, key="variant_table")
    st.plotly_chart(funnel_chart(rows), key="variant_funnel")


def _when(value: Any, zone: tzinfo) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else "—"


def _ab_state(actor: Actor, campaign_id: int, state: tracking.AbState, zone: tzinfo) -> None:
    intro = _(
        "A/B test: {share} of the audience first, winner by {metric}, decided {minutes} minutes "
        "after the test share has finished sending."
    ).format(
        share=format_percent(state.test_share),
        metric=_metric_label(state.metric).lower(),
        minutes=format_number(state.decide_after_minutes),
    )
    st.caption(intro + " " + rule_text())
    if state.waiting:
        st.metric(_("Waiting for the winner"), format_number(state.waiting))
    if state.stage == "not_started":
        st.info(_("The test share is sent first when the campaign starts."))
        return
    if state.stage == "stopped":
        st.info(_("The campaign ended before a winner was decided."))
        return
    if state.stage == "testing":
        st.info(_("Testing: the test share is being sent; the rest waits for the winner."))
    elif state.stage == "waiting":
        st.info(
            _("Waiting: the winner is decided at {when}.").format(when=_when(state.due_at, zone))
        )
    else:
        decision = state.decision or {}
        how = _(HOW.get(decision.get("how", ""), "{points}")).format(
            points=format_number(state.tie_points),
            minimum=state.min_sent_per_variant,
            user=decision.get("by") or "",
        )
        numbers = ", ".join(
            f"{campaigns.variant_letter(n['variant'])} {format_percent(n['rate'] / 100)}"
            for n in decision.get("numbers", [])
            if n.get("rate") is not None
        )
        st.success(
            _("Decided on {when}: version {letter} won ({how}). {metric}: {numbers}").format(
                when=_when(state.decided_at, zone),
                letter=campaigns.variant_letter(state.winner or 0),
                how=how,
                metric=_metric_label(decision.get("metric", state.metric)),
                numbers=numbers or "—",
            )
        )
        return
    if not actor.can("campaigns.trigger"):
        return
    with db() as session:
        count = len(campaigns.get(session, actor, campaign_id).variants or [])
    columns = st.columns(count + 2)
    for index in range(count):
        letter = campaigns.variant_letter(index)
        if columns[index].button(
            _("Pick {letter} as the winner").format(letter=letter), key=f"pick_winner_{index}"
        ):
            try:
                with db() as session:
                    campaigns.pick_winner(session, actor, campaign_id, index)
            except DomainError as error:
                st.error(localize_error(error))
            else:
                st.rerun()
