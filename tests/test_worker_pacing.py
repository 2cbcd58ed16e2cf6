"""Pacing per instance, send windows and daily caps — with an injected clock, over real HTTP."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.messaging import Outcome, SendResult
from core.models import SenderInstance
from core.sending import Claim, Dispatcher, Sent, Wait, apply_outcome, claim_next
from tests.pacing_model import max_in_any_window
from tests.worker_harness import (
    fast_settings,
    make_instance,
    make_running_campaign,
    recipient_states,
    send_times,
)

# Wednesday 2025-06-04 12:00 in São Paulo (UTC-3), the account's timezone.
NOON_SP = datetime(2025, 6, 4, 15, 0, tzinfo=UTC)


class FakeClock:
    """Simulated time: every reading moves it a little (the cost of work), `advance` jumps."""

    def __init__(self, start: datetime, rng: random.Random, step: float = 0.0) -> None:
        self.now = start
        self.rng = rng
        self.step = step

    def __call__(self) -> datetime:
        if self.step:
            self.now += timedelta(seconds=self.rng.uniform(0, self.step))
        return self.now

    def advance_to(self, moment: datetime) -> None:
        self.now = max(self.now, moment)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)


def _drive(
    worker: Dispatcher, clock: FakeClock, instance_id: int, rng, sends: int, late: float = 0.5
) -> int:
    """Run the instance's lane by hand: on Wait, jump to the moment (plus a random lateness)."""
    done = 0
    for _ in range(sends * 10):
        step = worker.process_instance(instance_id, now=clock.now)
        if isinstance(step, Sent):
            done += 1
            if done == sends:
                break
        elif isinstance(step, Wait):
            clock.advance_to(step.until + timedelta(seconds=rng.uniform(0, late)))
            step_cost, clock.step = clock.step, 0.0
            worker.maintain()  # the periodic job: heartbeat, lease renewal
            clock.step = step_cost
        else:
            break
    return done


@pytest.mark.parametrize("rate,extra", [(12, 3.0), (20, 0.0), (1, 10.0), (60, 1.0)])
def test_no_60_second_window_exceeds_the_rate_with_random_extra_delays(
    engine: Engine, session: Session, account, fake_evolution, rng, rate, extra
):
    instance = make_instance(
        session, account, fake_evolution, rate=rate, extra_delay_max_seconds=extra
    )
    make_running_campaign(session, account, [instance], contacts=3 * rate + 5)
    session.commit()
    # Each clock reading costs up to 1.5 s: answers come back after a random latency, and the
    # lane wakes exactly on time. Windows are counted at the answers (the latest moment the
    # server can have sent each message), so the server side never sees more than the rate.
    clock = FakeClock(NOON_SP, rng, step=1.5)
    worker = Dispatcher(engine, fast_settings(lease_seconds=10**6), worker_id="w", clock=clock)
    try:
        worker.maintain()
        assert _drive(worker, clock, instance.id, rng, 3 * rate + 5, late=0) == 3 * rate + 5
    finally:
        worker.stop(timeout=5)

    times = send_times(session, instance.id)
    assert len(times) == 3 * rate + 5
    assert max_in_any_window(times) <= rate
    assert len(fake_evolution.sends()) == 3 * rate + 5


def test_gaps_follow_the_rate_plus_the_random_extra_delay(
    engine: Engine, session: Session, account, fake_evolution, rng
):
    instance = make_instance(session, account, fake_evolution, rate=12, extra_delay_max_seconds=2.0)
    campaign = make_running_campaign(session, account, [instance], contacts=30)
    session.commit()
    clock = FakeClock(NOON_SP, rng)
    worker = Dispatcher(engine, fast_settings(lease_seconds=10**6), worker_id="w", clock=clock)
    claims: list[datetime] = []
    try:
        worker.maintain()
        for _ in range(300):
            step = worker.process_instance(instance.id, now=clock())
            if isinstance(step, Sent):
                claims.append(step.claim.claimed_at)
            elif isinstance(step, Wait):
                clock.advance_to(step.until)
            else:
                break
    finally:
        worker.stop(timeout=5)
    assert recipient_states(session, campaign.id)["sent"] == 30
    gaps = [(b - a).total_seconds() for a, b in zip(claims, claims[1:], strict=False)]
    assert min(gaps) >= 5.0
    assert max(gaps) <= 7.0 + 1e-6
    assert len({round(g, 3) for g in gaps}) > 5  # the extra delay is random


def test_a_restarted_worker_does_not_burst(engine, session, account, fake_evolution, rng):
    instance = make_instance(session, account, fake_evolution, rate=12)
    make_running_campaign(session, account, [instance], contacts=40)
    session.commit()
    clock = FakeClock(NOON_SP, rng)
    first = Dispatcher(engine, fast_settings(lease_seconds=30), worker_id="first", clock=clock)
    first.maintain()
    assert _drive(first, clock, instance.id, rng, 12) == 12
    # It dies without a word (no stop(), the lease stays); a new worker waits for the lease...
    clock.advance_to(clock.now + timedelta(seconds=31))
    second = Dispatcher(engine, fast_settings(lease_seconds=30), worker_id="second", clock=clock)
    try:
        second.maintain()
        assert instance.id in second.owned
        assert _drive(second, clock, instance.id, rng, 20) == 20
    finally:
        second.stop(timeout=5)
        first.lanes.stop(timeout=None)  # its threads end; its lease is never released
    assert max_in_any_window(send_times(session, instance.id)) <= 12


def test_pacing_is_per_instance_across_campaigns(engine, session, account, fake_evolution, rng):
    instance = make_instance(session, account, fake_evolution, rate=6)
    one = make_running_campaign(session, account, [instance], contacts=6, title="one")
    two = make_running_campaign(session, account, [instance], contacts=6, title="two")
    session.commit()
    clock = FakeClock(NOON_SP, rng, step=0.3)
    worker = Dispatcher(engine, fast_settings(lease_seconds=10**6), worker_id="w", clock=clock)
    try:
        worker.maintain()
        assert _drive(worker, clock, instance.id, rng, 12) == 12
    finally:
        worker.stop(timeout=5)
    assert (
        recipient_states(session, one.id)["sent"] + recipient_states(session, two.id)["sent"] == 12
    )
    assert max_in_any_window(send_times(session, instance.id)) <= 6


def test_rotation_spreads_a_campaign_over_its_instances(
    engine, session, account, fake_evolution, rng
):
    a = make_instance(session, account, fake_evolution, rate=6)
    b = make_instance(session, account, fake_evolution, rate=6)
    campaign = make_running_campaign(session, account, [a, b], contacts=12)
    session.commit()
    clock = FakeClock(NOON_SP, rng)
    worker = Dispatcher(engine, fast_settings(lease_seconds=10**6), worker_id="w", clock=clock)
    try:
        worker.maintain()
        for _ in range(200):
            steps = [worker.process_instance(i, now=clock()) for i in (a.id, b.id)]
            waits = [s.until for s in steps if isinstance(s, Wait)]
            if not any(isinstance(s, Sent) for s in steps):
                if not waits:
                    break
                clock.advance_to(min(waits))
    finally:
        worker.stop(timeout=5)
    assert recipient_states(session, campaign.id) == {"sent": 12}
    assert len(fake_evolution.sends(a.instance_name)) == 6
    assert len(fake_evolution.sends(b.instance_name)) == 6
    # Twice the throughput of one instance: 12 sends in about one minute, not two.
    times = sorted(send_times(session, a.id) + send_times(session, b.id))
    assert (times[-1] - times[0]) < timedelta(seconds=60)


# -- send windows and daily caps ----------------------------------------------------------


def _claim(engine: Engine, instance_id: int, now: datetime):
    with Session(engine, expire_on_commit=False) as session:
        step = claim_next(session, instance_id, "w", now)
        if isinstance(step, Claim):
            result = SendResult(Outcome.SENT, "3EB0X", 201)
            apply_outcome(session, step, result, now, max_attempts=3, backoff_base=1, backoff_max=2)
        session.commit()
    return step


def _leased(session: Session, instance: SenderInstance) -> None:
    instance.lease_owner = "w"
    instance.lease_expires_at = datetime(2100, 1, 1, tzinfo=UTC)
    session.commit()


def test_nothing_is_sent_outside_the_instance_window(engine, session, account, fake_evolution):
    instance = make_instance(
        session, account, fake_evolution, rate=60, window_start=time(9), window_end=time(18)
    )
    campaign = make_running_campaign(session, account, [instance], contacts=2)
    _leased(session, instance)
    evening = datetime(2025, 6, 4, 23, 0, tzinfo=UTC)  # 20:00 in São Paulo
    step = _claim(engine, instance.id, evening)
    assert isinstance(step, Wait)
    assert step.until <= datetime(2025, 6, 5, 12, 0, tzinfo=UTC)  # 09:00 next day, local
    assert recipient_states(session, campaign.id) == {"pending": 2}
    next_morning = datetime(2025, 6, 5, 12, 0, tzinfo=UTC)
    assert isinstance(_claim(engine, instance.id, next_morning), Claim)


def test_the_campaign_window_overrides_the_instance_window(
    engine, session, account, fake_evolution
):
    instance = make_instance(
        session, account, fake_evolution, rate=60, window_start=time(9), window_end=time(18)
    )
    campaign = make_running_campaign(
        session, account, [instance], contacts=1, window_start=time(19), window_end=time(22)
    )
    _leased(session, instance)
    noon = NOON_SP
    evening = datetime(2025, 6, 4, 23, 0, tzinfo=UTC)  # 20:00 local
    assert isinstance(_claim(engine, instance.id, noon), Wait)
    assert isinstance(_claim(engine, instance.id, evening), Claim)
    assert recipient_states(session, campaign.id) == {"sent": 1}


def test_window_days_skip_the_weekend(engine, session, account, fake_evolution):
    instance = make_instance(session, account, fake_evolution, rate=60, window_days=[0, 1, 2, 3, 4])
    make_running_campaign(session, account, [instance], contacts=1)
    _leased(session, instance)
    saturday_noon = datetime(2025, 6, 7, 15, 0, tzinfo=UTC)
    step = _claim(engine, instance.id, saturday_noon)
    assert isinstance(step, Wait)
    assert isinstance(_claim(engine, instance.id, datetime(2025, 6, 9, 3, 1, tzinfo=UTC)), Claim)


def test_daily_cap_waits_for_the_next_local_day(engine, session, account, fake_evolution):
    instance = make_instance(session, account, fake_evolution, rate=60, daily_cap=3)
    campaign = make_running_campaign(session, account, [instance], contacts=5)
    _leased(session, instance)
    now = NOON_SP
    for _ in range(3):
        assert isinstance(_claim(engine, instance.id, now), Claim)
        now += timedelta(seconds=2)
    step = _claim(engine, instance.id, now)
    assert isinstance(step, Wait) and step.reason == "daily cap reached"
    assert step.until == datetime(2025, 6, 5, 3, 0, tzinfo=UTC)  # local midnight
    assert recipient_states(session, campaign.id) == {"sent": 3, "pending": 2}
    assert isinstance(_claim(engine, instance.id, step.until), Claim)
