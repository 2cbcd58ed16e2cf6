"""The statistics charts read right (ui.charts on the figure objects): no millisecond axis for
one point, "No data yet" instead of empty axes, no solid-green empty heat-map, a readable funnel
with sensible percentages and no empty Failed/Unknown/Skipped panel, dates in the reader's
language."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core import i18n, tracking
from core.i18n import _catalogs
from ui import charts

ZONE = ZoneInfo("America/Sao_Paulo")


@pytest.fixture
def language():
    # The language is a ContextVar of this thread: put back "none chosen" afterwards, or the
    # page tests that run next in this process would all read English.
    token = _catalogs._current.set(None)

    def use(code: str) -> None:
        i18n.set_language(code)

    yield use
    _catalogs._current.reset(token)


def progress(**counts: int) -> tracking.Progress:
    full = dict.fromkeys(
        ["pending", "sending", "sent", "delivered", "read", "failed", "unknown", "skipped"], 0
    )
    full.update(counts)
    full["total"] = sum(full.values())
    return tracking.Progress(
        counts=full,
        funnel=tracking.funnel_stages(full)
        if hasattr(tracking, "funnel_stages")
        else [
            ("targeted", full["total"]),
            ("sent", full["sent"] + full["delivered"] + full["read"]),
            ("delivered", full["delivered"] + full["read"]),
            ("read", full["read"]),
        ],
        pace_per_minute=0.0,
        rate_per_minute=6,
        eta=None,
    )


def test_one_point_in_time_spans_a_bucket_either_side_not_milliseconds():
    at = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    series = tracking.SendSeries(bucket_seconds=60, points=[(at, 3)], limit_per_bucket=6)
    figure = charts.sends_over_time(series, ZONE)
    low, high = figure.layout.xaxis.range
    span = datetime.fromisoformat(str(high)) - datetime.fromisoformat(str(low))
    assert span == timedelta(minutes=2)
    assert list(figure.layout.xaxis.ticktext) == ["8:59\u202fPM"]  # local time, Babel-written

    days = [tracking.DayCounts(day=date(2026, 11, 30), sent=5, failed=0)]
    figure = charts.messages_over_time(days)
    low, high = (date.fromisoformat(str(v)[:10]) for v in figure.layout.xaxis.range)
    assert (high - low).days == 2
    assert list(figure.layout.xaxis.ticktext) == ["Nov 30"]


def test_chart_dates_are_written_in_the_readers_language(language):
    days = [tracking.DayCounts(day=date(2026, 11, 30), sent=5, failed=1)]
    language("es")
    assert list(charts.messages_over_time(days).layout.xaxis.ticktext) == ["30 nov"]
    language("pt_BR")
    assert list(charts.messages_over_time(days).layout.xaxis.ticktext) == ["30 de nov."]


def test_empty_charts_say_no_data_instead_of_drawing_axes():
    empty_volume = tracking.SendVolume(hourly=[], heatmap=[[0] * 24 for _ in range(7)])
    figures = [
        charts.sends_over_time(tracking.SendSeries(60, [], 6), ZONE),
        charts.messages_over_time([tracking.DayCounts(date(2026, 11, 30), 0, 0)]),
        charts.campaigns_by_status({"draft": 0, "running": 0}),
        charts.errors_by_type([]),
        charts.hourly_volume(empty_volume),
        charts.heatmap(empty_volume),  # not a solid mid-green map
        charts.funnel(progress()),
    ]
    for figure in figures:
        assert charts.is_empty(figure), figure.layout.title.text
        assert not figure.data
        assert figure.layout.xaxis.visible is False and figure.layout.yaxis.visible is False


def test_a_heat_map_starts_white_at_zero():
    grid = [[0] * 24 for _ in range(7)]
    grid[0][9] = 4
    figure = charts.heatmap(tracking.SendVolume(hourly=[], heatmap=grid))
    [trace] = figure.data
    assert (trace.zmin, trace.zmax) == (0, 4)
    assert trace.colorscale[0][1] == "#ffffff"


def test_the_funnel_labels_count_and_share_of_the_targeted():
    figure = charts.funnel(progress(pending=29, sent=30, delivered=21, read=20))
    [bars] = figure.data
    assert list(bars.y) == ["Targeted", "Sent", "Delivered", "Read"]  # no empty failure bars
    assert list(bars.text) == ["100 · 100%", "71 · 71%", "41 · 41%", "20 · 20%"]
    assert all(float(t.split("·")[1].strip(" %")) <= 100 for t in bars.text)

    figure = charts.funnel(progress(sent=8, failed=2))
    assert list(figure.data[0].y) == ["Targeted", "Sent", "Delivered", "Read", "Failed"]


def test_counts_are_whole_numbers_from_zero():
    days = [tracking.DayCounts(day=date(2026, 11, 30), sent=1, failed=0)]
    axis = charts.messages_over_time(days).layout.yaxis
    assert (axis.rangemode, axis.dtick, axis.tickformat) == ("tozero", 1, ",d")  # no 0.2, 0.4


def test_select_all_only_in_english(language):
    from ui.streamlit_texts import select_all, stylesheet

    assert select_all() == 1000 and stylesheet() == ""  # Streamlit's own English stays
    language("pt_BR")
    assert select_all() is False  # its "Select all" entry is English only
    assert 'content: "Escolher um arquivo"' in stylesheet()


def test_the_clicks_line_drops_to_zero_in_quiet_hours_and_days_not_across_them():
    start = datetime(2026, 11, 27, 9, tzinfo=ZONE)
    hourly = tracking.ClickSeries(
        "hour",
        [tracking.ClickPoint(start, 3, 4), tracking.ClickPoint(start + timedelta(hours=3), 1, 2)],
        people=4,
        clicks=6,
        unplaced=0,
        timezone=ZONE,
    )
    bars, line = charts.clicks_over_time(hourly).data
    assert list(bars.y) == [3, 0, 0, 1] and list(line.y) == [4, 0, 0, 2]
    assert [moment.hour for moment in line.x] == [9, 10, 11, 12]
    daily = tracking.ClickSeries(
        "day",
        [
            tracking.ClickPoint(start.replace(hour=0), 5, 5),
            tracking.ClickPoint(start.replace(hour=0) + timedelta(days=2), 1, 1),
        ],  # fmt: skip
        people=6,
        clicks=6,
        unplaced=0,
        timezone=ZONE,
    )
    assert list(charts.clicks_over_time(daily).data[1].y) == [5, 0, 1]
    empty = tracking.ClickSeries("hour", [], 0, 0, 0, ZONE)
    assert charts.is_empty(charts.clicks_over_time(empty))


def test_the_clicks_caption_counts_the_clicks_with_no_time():
    series = tracking.ClickSeries("hour", [], people=1, clicks=5, unplaced=3, timezone=ZONE)
    assert "3 more clicks" in charts.clicks_caption(series)
    assert "more click" not in charts.clicks_caption(
        tracking.ClickSeries("hour", [], people=1, clicks=2, unplaced=0, timezone=ZONE)
    )
