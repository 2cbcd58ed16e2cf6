"""Plotly figures for the statistics pages. Every title and axis label is translated."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

import plotly.graph_objects as go
from babel.dates import get_day_names
from plotly.subplots import make_subplots

from core import tracking
from core.base import stored_text
from core.i18n import _, babel_locale
from ui.labels import campaign_status_label, error_kind_label, recipient_status_label

HEIGHT = 320
COLORS = {
    "targeted": "#94a3b8",
    "sent": "#3b82f6",
    "delivered": "#10b981",
    "read": "#059669",
    "failed": "#ef4444",
    "unknown": "#f59e0b",
    "skipped": "#a1a1aa",
}


def _layout(figure: go.Figure, title: str, **kwargs: object) -> go.Figure:
    figure.update_layout(
        title=title, height=HEIGHT, margin={"l": 10, "r": 10, "t": 50, "b": 10}, **kwargs
    )
    return figure


def stage_label(stage: str) -> str:
    return _("Targeted") if stage == "targeted" else recipient_status_label(stage)


def funnel(progress: tracking.Progress) -> go.Figure:
    """Targeted → sent → delivered → read, with failed / unknown / skipped beside it."""
    figure = make_subplots(
        rows=1, cols=2, column_widths=[0.7, 0.3], specs=[[{"type": "funnel"}, {"type": "bar"}]]
    )
    figure.add_trace(
        go.Funnel(
            y=[stage_label(stage) for stage, _count in progress.funnel],
            x=[count for _stage, count in progress.funnel],
            marker={"color": [COLORS[stage] for stage, _count in progress.funnel]},
            textinfo="value+percent initial",
            name=_("Funnel"),
        ),
        row=1,
        col=1,
    )
    aside = ["failed", "unknown", "skipped"]
    figure.add_trace(
        go.Bar(
            x=[recipient_status_label(status) for status in aside],
            y=[progress.counts[status] for status in aside],
            marker={"color": [COLORS[status] for status in aside]},
            text=[progress.counts[status] for status in aside],
            name=_("Not sent"),
        ),
        row=1,
        col=2,
    )
    return _layout(figure, _("Delivery funnel"), showlegend=False)


def sends_over_time(series: tracking.SendSeries, zone: tzinfo) -> go.Figure:
    times = [start.astimezone(zone) for start, _count in series.points]
    figure = go.Figure(
        go.Bar(x=times, y=[count for _start, count in series.points], name=_("Messages sent"))
    )
    if series.limit_per_bucket and times:
        figure.add_trace(
            go.Scatter(
                x=[times[0], times[-1]],
                y=[series.limit_per_bucket] * 2,
                mode="lines",
                line={"dash": "dash", "color": COLORS["failed"]},
                name=_("Rate limit"),
            )
        )
    minutes = series.bucket_seconds // 60
    title = _("Messages sent per {minutes} min against the rate limit").format(minutes=minutes)
    return _layout(figure, title, xaxis_title=_("Time"), yaxis_title=_("Messages"))


def _failure_label(reason: tracking.FailureReason) -> str:
    """`Not on WhatsApp: 400: number is not on WhatsApp`: the kind in the reader's language, then
    the error as recorded (ours translated; the server's or the transport's words as they are)."""
    kind = (
        error_kind_label(reason.error_kind)
        if reason.error_kind
        else recipient_status_label(reason.status)
    )
    error = stored_text.recipient_error(reason.last_error)
    return f"{kind}: {error}" if error else kind


def failure_reasons(reasons: Sequence[tracking.FailureReason]) -> go.Figure:
    labels = [_failure_label(reason)[:80] for reason in reasons]
    figure = go.Figure(
        go.Bar(
            x=[reason.count for reason in reasons][::-1],
            y=labels[::-1],
            orientation="h",
            marker={"color": COLORS["failed"]},
        )
    )
    return _layout(figure, _("Failures by reason"), xaxis_title=_("Recipients"))


def campaigns_by_status(counts: dict[str, int]) -> go.Figure:
    shown = {status: count for status, count in counts.items() if count}
    figure = go.Figure(
        go.Bar(
            x=[campaign_status_label(s) for s in shown],
            y=list(shown.values()),
            text=list(shown.values()),
        )
    )
    return _layout(figure, _("Campaigns by status"), yaxis_title=_("Campaigns"))


def messages_over_time(days: Sequence[tracking.DayCounts]) -> go.Figure:
    figure = go.Figure()
    for key in ("sent", "failed"):
        figure.add_trace(
            go.Scatter(
                x=[day.day for day in days],
                y=[getattr(day, key) for day in days],
                mode="lines+markers",
                name=recipient_status_label(key),
                line={"color": COLORS[key]},
            )
        )
    return _layout(figure, _("Messages per day"), xaxis_title=_("Day"), yaxis_title=_("Messages"))


def errors_by_type(errors: Sequence[tuple[str, int]]) -> go.Figure:
    figure = go.Figure(
        go.Bar(
            x=[error_kind_label(kind) for kind, _count in errors],
            y=[count for _kind, count in errors],
            marker={"color": COLORS["failed"]},
        )
    )
    return _layout(figure, _("Errors by type"), yaxis_title=_("Recipients"))


def hourly_volume(volume: tracking.SendVolume) -> go.Figure:
    figure = go.Figure(
        go.Bar(
            x=[hour for hour, _count in volume.hourly], y=[count for _hour, count in volume.hourly]
        )
    )
    return _layout(
        figure, _("Messages sent per hour"), xaxis_title=_("Hour"), yaxis_title=_("Messages")
    )


def heatmap(volume: tracking.SendVolume) -> go.Figure:
    names = get_day_names("abbreviated", locale=babel_locale())
    figure = go.Figure(
        go.Heatmap(
            z=volume.heatmap,
            x=[f"{hour:02d}h" for hour in range(24)],
            y=[names[weekday] for weekday in range(7)],
            colorscale="Greens",
            hovertemplate=_("%{y} %{x}: %{z} messages") + "<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed")
    return _layout(figure, _("Messages sent by weekday and hour"))
