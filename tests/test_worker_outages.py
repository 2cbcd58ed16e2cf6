"""Outages of the Evolution server: the breaker opens the number's circuit before anyone is burnt,
campaigns pause, and resume by themselves once the worker's check sees the number answer again.

Over real HTTP against the fake server (a proxy's 502/504 pages, Evolution 2.4's licence gate, a
server that refuses connections, an outage in the middle of a campaign), with a real Dispatcher;
what the WhatsApp side received is the proof that everyone got the message exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core import campaigns, instances
from core.base import stored_text, utcnow
from core.models import Account, Campaign, CampaignRecipient, Notification, SenderInstance
from core.people import Actor
from core.sending import Dispatcher, Sent, Wait
from tests.fake_evolution import FakeEvolution, Fault
from tests.worker_harness import (
    digits,
    fast_settings,
    make_instance,
    make_running_campaign,
    recipient_states,
    recipients,
    run_until_idle,
)


class SkewClock:
    """Real time, moved forward on demand: the worker's checks become due without waiting."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def skip(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> SkewClock:
    return SkewClock()


@pytest.fixture
def dispatcher(engine: Engine, session: Session, clock: SkewClock) -> Iterator[Dispatcher]:
    # Retries a few seconds apart: an outage meets different recipients in a row however slow
    # this machine is (a busy one could otherwise retry the first before trying the third).
    settings = fast_settings(retry_backoff_base_seconds=5, retry_backoff_max_seconds=5)
    worker = Dispatcher(engine, settings, worker_id="worker-a", max_threads=4, clock=clock)
    yield worker
    session.rollback()  # the test's reads hold SQLite's write lock
    worker.stop(timeout=5)


@pytest.fixture
def quick_retries(engine: Engine, session: Session, clock: SkewClock) -> Iterator[Dispatcher]:
    """For the tests about one recipient's own retries."""
    worker = Dispatcher(engine, fast_settings(), worker_id="worker-a", max_threads=4, clock=clock)
    yield worker
    session.rollback()
    worker.stop(timeout=5)


def _setup(session: Session, account: Account, fake: FakeEvolution, contacts: int = 6):
    instance = make_instance(session, account, fake, rate=6000)
    campaign = make_running_campaign(session, account, [instance], contacts=contacts)
    session.commit()
    return instance, campaign


def _number(session: Session, instance: SenderInstance) -> SenderInstance:
    row = session.get(SenderInstance, instance.id, populate_existing=True)
    session.commit()
    assert row is not None
    return row


def _campaign(session: Session, campaign: Campaign) -> Campaign:
    row = session.get(Campaign, campaign.id, populate_existing=True)
    session.commit()
    assert row is not None
    return row


def _send(worker: Dispatcher, instance_id: int, sends: int) -> int:
    """Step the instance's lane by hand until `sends` sends were made (or nothing is left)."""
    done = 0
    for _ in range(200):
        step = worker.process_instance(instance_id)
        if isinstance(step, Sent):
            done += 1
            if done == sends:
                break
        elif isinstance(step, Wait):
            time.sleep(max(0.0, (step.until - worker.clock()).total_seconds()))
        else:
            break
    return done


def _kinds(session: Session) -> list[str]:
    kinds = list(session.scalars(select(Notification.kind).order_by(Notification.id)))
    session.commit()
    return kinds


def _check_until_closed(dispatcher: Dispatcher, clock: SkewClock, session, instance) -> int:
    """Run the worker's check job, its backoff skipped, until the circuit closes; how many."""
    for checks in range(1, 20):
        clock.skip(1)
        dispatcher.check_instances()
        if _number(session, instance).circuit == "closed":
            return checks
    raise AssertionError("the circuit never closed")


def _assert_paused_and_nobody_burnt(session, instance, campaign, fake: FakeEvolution) -> None:
    number = _number(session, instance)
    assert number.circuit == "open"
    paused = _campaign(session, campaign)
    assert paused.status == "paused" and paused.pause_cause == "circuit"
    assert paused.paused_instance_ids == [instance.id]
    rows = recipients(session, campaign.id)
    assert {r.status for r in rows} == {"pending"}
    assert [r.attempts for r in rows] == [0] * len(rows)  # no attempt counted against anyone
    assert all(r.next_attempt_at is None for r in rows)
    assert fake.sends() == []


def _assert_everyone_got_it_once(session, campaign, fake: FakeEvolution) -> None:
    rows = recipients(session, campaign.id)
    assert {r.status for r in rows} == {"sent"}
    assert fake.numbers_received() == sorted(digits(r.phone) for r in rows)
    assert _campaign(session, campaign).status == "completed"


# -- a proxy answering 502 -------------------------------------------------------------------------


def test_a_502_outage_opens_the_circuit_pauses_and_resumes_by_itself_sending_everyone_once(
    session, account, fake_evolution: FakeEvolution, dispatcher, clock
):
    instance, campaign = _setup(session, account, fake_evolution)
    outage = fake_evolution.fail(Fault.PROXY_OUTAGE)  # nginx's HTML page, every route

    run_until_idle(dispatcher)

    _assert_paused_and_nobody_burnt(session, instance, campaign, fake_evolution)
    # Three different recipients in a row (the breaker's threshold), then nothing more.
    assert len(fake_evolution.requests(route="sendText")) == 3
    number = _number(session, instance)
    assert number.circuit_cause == "server"
    assert number.circuit_reason.startswith(
        f"the Evolution server at {fake_evolution.base_url} is not answering (502 Bad Gateway) "
        "since "
    )
    assert number.circuit_reason_text["template"] == stored_text.SERVER_NOT_ANSWERING
    paused = _campaign(session, campaign)
    assert paused.error_message.endswith("It resumes by itself when the number answers again.")
    assert number.circuit_reason in paused.error_message
    assert _kinds(session) == ["instance_down", "campaign_paused"]

    clock.skip(1)
    assert dispatcher.check_instances() == {instance.id: "unreachable"}  # still down
    assert _number(session, instance).circuit == "open"
    assert _campaign(session, campaign).status == "paused"

    outage.clear()
    assert _check_until_closed(dispatcher, clock, session, instance) == 1
    dispatcher.maintain()
    assert _campaign(session, campaign).status == "running"
    run_until_idle(dispatcher)

    _assert_everyone_got_it_once(session, campaign, fake_evolution)
    assert _kinds(session)[-3:] == ["instance_up", "campaign_resumed", "campaign_completed"]


def test_a_504_makes_those_recipients_unknown_yet_still_opens_the_circuit(
    session, account, fake_evolution: FakeEvolution, dispatcher, clock
):
    # A proxy's 504 may come after Evolution sent the message: those few are never resent on
    # their own, but the outage stops there instead of making the whole campaign unknown.
    instance, campaign = _setup(session, account, fake_evolution, contacts=8)
    outage = fake_evolution.fail(Fault.PROXY_OUTAGE, status=504)

    run_until_idle(dispatcher)

    assert _number(session, instance).circuit == "open"
    assert recipient_states(session, campaign.id) == {"unknown": 3, "pending": 5}
    unknown = {r.phone for r in recipients(session, campaign.id) if r.status == "unknown"}

    outage.clear()
    _check_until_closed(dispatcher, clock, session, instance)
    run_until_idle(dispatcher)

    assert recipient_states(session, campaign.id) == {"unknown": 3, "sent": 5}
    received = fake_evolution.numbers_received()
    assert not {digits(phone) for phone in unknown} & set(received)  # not resent
    assert received == sorted(set(received))


# -- Evolution 2.4's licence gate ------------------------------------------------------------------


def test_the_licence_gate_stops_the_number_at_once_and_shows_where_to_activate_it(
    session, account, fake_evolution: FakeEvolution, dispatcher, clock
):
    instance, campaign = _setup(session, account, fake_evolution)
    gate = fake_evolution.fail(Fault.LICENSE_REQUIRED)

    run_until_idle(dispatcher)

    _assert_paused_and_nobody_burnt(session, instance, campaign, fake_evolution)
    assert len(fake_evolution.requests(route="sendText")) == 1  # no streak needed
    number = _number(session, instance)
    register_url = f"{fake_evolution.base_url}/manager/login"
    assert number.circuit_cause == "licence" and number.activation_url == register_url
    assert number.circuit_reason == f"activate this Evolution server (open {register_url})"
    shown = instances.instance_json(number)
    assert shown["activation_url"] == register_url and shown["circuit"] == "open"

    clock.skip(1)
    dispatcher.check_instances()  # still not activated: the check sees the gate too
    number = _number(session, instance)
    assert number.state == "not_activated" and number.circuit == "open"
    assert number.activation_url == register_url

    gate.clear()  # staff activated the server
    _check_until_closed(dispatcher, clock, session, instance)
    run_until_idle(dispatcher)

    _assert_everyone_got_it_once(session, campaign, fake_evolution)
    assert _number(session, instance).activation_url is None


def test_a_check_that_finds_the_server_not_activated_stops_the_number_before_any_send(
    session, account, fake_evolution: FakeEvolution, dispatcher, clock
):
    instance, campaign = _setup(session, account, fake_evolution)
    fake_evolution.fail(Fault.LICENSE_REQUIRED)
    dispatcher.maintain()

    dispatcher.check_instances()

    assert _number(session, instance).circuit_cause == "licence"
    _assert_paused_and_nobody_burnt(session, instance, campaign, fake_evolution)
    assert fake_evolution.requests(route="sendText") == []


# -- a server that refuses connections -------------------------------------------------------------


def test_refused_connections_pause_the_campaign_and_it_resumes_when_the_server_is_back(
    session, account, fake_evolution: FakeEvolution, dispatcher, clock
):
    instance, campaign = _setup(session, account, fake_evolution)
    fake_evolution.go_down()

    run_until_idle(dispatcher)

    _assert_paused_and_nobody_burnt(session, instance, campaign, fake_evolution)
    assert "could not connect to the server" in _number(session, instance).circuit_reason

    fake_evolution.come_back()
    _check_until_closed(dispatcher, clock, session, instance)
    run_until_idle(dispatcher)

    _assert_everyone_got_it_once(session, campaign, fake_evolution)


@pytest.mark.parametrize("outage", ["refused", "proxy"])
def test_an_outage_in_the_middle_of_a_campaign_loses_and_doubles_nobody(
    session, account, fake_evolution: FakeEvolution, dispatcher, clock, outage
):
    instance, campaign = _setup(session, account, fake_evolution, contacts=10)
    if outage == "refused":
        fake_evolution.go_down(after_sends=4)  # the 4th still gets its 201, then refused
    else:
        rule = fake_evolution.fail(Fault.PROXY_OUTAGE, status=503, after_sends=4)

    run_until_idle(dispatcher)

    assert _number(session, instance).circuit == "open"
    assert _campaign(session, campaign).status == "paused"
    assert recipient_states(session, campaign.id) == {"sent": 4, "pending": 6}
    waiting = [r for r in recipients(session, campaign.id) if r.status == "pending"]
    assert [r.attempts for r in waiting] == [0] * 6
    assert len(fake_evolution.sends()) == 4

    if outage == "refused":
        fake_evolution.come_back()
    else:
        rule.clear()
    _check_until_closed(dispatcher, clock, session, instance)
    run_until_idle(dispatcher)

    _assert_everyone_got_it_once(session, campaign, fake_evolution)


# -- one recipient's own trouble -------------------------------------------------------------------


def test_a_recipient_whose_send_answers_500_twice_then_201_is_sent_once(
    session, account, fake_evolution: FakeEvolution, quick_retries
):
    dispatcher = quick_retries
    instance, campaign = _setup(session, account, fake_evolution, contacts=5)
    first = recipients(session, campaign.id)[0]
    fake_evolution.fail(Fault.SERVER_ERROR, numbers=[first.phone], times=2)

    run_until_idle(dispatcher)

    assert _number(session, instance).circuit == "closed"  # the others went through
    rows = {r.id: r for r in recipients(session, campaign.id)}
    assert rows[first.id].status == "sent" and rows[first.id].attempts == 3
    _assert_everyone_got_it_once(session, campaign, fake_evolution)
    assert len(fake_evolution.requests(route="sendText")) == 5 + 2


def test_a_recipient_that_always_fails_while_the_server_works_keeps_its_bounded_retries(
    session, account, fake_evolution: FakeEvolution, quick_retries
):
    dispatcher = quick_retries
    instance, campaign = _setup(session, account, fake_evolution, contacts=4)
    first = recipients(session, campaign.id)[0]
    fake_evolution.fail(Fault.SERVER_ERROR, numbers=[first.phone])

    run_until_idle(dispatcher)

    assert _number(session, instance).circuit == "closed"
    rows = {r.id: r for r in recipients(session, campaign.id)}
    assert rows[first.id].status == "failed" and rows[first.id].error_kind == "retries_exhausted"
    assert recipient_states(session, campaign.id) == {"sent": 3, "failed": 1}


# -- the streak is kept in the database ------------------------------------------------------------


def test_the_streak_survives_a_worker_restart_and_a_lease_moving_on(
    engine, session, account, fake_evolution: FakeEvolution
):
    instance, campaign = _setup(session, account, fake_evolution)
    fake_evolution.fail(Fault.PROXY_OUTAGE)
    slow_retries = fast_settings(retry_backoff_base_seconds=60, retry_backoff_max_seconds=60)
    first = Dispatcher(engine, slow_retries, worker_id="first")
    try:
        first.maintain()
        assert _send(first, instance.id, 2) == 2
    finally:
        first.stop(timeout=5)  # releases its lease
    assert _number(session, instance).failure_streak == 2
    assert _number(session, instance).circuit == "closed"

    second = Dispatcher(engine, slow_retries, worker_id="second")
    try:
        second.maintain()
        assert instance.id in second.owned
        assert _send(second, instance.id, 1) == 1
        assert _send(second, instance.id, 1) == 0  # the circuit is open: nothing more
    finally:
        session.rollback()
        second.stop(timeout=5)

    assert len(fake_evolution.requests(route="sendText")) == 3  # the third opened it
    _assert_paused_and_nobody_burnt(session, instance, campaign, fake_evolution)


def test_an_answer_that_proves_the_server_works_ends_the_streak(
    session, account, fake_evolution: FakeEvolution, dispatcher
):
    instance, campaign = _setup(session, account, fake_evolution, contacts=6)
    rows = recipients(session, campaign.id)
    # Two fail server-side, the next is refused as not on WhatsApp (the server works), ...
    fake_evolution.fail(Fault.SERVER_ERROR, times=2)
    fake_evolution.set_not_on_whatsapp(*(r.phone for r in rows))
    dispatcher.maintain()
    assert _send(dispatcher, instance.id, 2) == 2
    assert _number(session, instance).failure_streak == 2
    assert _send(dispatcher, instance.id, 1) == 1
    assert _number(session, instance).failure_streak == 0
    assert _number(session, instance).circuit == "closed"


# -- who resumes what ------------------------------------------------------------------------------


def test_a_campaign_paused_by_staff_never_resumes_by_itself(
    session, account, fake_evolution: FakeEvolution, dispatcher, clock, admin: Actor
):
    instance = make_instance(session, account, fake_evolution, rate=6000)
    by_staff = make_running_campaign(session, account, [instance], contacts=3, title="staff")
    by_circuit = make_running_campaign(session, account, [instance], contacts=3, title="circuit")
    session.commit()
    campaigns.pause(session, admin, by_staff.id)
    session.commit()
    outage = fake_evolution.fail(Fault.PROXY_OUTAGE)
    run_until_idle(dispatcher)
    assert _campaign(session, by_circuit).pause_cause == "circuit"
    assert _campaign(session, by_staff).pause_cause == "staff"

    outage.clear()
    _check_until_closed(dispatcher, clock, session, instance)
    run_until_idle(dispatcher)

    assert _campaign(session, by_circuit).status == "completed"
    assert _campaign(session, by_staff).status == "paused"
    assert recipient_states(session, by_staff.id) == {"pending": 3}


def test_a_campaign_on_two_numbers_resumes_when_none_that_paused_it_is_down(
    session, account, fake_evolution: FakeEvolution, dispatcher, clock
):
    a = make_instance(session, account, fake_evolution, rate=6000, name="a")
    b = make_instance(session, account, fake_evolution, rate=6000, name="b")
    both = make_running_campaign(session, account, [a, b], contacts=8, title="both")
    only_b = make_running_campaign(session, account, [b], contacts=3, title="b only")
    session.commit()
    a_down = fake_evolution.fail(Fault.PROXY_OUTAGE, instance="a")
    dispatcher.maintain()
    for _ in range(40):  # a breaks while b sends; then b breaks under its other campaign
        if _number(session, a).circuit == "open":
            break
        dispatcher.process_instance(a.id)
    assert _campaign(session, both).paused_instance_ids == [a.id]
    b_down = fake_evolution.fail(Fault.PROXY_OUTAGE, instance="b")
    run_until_idle(dispatcher)
    assert _number(session, b).circuit == "open"
    assert _campaign(session, both).paused_instance_ids == [a.id, b.id]

    a_down.clear()
    _check_until_closed(dispatcher, clock, session, a)
    dispatcher.maintain()
    assert _campaign(session, both).status == "paused"  # b, which paused it too, is still down

    b_down.clear()
    _check_until_closed(dispatcher, clock, session, b)
    run_until_idle(dispatcher)
    assert _campaign(session, both).status == "completed"
    assert _campaign(session, only_b).status == "completed"
    received = fake_evolution.numbers_received()
    assert received == sorted(set(received)) and len(received) == 11
    states = recipient_states(session, both.id) + recipient_states(session, only_b.id)
    assert states == {"sent": 11}


def test_a_broken_key_waits_for_staff_and_re_enabling_the_number_resumes_its_campaigns(
    session, account, fake_evolution: FakeEvolution, dispatcher, clock, admin: Actor
):
    instance, campaign = _setup(session, account, fake_evolution, contacts=3)
    fake_evolution.set_token(instance.instance_name, "rotated-on-the-server")
    run_until_idle(dispatcher)
    assert _number(session, instance).circuit_cause == "config"
    assert _campaign(session, campaign).status == "paused"

    fake_evolution.set_token(instance.instance_name, _token_of(session, instance))  # fixed there
    for _ in range(3):
        clock.skip(1)
        dispatcher.check_instances()
    assert _number(session, instance).circuit == "open"  # a key problem: staff decide
    assert _kinds(session).count("instance_up") == 1  # announced once
    dispatcher.maintain()
    assert _campaign(session, campaign).status == "paused"

    instances.reset_circuit(session, admin, instance.id)
    session.commit()
    run_until_idle(dispatcher)
    _assert_everyone_got_it_once(session, campaign, fake_evolution)


def _token_of(session: Session, instance: SenderInstance) -> str:
    return instances.endpoint_of(_number(session, instance)).token


def test_the_checks_of_an_open_circuit_back_off_from_15_seconds_to_5_minutes(
    engine, session, account, fake_evolution: FakeEvolution
):
    instance, campaign = _setup(session, account, fake_evolution, contacts=3)
    fake_evolution.fail(Fault.PROXY_OUTAGE)
    clock = SkewClock()
    settings = fast_settings(circuit_check_min_seconds=15, circuit_check_max_seconds=300)
    worker = Dispatcher(engine, settings, worker_id="w", clock=clock)
    try:
        run_until_idle(worker)
        opened = _number(session, instance).next_check_at
        asked_before = len(fake_evolution.requests(route="connectionState"))
        waits = []
        for _ in range(7):
            due = _number(session, instance).next_check_at
            clock.offset = due - utcnow() - timedelta(seconds=1)
            assert worker.check_instances() == {}  # not due yet: not asked
            clock.offset = due - utcnow()
            assert worker.check_instances() == {instance.id: "unreachable"}
            waits.append((_number(session, instance).next_check_at - due).total_seconds())
    finally:
        session.rollback()
        worker.stop(timeout=5)
    assert opened is not None
    assert [round(w) for w in waits] == [30, 60, 120, 240, 300, 300, 300]
    assert len(fake_evolution.requests(route="connectionState")) == asked_before + 7


def test_evolution_reporting_the_session_open_again_has_the_worker_check_at_once(
    session, account, fake_evolution: FakeEvolution, dispatcher, clock
):
    instance, campaign = _setup(session, account, fake_evolution, contacts=2)
    fake_evolution.set_state(instance.instance_name, "close")
    run_until_idle(dispatcher)
    assert _number(session, instance).circuit_cause == "session"
    clock.skip(1)
    dispatcher.check_instances()  # still closed: backs off
    assert _number(session, instance).next_check_at > clock()

    fake_evolution.set_state(instance.instance_name, "open")
    with Session(
        session.get_bind()
    ) as other:  # what the webhook receiver does on connection.update
        number = other.get(SenderInstance, instance.id)
        evolution = Actor.system(number.account_id, "evolution")
        instances.record_connection_state(other, evolution, number, "open", clock())
        other.commit()
    assert dispatcher.check_instances() == {instance.id: "open"}  # due at once, no skip

    assert _number(session, instance).circuit == "closed"
    run_until_idle(dispatcher)
    _assert_everyone_got_it_once(session, campaign, fake_evolution)


def test_a_refused_last_recipient_is_not_burnt_by_an_outage(
    session, account, fake_evolution: FakeEvolution, quick_retries, clock
):
    dispatcher = quick_retries
    # Fewer recipients than the breaker's threshold: before a server-side failure burns the
    # last attempt, the server is checked; it does not answer, so the circuit opens instead.
    instance, campaign = _setup(session, account, fake_evolution, contacts=1)
    fake_evolution.go_down()

    run_until_idle(dispatcher)

    [row] = recipients(session, campaign.id)
    assert row.status == "pending" and row.attempts == 0
    assert _number(session, instance).circuit == "open"
    fake_evolution.come_back()
    _check_until_closed(dispatcher, clock, session, instance)
    run_until_idle(dispatcher)
    _assert_everyone_got_it_once(session, campaign, fake_evolution)


def test_recipients_of_another_campaign_in_the_streak_are_given_back_too(
    session, account, fake_evolution: FakeEvolution, dispatcher
):
    instance = make_instance(session, account, fake_evolution, rate=6000)
    one = make_running_campaign(session, account, [instance], contacts=2, title="one")
    two = make_running_campaign(session, account, [instance], contacts=2, title="two")
    session.commit()
    fake_evolution.fail(Fault.PROXY_OUTAGE)

    run_until_idle(dispatcher)

    assert recipient_states(session, one.id) == {"pending": 2}
    assert recipient_states(session, two.id) == {"pending": 2}
    attempts = list(session.scalars(select(CampaignRecipient.attempts)))
    session.commit()
    assert attempts == [0, 0, 0, 0]
