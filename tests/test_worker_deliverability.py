"""Long pauses every N sends and the warm-up ladder — the worker with an injected clock, over
real HTTP against the fake Evolution server, across restarts and campaigns."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.instances import WARMUP_PRESETS, today_allowance
from core.models import SenderInstance
from core.sending import Dispatcher, Sent, Wait
from core.sending._claims import WARMUP_REACHED
from tests.pacing_model import max_in_any_window
from tests.worker_harness import (
    fast_settings,
    make_instance,
    make_running_campaign,
    recipient_states,
    send_times,
)

# Wednesday 2025-06-04 09:00 in São Paulo (UTC-3), the account's timezone.
MORNING_SP = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)
SP = ZoneInfo("America/Sao_Paulo")


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def worker_for(engine: Engine, clock: Clock, name: str, rng: random.Random) -> Dispatcher:
    worker = Dispatcher(
        engine, fast_settings(lease_seconds=10**6), worker_id=name, clock=clock, rng=rng
    )
    worker.maintain()
    return worker


def drive(worker: Dispatcher, clock: Clock, instance_id: int, sends: int) -> list[Sent]:
    """Run the lane by hand, jumping to each Wait's moment, until `sends` were made or the
    instance waits for the warm-up allowance."""
    done: list[Sent] = []
    for _ in range(sends * 10):
        step = worker.process_instance(instance_id, now=clock.now)
        if isinstance(step, Sent):
            done.append(step)
            clock.now += timedelta(milliseconds=300)  # the answer's latency
            if len(done) == sends:
                break
        elif isinstance(step, Wait):
            if step.reason == WARMUP_REACHED:
                break
            clock.now = max(clock.now, step.until)
        else:
            break
    return done


@pytest.fixture
def rng() -> random.Random:
    return random.Random(99)


def test_a_long_pause_comes_after_every_n_sends_even_across_a_restart(
    engine: Engine, session: Session, account, fake_evolution, rng
):
    instance = make_instance(
        session,
        account,
        fake_evolution,
        rate=30,
        long_pause_every=5,
        long_pause_min_minutes=2,
        long_pause_max_minutes=4,
    )
    campaign = make_running_campaign(session, account, [instance], contacts=23)
    session.commit()
    clock = Clock(MORNING_SP)
    first = worker_for(engine, clock, "first", rng)
    sent = drive(first, clock, instance.id, 7)
    first.stop(timeout=5)  # a restart in the middle of a run of five
    second = worker_for(engine, clock, "second", rng)
    sent += drive(second, clock, instance.id, 16)
    second.stop(timeout=5)

    assert len(sent) == 23 and recipient_states(session, campaign.id)["sent"] == 23
    claims = [s.claim.claimed_at for s in sent]
    gaps = [(b - a).total_seconds() for a, b in zip(claims, claims[1:], strict=False)]
    long = [i + 1 for i, gap in enumerate(gaps) if gap >= 120]  # sends after which it paused
    assert long == [5, 10, 15, 20]
    assert all(2 * 60 <= gaps[n - 1] <= 4 * 60 + 2 for n in long)
    assert len({round(gaps[n - 1]) for n in long}) > 1  # random
    assert all(gap < 120 for i, gap in enumerate(gaps) if i + 1 not in long)
    assert min(gaps) >= 2.0  # the gap of 30/min still holds between the others
    assert max_in_any_window(send_times(session, instance.id)) <= 30
    assert len(fake_evolution.sends()) == 23


def local_days(times: list[datetime]) -> Counter[date]:
    return Counter(t.astimezone(SP).date() for t in times)


def test_a_new_number_never_exceeds_its_ladder_across_restarts_and_two_campaigns(
    engine: Engine, session: Session, account, fake_evolution, rng
):
    ladder = [3, 5, 8]
    instance = make_instance(session, account, fake_evolution, rate=60, warmup=ladder)
    one = make_running_campaign(session, account, [instance], contacts=15, title="one")
    two = make_running_campaign(session, account, [instance], contacts=15, title="two")
    session.commit()
    clock = Clock(MORNING_SP)
    for day, allowance in enumerate(ladder):
        # Each day: a worker sends until the allowance stops it, restarts, and tries again.
        for attempt in ("morning", "afternoon"):
            worker = worker_for(engine, clock, f"w{day}{attempt}", rng)
            drive(worker, clock, instance.id, 30)
            step = worker.process_instance(instance.id, now=clock.now)
            worker.stop(timeout=5)
            assert isinstance(step, Wait) and step.reason == WARMUP_REACHED
            local_midnight = datetime.combine(
                clock.now.astimezone(SP).date() + timedelta(days=1), datetime.min.time(), SP
            )
            assert step.until == local_midnight.astimezone(UTC)
            clock.now += timedelta(hours=3)
        session.expire_all()
        row = session.get(SenderInstance, instance.id)
        shown = today_allowance(session, row, clock.now)
        session.commit()
        assert (shown.warmup, shown.sent_today, shown.left) == (allowance, allowance, 0)
        assert shown.age_days == day + 1
        clock.now = step.until + timedelta(hours=9)  # the next morning
    # Past the ladder the number is free: the rest go out on day 4.
    worker = worker_for(engine, clock, "free", rng)
    rest = drive(worker, clock, instance.id, 30)
    worker.stop(timeout=5)
    assert len(rest) == 30 - sum(ladder)

    per_day = local_days(send_times(session, instance.id))
    assert [per_day[d] for d in sorted(per_day)] == [3, 5, 8, 14]
    states = recipient_states(session, one.id) + recipient_states(session, two.id)
    assert states == {"sent": 30}
    assert len(fake_evolution.sends()) == 30


def test_the_age_counts_from_number_since_and_the_daily_cap_stays_lower(
    engine: Engine, session: Session, account, fake_evolution, rng
):
    # In use since two days before: today is day 3 of new_number's ladder.
    since = MORNING_SP.astimezone(SP).date() - timedelta(days=2)
    instance = make_instance(
        session,
        account,
        fake_evolution,
        rate=60,
        warmup="new_number",
        number_since=since,
    )
    make_running_campaign(session, account, [instance], contacts=60)
    session.commit()
    allowed = WARMUP_PRESETS["new_number"][2]
    clock = Clock(MORNING_SP)
    worker = worker_for(engine, clock, "w", rng)
    assert len(drive(worker, clock, instance.id, 60)) == allowed
    worker.stop(timeout=5)
    # A daily cap below the allowance wins, and says so.
    session.expire_all()
    row = session.get(SenderInstance, instance.id)
    row.daily_cap = allowed - 10
    session.commit()
    worker = worker_for(engine, clock, "w2", rng)
    step = worker.process_instance(instance.id, now=clock.now)
    worker.stop(timeout=5)
    assert isinstance(step, Wait) and step.reason == "daily cap reached"
    assert len(send_times(session, instance.id)) == allowed
