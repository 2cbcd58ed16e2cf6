"""Typing presence: a number may show "typing…" for a random time before each send (Evolution's
`delay`). The send carries the delay, the client waits for it, and the rate still holds.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core import instances
from core.base import ValidationError
from core.instances import min_gap
from core.sending import Dispatcher, Sent, Wait
from tests.fake_evolution import FakeEvolution
from tests.pacing_model import max_in_any_window
from tests.worker_harness import (
    digits,
    fast_settings,
    make_instance,
    make_running_campaign,
    recipient_states,
    recipients,
    run_until_idle,
    send_times,
)

START = datetime(2025, 6, 4, 15, 0, tzinfo=UTC)


@pytest.fixture
def worker(engine: Engine, session: Session) -> Iterator[Dispatcher]:
    # A read timeout shorter than the typing asked for: only the delay added to it saves them.
    dispatcher = Dispatcher(engine, fast_settings(http_read_timeout=0.2), worker_id="w")
    yield dispatcher
    session.rollback()
    dispatcher.stop(timeout=5)


@pytest.mark.parametrize("api_version", ["v2", "v1"])
def test_each_send_carries_a_random_typing_delay_in_the_numbers_range_and_waits_for_it(
    session, account, fake_evolution: FakeEvolution, worker, api_version
):
    instance = make_instance(
        session,
        account,
        fake_evolution,
        rate=6000,
        api_version=api_version,
        typing_min_seconds=0.3,
        typing_max_seconds=0.5,
    )
    campaign = make_running_campaign(session, account, [instance], contacts=3)
    session.commit()

    run_until_idle(worker)

    assert recipient_states(session, campaign.id) == {"sent": 3}
    sends = fake_evolution.sends()
    assert sorted(s.number for s in sends) == sorted(
        digits(r.phone) for r in recipients(session, campaign.id)
    )
    for send in sends:
        delay = send.body["delay"] if api_version == "v2" else send.body["options"]["delay"]
        assert 300 <= delay <= 500 and send.delay_ms == delay
        # The fake held the answer for the delay, as Evolution does (it sends at the end).
        assert send.monotonic - send.arrived_monotonic >= delay / 1000 - 0.01


def test_without_typing_presence_no_delay_is_sent(
    session, account, fake_evolution: FakeEvolution, worker
):
    instance = make_instance(session, account, fake_evolution, rate=6000)
    make_running_campaign(session, account, [instance], contacts=2)
    session.commit()
    run_until_idle(worker)
    assert [("delay" in s.body) for s in fake_evolution.sends()] == [False, False]


class TypingClock:
    """Simulated time in which each send's HTTP call lasts its typing delay: the fake answers at
    once and records the delay asked for, and reading the clock adds the delays of the requests
    it processed since. The lane's claims, its waits and the answers all follow it."""

    def __init__(self, start: datetime, fake: FakeEvolution) -> None:
        self.now = start
        self.fake = fake
        self.seen = 0

    def __call__(self) -> datetime:
        processed = self.fake.requests()
        for request in processed[self.seen :]:
            self.now += timedelta(milliseconds=request.delay_ms)
        self.seen = len(processed)
        return self.now

    def advance_to(self, moment: datetime) -> None:
        self.now = max(self.now, moment)


@pytest.mark.parametrize("rate", [12, 20])
def test_the_60_second_window_holds_at_the_numbers_rate_with_typing_delays(
    engine: Engine, session: Session, account, rate: int
):
    # Delays from nothing to longer than the gap: a send claimed right after a long one would
    # reach WhatsApp together with it; counted at their answers, no 60 s ever holds more than
    # the rate.
    with FakeEvolution(honor_delay=False) as fake:
        instance = make_instance(
            session, account, fake, rate=rate, typing_min_seconds=0.0, typing_max_seconds=9.0
        )
        total = 4 * rate
        make_running_campaign(session, account, [instance], contacts=total)
        session.commit()
        clock = TypingClock(START, fake)
        settings = fast_settings(lease_seconds=10**6)
        worker = Dispatcher(engine, settings, worker_id="w", clock=clock, rng=random.Random(7))
        claims = []
        try:
            worker.maintain()
            for _ in range(total * 10):
                step = worker.process_instance(instance.id, now=clock())
                if isinstance(step, Sent):
                    claims.append(step.claim.claimed_at)
                    if len(claims) == total:
                        break
                elif isinstance(step, Wait):
                    clock.advance_to(step.until)
                else:
                    break
        finally:
            session.rollback()
            worker.stop(timeout=5)
        delays = [r.delay_ms for r in fake.sends()]

    assert len(claims) == total and len(delays) == total
    # One lane: the fake received them in claim order, each went out at the end of its delay.
    went_out = [claim + timedelta(milliseconds=d) for claim, d in zip(claims, delays, strict=True)]
    assert max_in_any_window(went_out) <= rate
    assert send_times(session, instance.id) == went_out  # pacing counted each at its answer
    gaps = [later - earlier for earlier, later in zip(claims, claims[1:], strict=False)]
    assert min(gaps) >= min_gap(rate)  # the gap counts from when each send started
    assert min(delays) >= 0 and max(delays) <= 9000 and len(set(delays)) > total // 2


def test_a_typing_range_is_checked(session, admin, fake_evolution: FakeEvolution):
    base = {
        "name": "shop",
        "base_url": fake_evolution.base_url,
        "instance_name": fake_evolution.add_instance("shop").name,
        "token": "t",
    }
    for wrong, field in (
        ({"typing_min_seconds": 5, "typing_max_seconds": 2}, "typing_min_seconds"),
        ({"typing_max_seconds": 31}, "typing_max_seconds"),
        ({"typing_min_seconds": -1}, "typing_min_seconds"),
        ({"typing_max_seconds": "soon"}, "typing_max_seconds"),
    ):
        with pytest.raises(ValidationError) as raised:
            instances.create_instance(session, admin, {**base, **wrong})
        assert raised.value.field == field
        session.rollback()
    created = instances.create_instance(
        session, admin, {**base, "typing_min_seconds": 1, "typing_max_seconds": 4.5}
    )
    shown = instances.instance_json(created)
    assert (shown["typing_min_seconds"], shown["typing_max_seconds"]) == (1.0, 4.5)
    changed = instances.update_instance(session, admin, created.id, {"typing_min_seconds": 2})
    assert changed.typing_min_seconds == 2.0 and changed.typing_max_seconds == 4.5
    with pytest.raises(ValidationError):
        instances.update_instance(session, admin, created.id, {"typing_max_seconds": 1})
