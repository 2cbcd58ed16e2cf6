"""The deliverability rules as pure functions: long pauses, the warm-up ladder and its
validation, and what both do to a campaign's estimate."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from core.base import ValidationError
from core.campaigns import Pace, estimate
from core.instances import WARMUP_PRESETS, allowance_on, ladder_of, long_pause
from core.instances._warmup import validate_warmup

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_long_pause_every_n_and_the_count_kept():
    rng = random.Random(1)
    count, pauses = 0, []
    for n in range(1, 31):
        pause, count = long_pause(count + 1, 10, 1.0, 3.0, rng)
        if pause:
            pauses.append((n, pause))
    assert [n for n, _ in pauses] == [10, 20, 30]
    assert all(timedelta(minutes=1) <= p <= timedelta(minutes=3) for _, p in pauses)
    assert long_pause(5, None, 1, 3) == (timedelta(0), 0)  # off
    assert long_pause(5, 3, 0, 0) == (timedelta(0), 0)  # no length: off


def test_the_ladder_does_not_climb_while_health_is_poor():
    ladder = (20, 50, 100)
    start = date(2026, 3, 1)
    day3 = start + timedelta(days=2)
    assert allowance_on(ladder, start, day3, health_score=90) == 100
    assert allowance_on(ladder, start, day3, health_score=70) == 50  # a step back
    assert allowance_on(ladder, start, start, health_score=10) == 20  # never below day 1
    assert allowance_on(ladder, start, start + timedelta(days=3), health_score=70) == 100
    assert allowance_on(ladder, start, start + timedelta(days=4), health_score=70) is None


def test_the_ladder_by_age_and_its_presets():
    ladder = ladder_of("new_number")
    assert ladder == WARMUP_PRESETS["new_number"] and ladder[0] == 20
    start = date(2026, 3, 1)
    assert allowance_on(ladder, start, start) == 20
    assert allowance_on(ladder, start, start + timedelta(days=4)) == ladder[4]
    assert allowance_on(ladder, start, start + timedelta(days=len(ladder))) is None  # warmed
    assert allowance_on(ladder, None, start) == 20  # never sent: today is day 1
    assert ladder_of(None) == ladder_of("off") == ()
    assert ladder_of([5, 10]) == (5, 10)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("off", None), (None, None), ("established", "established"), ([20, 50.0], [20, 50])],
)
def test_warmup_values_accepted(value, expected):
    assert validate_warmup(value) == expected


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("fast", "must be off, new_number, established"),
        ([], "must list 1 to"),
        ([20, "x"], "whole number"),
        ([20, 0], "between 1 and"),
        ([True], "whole number"),
    ],
)
def test_warmup_values_refused(value, needle):
    with pytest.raises(ValidationError) as raised:
        validate_warmup(value)
    assert needle in str(raised.value) and raised.value.field == "warmup"


def test_the_estimate_counts_long_pauses():
    plain = estimate(600, [Pace(60)], NOW, "UTC")
    # A 5-minute pause every 60 sends adds 5 s per send: twice as long at 60/min.
    paused = estimate(600, [Pace(60, long_pause_seconds_per_send=5.0)], NOW, "UTC")
    assert plain.duration == timedelta(minutes=10)
    assert paused.duration == timedelta(minutes=60)


def test_the_estimate_follows_the_warm_up_ladder():
    # 60/min could send 175 in three hours; the ladder allows 20, 50, then 105 on day 3.
    result = estimate(175, [Pace(60, warmup=(20, 50, 200))], NOW, "UTC")
    assert result.ends_at is not None
    assert result.ends_at.date() == NOW.date() + timedelta(days=2)
    assert result.ends_at - datetime(2026, 3, 4, tzinfo=UTC) < timedelta(minutes=2)
    # A number already on day 3 sends them today.
    aged = estimate(175, [Pace(60, warmup=(20, 50, 200), age_start=date(2026, 2, 28))], NOW, "UTC")
    assert aged.ends_at is not None and aged.ends_at.date() == NOW.date()
