"""Pacing, backoff and send windows: pure functions, clock passed in, no sleeps."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.base import retry_delay
from core.instances import RATE_WINDOW, in_send_window, next_window_open, random_extra_delay
from tests.pacing_model import max_in_any_window, next_send_at

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday
S = timedelta(seconds=1)


def test_the_first_send_may_go_now() -> None:
    assert next_send_at([], 12, T0) == T0


def test_the_gap_after_the_last_send_is_60_over_rate_plus_the_extra_delay() -> None:
    assert next_send_at([T0], 12, T0) == T0 + 5 * S
    assert next_send_at([T0], 12, T0, extra_delay=3 * S) == T0 + 8 * S
    assert next_send_at([T0], 12, T0 + 20 * S) == T0 + 20 * S  # already waited long enough


def test_the_window_rule_holds_even_when_the_gap_is_satisfied() -> None:
    # Three sends bunched 1 s apart (e.g. sent before the rate was lowered to 3/min).
    recent = [T0, T0 + S, T0 + 2 * S]
    assert next_send_at(recent, 3, T0 + 30 * S) == T0 + RATE_WINDOW
    # Order of `recent` does not matter.
    assert next_send_at(list(reversed(recent)), 3, T0 + 30 * S) == T0 + RATE_WINDOW


def test_back_to_back_sends_never_exceed_the_rate_despite_rounding() -> None:
    # 60/11 s rounds down to whole microseconds: eleven gaps fall 5 us short of a minute,
    # so the gap rule alone would let a twelfth send into the first window.
    sends = schedule(11, [0.0] * 40, [0.0] * 40, T0)
    assert max_in_any_window(sends) == 11
    assert sends[11] - sends[0] >= RATE_WINDOW


def test_a_bad_rate_or_negative_delay_is_refused() -> None:
    with pytest.raises(ValueError):
        next_send_at([], 0, T0)
    with pytest.raises(ValueError):
        next_send_at([T0], 5, T0, extra_delay=-S)


def test_max_in_any_window_counts_half_open_windows() -> None:
    assert max_in_any_window([]) == 0
    assert max_in_any_window([T0, T0 + 59 * S, T0 + 60 * S]) == 2
    assert max_in_any_window([T0, T0 + 30 * S, T0 + 59 * S, T0 + 60 * S]) == 3


def schedule(
    rate: int, extra_delays: list[float], waits: list[float], now: datetime
) -> list[datetime]:
    """Drive next_send_at like a worker: it wakes up whenever (waits), may be late, and passes
    the sends of the last minute."""
    sends: list[datetime] = []
    for extra, wait in zip(extra_delays, waits, strict=False):
        now = now + timedelta(seconds=wait)
        recent = [s for s in sends if s > now - RATE_WINDOW]
        at = next_send_at(recent, rate, now, timedelta(seconds=extra))
        assert at >= now
        sends.append(at)
        now = at
    return sends


@settings(max_examples=300, deadline=None)
@given(
    rate=st.integers(min_value=1, max_value=120),
    data=st.data(),
)
def test_no_60_second_window_ever_holds_more_than_rate_sends(
    rate: int, data: st.DataObject
) -> None:
    count = data.draw(st.integers(min_value=1, max_value=3 * rate + 5))
    extra_delays = data.draw(
        st.lists(
            st.one_of(st.just(0.0), st.floats(min_value=0, max_value=30)),
            min_size=count,
            max_size=count,
        )
    )
    waits = data.draw(
        st.lists(st.floats(min_value=0, max_value=20), min_size=count, max_size=count)
    )
    sends = schedule(rate, extra_delays, waits, T0)

    assert max_in_any_window(sends) <= rate
    gap = timedelta(seconds=60 / rate)
    for before, after, extra in zip(sends, sends[1:], extra_delays[1:], strict=False):
        assert after - before >= gap + timedelta(seconds=extra) - timedelta(microseconds=1)


@settings(max_examples=200, deadline=None)
@given(
    rate=st.integers(min_value=1, max_value=60),
    history=st.lists(st.floats(min_value=0, max_value=59.9), max_size=200),
    now_offset=st.floats(min_value=0, max_value=120),
)
def test_a_new_send_never_overfills_the_window_whatever_came_before(
    rate: int, history: list[float], now_offset: float
) -> None:
    """Even a history that broke the rule (a rate just lowered) is not made worse: the window
    ending at the new send holds at most `rate` sends."""
    recent = [T0 + timedelta(seconds=h) for h in history]
    now = T0 + timedelta(seconds=now_offset)
    at = next_send_at(recent, rate, now)
    in_window = [s for s in recent if at - RATE_WINDOW < s <= at]
    assert len(in_window) + 1 <= rate


def test_random_extra_delay_stays_in_range() -> None:
    rng = random.Random(7)
    delays = [random_extra_delay(2, 5, rng) for _ in range(200)]
    assert all(2 * S <= d <= 5 * S for d in delays)
    assert len(set(delays)) > 100
    assert random_extra_delay(0, 0, rng) == timedelta(0)


# -- retry backoff -----------------------------------------------------------------------------


@given(attempt=st.integers(min_value=1, max_value=200), seed=st.integers())
def test_retry_delay_grows_but_stays_bounded(attempt: int, seed: int) -> None:
    delay = retry_delay(attempt, base=30, maximum=900, rng=random.Random(seed))
    cap = min(900, 30 * 2 ** (attempt - 1))
    assert timedelta(seconds=cap / 2) <= delay <= timedelta(seconds=cap)


def test_retry_delay_is_jittered_and_doubles() -> None:
    rng = random.Random(1)
    firsts = {retry_delay(1, 30, 900, rng) for _ in range(50)}
    assert len(firsts) > 40
    low_third = min(retry_delay(3, 30, 900, random.Random(s)) for s in range(50))
    assert low_third >= timedelta(seconds=60)  # attempt 3: cap 120 s, never under half
    with pytest.raises(ValueError):
        retry_delay(0, 30, 900)


# -- send windows ------------------------------------------------------------------------------

SP = "America/Sao_Paulo"  # UTC-3, no DST


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """2026-03-<day> hh:mm in São Paulo, as UTC (2026-03-02 is a Monday)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=ZoneInfo(SP)).astimezone(UTC)


def test_no_window_means_always() -> None:
    assert in_send_window(T0, SP, None, None, None)
    assert next_window_open(T0, SP, None, None, None) == T0


def test_a_daytime_window_in_local_time() -> None:
    start, end = time(9), time(18)
    assert not in_send_window(local(2, 8, 59), SP, start, end, None)
    assert in_send_window(local(2, 9), SP, start, end, None)
    assert in_send_window(local(2, 17, 59), SP, start, end, None)
    assert not in_send_window(local(2, 18), SP, start, end, None)
    assert next_window_open(local(2, 18, 30), SP, start, end, None) == local(3, 9)
    assert next_window_open(local(2, 7), SP, start, end, None) == local(2, 9)


def test_a_window_crossing_midnight_belongs_to_the_day_it_opens() -> None:
    friday_only = [4]
    start, end = time(22), time(2)
    assert in_send_window(local(6, 23), SP, start, end, friday_only)  # Friday 23:00
    assert in_send_window(local(7, 1, 30), SP, start, end, friday_only)  # Saturday 01:30
    assert not in_send_window(local(7, 2), SP, start, end, friday_only)
    assert not in_send_window(local(7, 23), SP, start, end, friday_only)  # Saturday night
    assert not in_send_window(local(6, 1), SP, start, end, friday_only)  # Thursday's night
    assert next_window_open(local(7, 3), SP, start, end, friday_only) == local(13, 22)


def test_weekdays_only() -> None:
    weekdays = [0, 1, 2, 3, 4]
    saturday_noon = local(7, 12)
    assert not in_send_window(saturday_noon, SP, time(9), time(18), weekdays)
    assert next_window_open(saturday_noon, SP, time(9), time(18), weekdays) == local(9, 9)
    # Whole days: no hours given.
    assert not in_send_window(saturday_noon, SP, None, None, weekdays)
    assert next_window_open(saturday_noon, SP, None, None, weekdays) == local(9, 0)


def test_no_allowed_day_never_opens() -> None:
    assert not in_send_window(T0, SP, time(9), time(18), [])
    assert next_window_open(T0, SP, time(9), time(18), []) is None


def test_windows_follow_daylight_saving_time() -> None:
    # New York moves to UTC-4 on 2026-03-08: 09:00 local is 14:00 UTC before, 13:00 UTC after.
    ny = "America/New_York"
    before = datetime(2026, 3, 6, 13, 30, tzinfo=UTC)  # Friday 08:30 EST
    assert next_window_open(before, ny, time(9), time(17), None) == datetime(
        2026, 3, 6, 14, 0, tzinfo=UTC
    )
    after = datetime(2026, 3, 9, 13, 30, tzinfo=UTC)  # Monday 09:30 EDT
    assert in_send_window(after, ny, time(9), time(17), None)
    evening = datetime(2026, 3, 9, 21, 30, tzinfo=UTC)  # 17:30 EDT
    assert not in_send_window(evening, ny, time(9), time(17), None)


@settings(max_examples=200, deadline=None)
@given(
    minutes=st.integers(min_value=0, max_value=14 * 24 * 60),
    start_h=st.integers(min_value=0, max_value=23),
    end_h=st.integers(min_value=0, max_value=23),
    days=st.one_of(st.none(), st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True)),
)
def test_next_window_open_is_inside_the_window_and_nothing_earlier_is(
    minutes: int, start_h: int, end_h: int, days: list[int] | None
) -> None:
    now = T0 + timedelta(minutes=minutes)
    start, end = time(start_h), time(end_h)
    opens = next_window_open(now, SP, start, end, days)
    assert opens is not None and opens >= now
    assert in_send_window(opens, SP, start, end, days)
    # Sample the gap: nothing before `opens` is in the window.
    probe = now
    while probe < opens:
        assert not in_send_window(probe, SP, start, end, days)
        probe += timedelta(minutes=17)
