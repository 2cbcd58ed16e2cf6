"""Plotly figures for the statistics pages. Every title, axis label and date is translated.

Three rules keep a chart from misleading: a chart with nothing to show says "No data yet" on a
blank canvas (not axes from -1 to 4, nor a heat-map in solid mid-green); a time axis gets a
sensible span even for one point (Plotly zooms a lone point to milliseconds) and its ticks are
written by Babel in the reader's language (Plotly's own are English); zero is white.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta, tzinfo

import plotly.graph_objects as go
from babel.dates import format_skeleton, get_day_names
from babel.dates import format_time as babel_time

from core import tracking
from core.base import stored_text
from core.i18n import _, babel_locale, format_number, format_percent, ngettext
from ui.labels import campaign_status_label, error_kind_label, recipient_status_label

HEIGHT = 320
MAX_TICKS = 8
COLORS = {
    "targeted": "#94a3b8",
    "sent": "#3b82f6",
    "delivered": "#10b981",
    "read": "#059669",
    "failed": "#ef4444",
    "unknown": "#f59e0b",
    "skipped": "#a1a1aa",
}
ZERO_TO_MANY = [[0.0, "#ffffff"], [0.0001, "#dcfce7"], [1.0, "#15803d"]]  # 0 stays white


def _counts_axis(figure: go.Figure, values: Sequence[int], axis: str = "y") -> None:
    """Whole numbers from zero: a count of 1 drew ticks at 0.2, 0.4..."""
    update = figure.update_yaxes if axis == "y" else figure.update_xaxes
    update(rangemode="tozero", tickformat=",d")
    if max(values, default=0) <= 5:
        update(dtick=1)


def _layout(figure: go.Figure, title: str, **kwargs: object) -> go.Figure:
    kwargs.setdefault("height", HEIGHT)
    figure.update_layout(title=title, margin={"l": 10, "r": 10, "t": 50, "b": 10}, **kwargs)
    return figure


def no_data(title: str) -> go.Figure:
    """A titled blank chart saying there is nothing yet, instead of empty axes."""
    figure = go.Figure()
    figure.add_annotation(
        text=_("No data yet"),
        showarrow=False,
        xref="paper",
        yref="paper",
        x=0.5,
        y=0.5,
        font={"size": 16, "color": "#64748b"},
    )
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return _layout(figure, title)


def is_empty(figure: go.Figure) -> bool:
    """Whether `figure` is a "No data yet" chart (for tests and pages)."""
    return any(a.text == _("No data yet") for a in figure.layout.annotations or ())


def _naive(moment: datetime | date) -> datetime | date:
    # Plotly draws aware datetimes in UTC; local wall time is what the reader expects.
    return moment.replace(tzinfo=None) if isinstance(moment, datetime) else moment


def _spread(values: list, most: int = MAX_TICKS) -> list:  # type: ignore[type-arg]
    if len(values) <= most:
        return values
    step = -(-len(values) // most)
    return values[::step]


def time_label(moment: datetime | date, step: timedelta) -> str:
    """A tick in the reader's language: `Nov 30` / `30 nov` for days, `2:05 PM` / `14:05` for
    times, both for hours over several days."""
    locale = babel_locale()
    if not isinstance(moment, datetime) or step >= timedelta(days=1):
        return format_skeleton("MMMd", moment, locale=locale)
    clock = babel_time(moment, "short", locale=locale)
    return (
        clock
        if step < timedelta(hours=1)
        else f"{format_skeleton('MMMd', moment, locale=locale)} {clock}"
    )


def _time_axis(figure: go.Figure, moments: Sequence[datetime | date], step: timedelta) -> None:
    """Span at least one step either side of the data (a lone point stays a readable bar or
    dot), and Babel-written ticks."""
    points = sorted({_naive(m) for m in moments})
    if not points:
        return
    low, high = points[0], points[-1]
    if isinstance(low, datetime):
        figure.update_xaxes(range=[low - step, high + step])
    else:
        figure.update_xaxes(range=[low - timedelta(days=1), high + timedelta(days=1)])
    ticks = _spread(points)
    figure.update_xaxes(tickvals=ticks, ticktext=[time_label(t, step) for t in ticks])


def stage_label(stage: str) -> str:
    return _("Targeted") if stage == "targeted" else recipient_status_label(stage)


def funnel(progress: tracking.Progress) -> go.Figure:
    """Targeted → sent → delivered → read as horizontal bars, each labelled with its count and
    its share of the targeted; failed / unknown / skipped below them, only those that happened.
    (Plotly's funnel, beside a bar panel, was tiny, its "percent initial" labels overlapped,
    and an all-zero panel showed nothing but rotated labels.)"""
    title = _("Delivery funnel")
    targeted = progress.total
    if not targeted:
        return no_data(title)
    aside = [
        (s, progress.counts[s]) for s in ("failed", "unknown", "skipped") if progress.counts[s]
    ]
    stages = [*progress.funnel, *aside]
    labels = [stage_label(stage) for stage, _count in stages]
    figure = go.Figure(
        go.Bar(
            x=[count for _stage, count in stages],
            y=labels,
            orientation="h",
            marker={"color": [COLORS[stage] for stage, _count in stages]},
            text=[
                f"{format_number(count)} · {format_percent(count / targeted, decimals=0)}"
                for _stage, count in stages
            ],
            # Inside a long bar, beside a short or empty one: never on top of another label.
            textposition=["inside" if count > targeted / 3 else "outside" for _s, count in stages],
            hovertemplate="%{y}: %{text}<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed")
    figure.update_xaxes(range=[0, targeted * 1.05], visible=False)
    return _layout(figure, title, showlegend=False, height=max(HEIGHT, 60 + 40 * len(stages)))


def sends_over_time(series: tracking.SendSeries, zone: tzinfo) -> go.Figure:
    minutes = series.bucket_seconds // 60
    title = _("Messages sent per {minutes} min against the rate limit").format(minutes=minutes)
    points = [(start.astimezone(zone), count) for start, count in series.points if count]
    if not points:
        return no_data(title)
    step = timedelta(seconds=series.bucket_seconds)
    times = [_naive(start) for start, _count in points]
    figure = go.Figure(
        go.Bar(
            x=times,
            y=[count for _start, count in points],
            name=_("Messages sent"),
            width=[step.total_seconds() * 1000 * 0.8] * len(times),  # a bucket wide, in ms
            customdata=[time_label(t, step) for t in times],
            hovertemplate="%{customdata}: %{y}<extra></extra>",
        )
    )
    if series.limit_per_bucket:
        figure.add_trace(
            go.Scatter(
                x=[times[0] - step, times[-1] + step],
                y=[series.limit_per_bucket] * 2,
                mode="lines",
                line={"dash": "dash", "color": COLORS["failed"]},
                name=_("Rate limit"),
                hoverinfo="skip",
            )
        )
    _time_axis(figure, times, step)
    _counts_axis(figure, [count for _start, count in points] + [series.limit_per_bucket or 0])
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
    _counts_axis(figure, [reason.count for reason in reasons], "x")
    return _layout(figure, _("Failures by reason"), xaxis_title=_("Recipients"))


def campaigns_by_status(counts: dict[str, int]) -> go.Figure:
    title = _("Campaigns by status")
    shown = {status: count for status, count in counts.items() if count}
    if not shown:
        return no_data(title)
    figure = go.Figure(
        go.Bar(
            x=[campaign_status_label(s) for s in shown],
            y=list(shown.values()),
            text=list(shown.values()),
        )
    )
    _counts_axis(figure, list(shown.values()))
    return _layout(figure, title, yaxis_title=_("Campaigns"))


def messages_over_time(days: Sequence[tracking.DayCounts]) -> go.Figure:
    title = _("Messages per day")
    if not any(day.sent or day.failed for day in days):
        return no_data(title)
    figure = go.Figure()
    labels = [time_label(day.day, timedelta(days=1)) for day in days]
    for key in ("sent", "failed"):
        figure.add_trace(
            go.Scatter(
                x=[day.day for day in days],
                y=[getattr(day, key) for day in days],
                mode="lines+markers",
                name=recipient_status_label(key),
                line={"color": COLORS[key]},
                customdata=labels,
                hovertemplate="%{customdata}: %{y}<extra>%{fullData.name}</extra>",
            )
        )
    _time_axis(figure, [day.day for day in days], timedelta(days=1))
    _counts_axis(figure, [max(day.sent, day.failed) for day in days])
    return _layout(figure, title, xaxis_title=_("Day"), yaxis_title=_("Messages"))


def errors_by_type(errors: Sequence[tuple[str, int]]) -> go.Figure:
    title = _("Errors by type")
    shown = [(kind, count) for kind, count in errors if count]
    if not shown:
        return no_data(title)
    figure = go.Figure(
        go.Bar(
            x=[error_kind_label(kind) for kind, _count in shown],
            y=[count for _kind, count in shown],
            marker={"color": COLORS["failed"]},
        )
    )
    _counts_axis(figure, [count for _kind, count in shown])
    return _layout(figure, title, yaxis_title=_("Recipients"))


def hourly_volume(volume: tracking.SendVolume) -> go.Figure:
    title = _("Messages sent per hour")
    points = [(_naive(hour), count) for hour, count in volume.hourly if count]
    if not points:
        return no_data(title)
    hour = timedelta(hours=1)
    hours = [start for start, _count in points]
    figure = go.Figure(
        go.Bar(
            x=hours,
            y=[count for _start, count in points],
            width=[hour.total_seconds() * 1000 * 0.8] * len(hours),
            customdata=[time_label(h, hour) for h in hours],
            hovertemplate="%{customdata}: %{y}<extra></extra>",
        )
    )
    _time_axis(figure, hours, hour)
    _counts_axis(figure, [count for _start, count in points])
    return _layout(figure, title, xaxis_title=_("Hour"), yaxis_title=_("Messages"))


def heatmap(volume: tracking.SendVolume) -> go.Figure:
    title = _("Messages sent by weekday and hour")
    most = max((max(row) for row in volume.heatmap), default=0)
    if not most:
        return no_data(title)  # an all-zero map is drawn in one mid colour: it reads as activity
    names = get_day_names("abbreviated", locale=babel_locale())
    figure = go.Figure(
        go.Heatmap(
            z=volume.heatmap,
            x=[f"{hour:02d}h" for hour in range(24)],
            y=[names[weekday] for weekday in range(7)],
            colorscale=ZERO_TO_MANY,
            zmin=0,
            zmax=most,
            hovertemplate=_("%{y} %{x}: %{z} messages") + "<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed")
    return _layout(figure, title)


def _with_quiet_buckets(
    series: tracking.ClickSeries, most: int = 2000
) -> list[tracking.ClickPoint]:
    """The points, with zeros for the hours or days between them that had no clicks: the line
    would otherwise run straight across them as if clicks had gone on."""
    first, last = series.points[0].start, series.points[-1].start
    if series.bucket == "hour":
        count = int((last - first).total_seconds() // 3600) + 1
        starts = [(first.astimezone(UTC) + timedelta(hours=n)).astimezone(series.timezone)
                  for n in range(min(count, most))]  # fmt: skip
    else:
        count = (last.date() - first.date()).days + 1
        starts = [datetime.combine(first.date() + timedelta(days=n), time(), series.timezone)
                  for n in range(min(count, most))]  # fmt: skip
    if count > most:
        return list(series.points)
    known = {_naive(point.start): point for point in series.points}
    return [known.get(_naive(start), tracking.ClickPoint(start, 0, 0)) for start in starts]


def clicks_over_time(series: tracking.ClickSeries) -> go.Figure:
    """People who clicked for the first time (bars), and the clicks whose time is known (line),
    per local hour or day. What is left out is the caption's to say (`clicks_caption`)."""
    title = _("Clicks per hour") if series.bucket == "hour" else _("Clicks per day")
    if not series.points:
        return no_data(title)
    step = series.bucket_step
    points = _with_quiet_buckets(series)
    starts = [_naive(point.start) for point in points]
    labels = [time_label(start, step) for start in starts]
    figure = go.Figure(
        go.Bar(
            x=starts,
            y=[point.people for point in points],
            name=_("People who clicked"),
            marker={"color": COLORS["sent"]},
            width=[step.total_seconds() * 1000 * 0.8] * len(starts),
            customdata=labels,
            hovertemplate="%{customdata}: %{y}<extra>%{fullData.name}</extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=starts,
            y=[point.clicks for point in points],
            mode="lines+markers",
            name=_("Clicks"),
            line={"color": COLORS["read"]},
            customdata=labels,
            hovertemplate="%{customdata}: %{y}<extra>%{fullData.name}</extra>",
        )
    )
    _time_axis(figure, starts, step)
    _counts_axis(figure, [max(point.people, point.clicks) for point in points])
    axis = _("Hour") if series.bucket == "hour" else _("Day")
    return _layout(figure, title, xaxis_title=axis, yaxis_title=_("Clicks"))


def clicks_caption(series: tracking.ClickSeries) -> str:
    """What the clicks chart counts, and the clicks it cannot place in time."""
    text = _(
        "Bars: people who clicked a link for the first time. Line: clicks, each link's first and "
        "last click (only those two times are kept per recipient and link). Link previews are "
        "never counted."
    )
    if series.unplaced:
        text += " " + ngettext(
            "{n} more click, between a link's first and last, is counted in the total but has "
            "no time.",
            "{n} more clicks, between a link's first and last, are counted in the total but have "
            "no time.",
            series.unplaced,
        ).format(n=format_number(series.unplaced))
    return text
