"""The warm-up's kept position: once a local day the number's health moves it on the ladder —
good health climbs a step, poor health holds, a score below the pause threshold steps back —
judged once however many workers or restarts, over real HTTP with an injected clock."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core import instances
from core.instances import _health as rules
from core.instances import next_step, today_allowance
from core.models import SenderInstance
from core.sending import Dispatcher, Sent, Wait
from core.sending._claims import WARMUP_REACHED
from tests.pacing_model import max_in_any_window
from tests.worker_harness import fast_settings, make_instance, make_running_campaign, send_times

MORNING_SP = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)  # 09:00 in São Paulo
SP = ZoneInfo("America/Sao_Paulo")
LADDER = (20, 30, 40, 50)
DAY = date(2025, 6, 4)


def test_good_days_climb_poor_days_hold_and_bad_days_step_back():
    good, poor, bad = rules.WARMUP_ADVANCE_FROM, rules.WARMUP_ADVANCE_FROM - 1, 0
    after = DAY + timedelta(days=1)
    assert next_step(LADDER, 1, DAY, after, good) == (2, "advanced")
    assert next_step(LADDER, 1, DAY, after, None) == (2, "advanced")  # not judged: fine
    assert next_step(LADDER, 1, DAY, after, poor) == (1, "held")
    assert next_step(LADDER, 1, DAY, after, rules.WARMUP_BACK_BELOW) == (1, "held")
    assert next_step(LADDER, 1, DAY, after, rules.WARMUP_BACK_BELOW - 1) == (0, "stepped_back")
    assert next_step(LADDER, 0, DAY, after, bad) == (0, "stepped_back")  # never below day 1
    # Past the end the ladder is over; a bad day brings its last step back.
    assert next_step(LADDER, 4, DAY, after, good) == (4, "advanced")
    assert next_step(LADDER, 4, DAY, after, bad) == (3, "stepped_back")
    # Three days without a worker: two ran on with the age, the last one is judged.
    assert next_step(LADDER, 0, DAY, DAY + timedelta(days=3), poor) == (2, "held")
    assert instances.allowance_at(LADDER, 2) == 40 and instances.allowance_at(LADDER, 4) is None


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def worker_for(engine: Engine, clock: Clock, name: str) -> Dispatcher:
    worker = Dispatcher(
        engine,
        fast_settings(lease_seconds=10**6),
        worker_id=name,
        clock=clock,
        rng=random.Random(7),
    )
    worker.maintain()  # scores the numbers and judges the day that turned
    return worker


def send_until_the_allowance(worker: Dispatcher, clock: Clock, instance_id: int) -> int:
    sent = 0
    for _ in range(500):
        step = worker.process_instance(instance_id, now=clock.now)
        if isinstance(step, Sent):
            sent += 1
            clock.now += timedelta(milliseconds=300)
        elif isinstance(step, Wait) and step.reason != WARMUP_REACHED:
            clock.now = max(clock.now, step.until)
        else:
            break
    return sent


def shown(session: Session, instance_id: int, now: datetime) -> dict:
    session.expire_all()
    row = session.get(SenderInstance, instance_id)
    allowance = today_allowance(session, row, now).json()
    session.commit()
    return allowance


def test_the_ladder_holds_after_a_poor_day_and_climbs_after_a_good_one_across_restarts(
    engine: Engine, session: Session, account, fake_evolution
):
    instance = make_instance(session, account, fake_evolution, rate=60, warmup=list(LADDER))
    # Day 1: one in five not on WhatsApp — health falls to the 60s: slowed, not paused.
    phones = [f"+551197{i:06d}" for i in range(20)]
    fake_evolution.set_not_on_whatsapp(*phones[::5])
    make_running_campaign(session, account, [instance], phones=phones, title="day one")
    make_running_campaign(session, account, [instance], contacts=100, title="clean")
    session.commit()
    clock = Clock(MORNING_SP)
    worker = worker_for(engine, clock, "day1")
    assert send_until_the_allowance(worker, clock, instance.id) == 20
    worker.stop(timeout=5)
    assert shown(session, instance.id, clock.now)["judgement"]["verdict"] == "started"

    # Day 2, a new worker: the poor day holds the first step, and the page says why.
    clock.now = MORNING_SP + timedelta(days=1)
    worker = worker_for(engine, clock, "day2")
    allowance = shown(session, instance.id, clock.now)
    score = allowance["judgement"]["score"]
    assert rules.WARMUP_BACK_BELOW <= score < rules.WARMUP_ADVANCE_FROM
    assert (allowance["step"], allowance["warmup"]) == (1, 20)
    assert allowance["judgement"]["verdict"] == "held"
    assert send_until_the_allowance(worker, clock, instance.id) == 20
    worker.stop(timeout=5)
    # A restart and a second worker the same day judge nothing again.
    for name in ("day2-restart", "day2-other"):
        worker_for(engine, clock, name).stop(timeout=5)
    assert shown(session, instance.id, clock.now)["warmup"] == 20

    # Day 3: the bad sends left the last 24 h, day 2 was clean: one step up.
    clock.now = MORNING_SP + timedelta(days=2, hours=1)
    worker = worker_for(engine, clock, "day3")
    allowance = shown(session, instance.id, clock.now)
    assert (allowance["step"], allowance["warmup"], allowance["judgement"]["verdict"]) == (
        2,
        30,
        "advanced",
    )
    assert send_until_the_allowance(worker, clock, instance.id) == 30
    worker.stop(timeout=5)

    times = send_times(session, instance.id)
    per_day = Counter(t.astimezone(SP).date() for t in times)
    assert [per_day[d] for d in sorted(per_day)] == [20, 20, 30]
    assert max_in_any_window(times) <= 60
    assert len(fake_evolution.sends()) == 70 - 4  # those not on WhatsApp never arrived


def test_a_day_below_the_pause_threshold_steps_back(
    engine: Engine, session: Session, account, fake_evolution
):
    # In use for two days already: day 3's step (40), then a bad day.
    instance = make_instance(
        session,
        account,
        fake_evolution,
        rate=60,
        warmup=list(LADDER),
        number_since=DAY - timedelta(days=2),
    )
    phones = [f"+551196{i:06d}" for i in range(40)]
    fake_evolution.set_not_on_whatsapp(*phones[:20])
    make_running_campaign(session, account, [instance], phones=phones, title="bought list")
    session.commit()
    clock = Clock(MORNING_SP)
    worker = worker_for(engine, clock, "w1")
    assert shown(session, instance.id, clock.now)["warmup"] == 40
    send_until_the_allowance(worker, clock, instance.id)
    worker.stop(timeout=5)
    clock.now = MORNING_SP + timedelta(days=1)
    worker_for(engine, clock, "w2").stop(timeout=5)
    allowance = shown(session, instance.id, clock.now)
    assert allowance["judgement"]["score"] < rules.WARMUP_BACK_BELOW
    assert (allowance["step"], allowance["warmup"], allowance["judgement"]["verdict"]) == (
        2,
        30,
        "stepped_back",
    )


def test_changing_the_ladder_starts_it_again_from_the_age(
    session: Session, account, fake_evolution
):
    from core import people

    instance = make_instance(session, account, fake_evolution, rate=60, warmup=list(LADDER))
    instance.warmup_step, instance.warmup_step_on = 3, DAY
    session.commit()
    actor = people.Actor.system(account.id)
    instances.update_instance(session, actor, instance.id, {"warmup": "new_number"})
    session.commit()
    row = session.get(SenderInstance, instance.id)
    assert row.warmup_step is None and row.warmup_step_on is None


def test_two_workers_judging_the_same_day_move_the_ladder_once(
    engine: Engine, session: Session, account, fake_evolution
):
    instance = make_instance(session, account, fake_evolution, rate=60, warmup=list(LADDER))
    instance.first_sent_at = MORNING_SP - timedelta(days=1)
    instance.warmup_step, instance.warmup_step_on = 0, DAY - timedelta(days=1)
    session.commit()
    # The slower worker read the number before the other judged it (a stale copy), then tries.
    slower = Session(engine, expire_on_commit=False)
    try:
        stale = slower.get(SenderInstance, instance.id)  # held: the session keeps it as read
        slower.commit()
        with Session(engine) as faster:
            assert instances.judge_warmup_days(faster, [instance.id], MORNING_SP) == 1
            faster.commit()
        assert stale.warmup_step_on == DAY - timedelta(days=1)
        assert instances.judge_warmup_days(slower, [instance.id], MORNING_SP) == 0
        slower.commit()
    finally:
        slower.close()
    session.expire_all()
    row = session.get(SenderInstance, instance.id)
    assert (row.warmup_step, row.warmup_step_on) == (1, DAY)
    session.commit()
