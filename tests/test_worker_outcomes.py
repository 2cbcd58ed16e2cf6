"""Every outcome row of the Evolution contract, over real HTTP against the fake server."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.base import utcnow
from core.models import Account, Campaign, Contact, Notification, SenderInstance
from core.sending import Claim, Dispatcher, NotOwner, Sent, Wait, claim_next
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


@pytest.fixture
def dispatcher(engine: Engine, session: Session) -> Iterator[Dispatcher]:
    worker = Dispatcher(engine, fast_settings(), worker_id="worker-a", max_threads=4)
    yield worker
    session.rollback()  # the test's reads hold SQLite's write lock
    worker.stop(timeout=5)


def _setup(session: Session, account: Account, fake: FakeEvolution, contacts: int = 3, **kw):
    instance = make_instance(session, account, fake, rate=6000)
    campaign = make_running_campaign(session, account, [instance], contacts=contacts, **kw)
    session.commit()
    return instance, campaign


def test_201_marks_sent_and_keeps_key_id(session, account, fake_evolution, dispatcher):
    instance, campaign = _setup(session, account, fake_evolution)
    run_until_idle(dispatcher)

    rows = recipients(session, campaign.id)
    assert {r.status for r in rows} == {"sent"}
    assert all(r.sent_at and r.http_status == 201 for r in rows)
    sent = fake_evolution.sends()
    assert sorted(r.provider_message_id for r in rows) == sorted(s.message_id for s in sent)
    assert fake_evolution.numbers_received() == sorted(digits(r.phone) for r in rows)
    assert all(s.body["text"] == "Hello Ana" for s in sent)  # digits-only number, rendered text
    assert session.get(Campaign, campaign.id, populate_existing=True).status == "completed"


def test_v1_instances_get_v1_bodies(session, account, fake_evolution, dispatcher):
    instance = make_instance(session, account, fake_evolution, rate=6000, api_version="v1")
    campaign = make_running_campaign(session, account, [instance], contacts=2)
    session.commit()
    run_until_idle(dispatcher)
    assert recipient_states(session, campaign.id) == {"sent": 2}
    assert all("textMessage" in s.body for s in fake_evolution.sends())


def test_not_on_whatsapp_fails_the_recipient_and_flags_the_contact(
    session, account, fake_evolution, dispatcher
):
    instance, campaign = _setup(session, account, fake_evolution)
    first = recipients(session, campaign.id)[0]
    fake_evolution.set_not_on_whatsapp(first.phone)
    run_until_idle(dispatcher)

    rows = {r.id: r for r in recipients(session, campaign.id)}
    assert rows[first.id].status == "failed" and rows[first.id].error_kind == "not_on_whatsapp"
    assert (
        session.get(Contact, first.contact_id, populate_existing=True).whatsapp_status
        == "not_on_whatsapp"
    )
    assert recipient_states(session, campaign.id) == {"sent": 2, "failed": 1}


def test_other_4xx_fails_without_retry(session, account, fake_evolution, dispatcher):
    instance, campaign = _setup(session, account, fake_evolution, contacts=1)
    fake_evolution.fail(Fault.STATUS, status=400, body={"status": 400, "error": "Bad Request",
                                                        "response": {"message": [["bad"]]}})  # fmt: skip
    run_until_idle(dispatcher)
    [row] = recipients(session, campaign.id)
    assert row.status == "failed" and row.error_kind == "rejected" and row.attempts == 1
    assert len(fake_evolution.requests(route="sendText")) == 1


@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR, Fault.TOO_MANY_REQUESTS])
def test_retryable_errors_are_retried_then_sent(
    session, account, fake_evolution, dispatcher, fault
):
    instance, campaign = _setup(session, account, fake_evolution, contacts=1)
    fake_evolution.fail(fault, times=2)
    run_until_idle(dispatcher)
    [row] = recipients(session, campaign.id)
    assert row.status == "sent" and row.attempts == 3
    assert fake_evolution.numbers_received() == [digits(row.phone)]


def test_connection_refused_is_retried_and_never_burns_the_recipient(
    session, account, fake_evolution, dispatcher
):
    instance, campaign = _setup(session, account, fake_evolution, contacts=1)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: connection refused, nothing was sent
    session.get(
        SenderInstance, instance.id, populate_existing=True
    ).base_url = f"http://127.0.0.1:{port}"
    session.commit()
    run_until_idle(dispatcher)
    [row] = recipients(session, campaign.id)
    # Retried up to the last attempt; the check before burning it found the server down too:
    # the number stops and the recipient waits, its attempts given back (tests/test_worker_outages).
    assert row.status == "pending" and row.attempts == 0
    inst = session.get(SenderInstance, instance.id, populate_existing=True)
    assert inst.circuit == "open" and inst.circuit_cause == "server"
    session.commit()


def test_a_dropped_connection_after_the_request_is_unknown(
    session, account, fake_evolution, dispatcher
):
    # The server read the request and closed the socket: from the client's side it may have
    # gone out (it cannot tell this from a hang), so it is never resent.
    instance, campaign = _setup(session, account, fake_evolution, contacts=1)
    fake_evolution.fail(Fault.DROP, times=1)
    run_until_idle(dispatcher)
    [row] = recipients(session, campaign.id)
    assert row.status == "unknown"
    assert fake_evolution.numbers_received() == [] and len(fake_evolution.dropped()) == 1


def test_retries_are_bounded(session, account, fake_evolution, dispatcher):
    instance, campaign = _setup(session, account, fake_evolution, contacts=1)
    fake_evolution.fail(Fault.SERVER_ERROR)
    run_until_idle(dispatcher)
    [row] = recipients(session, campaign.id)
    assert row.status == "failed" and row.error_kind == "retries_exhausted"
    assert row.attempts == dispatcher.settings.max_attempts == 3
    assert len(fake_evolution.requests(route="sendText")) == 3


def test_a_retry_does_not_hold_up_the_other_recipients(session, account, fake_evolution, engine):
    instance, campaign = _setup(session, account, fake_evolution, contacts=3)
    first, second, third = recipients(session, campaign.id)
    fake_evolution.fail(Fault.SERVER_ERROR, numbers=[first.phone], times=1)
    slow = fast_settings(retry_backoff_base_seconds=60, retry_backoff_max_seconds=120)
    worker = Dispatcher(engine, slow, worker_id="w")
    try:
        worker.maintain()
        order = []
        for _ in range(20):
            step = worker.process_instance(instance.id)
            if isinstance(step, Wait):  # pacing: 10 ms between sends
                time.sleep(max(0.0, (step.until - utcnow()).total_seconds()))
            if isinstance(step, Sent):
                order.append(step.claim.recipient_id)
            if len(order) == 3:
                break
    finally:
        worker.stop(timeout=5)
    assert order == [first.id, second.id, third.id]
    row = {r.id: r for r in recipients(session, campaign.id)}[first.id]
    assert row.status == "pending" and row.next_attempt_at > utcnow() and row.attempts == 1


def test_hang_after_processing_becomes_unknown_and_is_never_resent(
    session, account, fake_evolution, dispatcher
):
    instance, campaign = _setup(session, account, fake_evolution, contacts=2)
    first = recipients(session, campaign.id)[0]
    fake_evolution.fail(Fault.HANG, numbers=[first.phone], seconds=3)
    run_until_idle(dispatcher)
    rows = {r.id: r for r in recipients(session, campaign.id)}
    assert rows[first.id].status == "unknown"
    assert recipient_states(session, campaign.id) == {"unknown": 1, "sent": 1}
    assert fake_evolution.numbers_received().count(digits(first.phone)) == 1
    assert session.get(Campaign, campaign.id, populate_existing=True).status == "completed"


@pytest.mark.parametrize(
    "break_it",
    [
        lambda fake, name: fake.set_state(name, "close"),  # 500 Connection Closed
        lambda fake, name: fake.set_token(name, "rotated-on-the-server"),  # 401
        lambda fake, name: fake.remove_instance(name),  # 404 instance does not exist
    ],
    ids=["connection_closed", "401", "unknown_instance"],
)
def test_instance_down_opens_the_circuit_pauses_and_keeps_everyone(
    session, account, fake_evolution, dispatcher, break_it
):
    instance, campaign = _setup(session, account, fake_evolution, contacts=3)
    break_it(fake_evolution, instance.instance_name)
    run_until_idle(dispatcher)

    inst = session.get(SenderInstance, instance.id, populate_existing=True)
    assert inst.circuit == "open" and inst.circuit_reason
    camp = session.get(Campaign, campaign.id, populate_existing=True)
    assert camp.status == "paused" and inst.name in camp.error_message
    rows = recipients(session, campaign.id)
    assert {r.status for r in rows} == {"pending"}
    assert all(r.attempts == 0 for r in rows)  # no attempt burnt
    kinds = set(session.scalars(select(Notification.kind)))
    assert {"instance_down", "campaign_paused"} <= kinds
    assert fake_evolution.numbers_received() == []


def test_a_lost_lease_claims_nothing(session, account, fake_evolution, dispatcher):
    instance, campaign = _setup(session, account, fake_evolution, contacts=1)
    dispatcher.maintain()
    with Session(session.get_bind()) as other:
        assert isinstance(claim_next(other, instance.id, "someone-else", utcnow()), NotOwner)
    with Session(session.get_bind()) as mine:
        assert isinstance(claim_next(mine, instance.id, "worker-a", utcnow()), Claim)


def test_a_paused_campaign_sends_nothing_more(session, account, fake_evolution, dispatcher):
    instance, campaign = _setup(session, account, fake_evolution, contacts=5)
    dispatcher.maintain()
    dispatcher.process_instance(instance.id)
    session.get(Campaign, campaign.id, populate_existing=True).status = "paused"
    session.commit()
    for _ in range(5):
        dispatcher.process_instance(instance.id)
    assert recipient_states(session, campaign.id) == {"sent": 1, "pending": 4}
    assert len(fake_evolution.sends()) == 1


def test_test_recipients_go_out_from_a_draft_and_stay_out_of_stats(
    session, account, fake_evolution, dispatcher
):
    instance = make_instance(session, account, fake_evolution, rate=6000)
    campaign = make_running_campaign(
        session, account, [instance], contacts=1, status="draft", is_test=True
    )
    session.commit()
    run_until_idle(dispatcher)
    assert recipient_states(session, campaign.id) == {"sent": 1}
    assert session.get(Campaign, campaign.id, populate_existing=True).status == "draft"


def test_audio_sends_the_text_first_then_the_voice_note(
    session, account, fake_evolution, dispatcher
):
    instance, campaign = _setup(
        session,
        account,
        fake_evolution,
        contacts=2,
        multimedia={"type": "audio", "url": "https://example.com/a.ogg", "mimetype": "audio/ogg"},
    )
    run_until_idle(dispatcher)
    assert recipient_states(session, campaign.id) == {"sent": 2}
    for row in recipients(session, campaign.id):
        routes = [r.route for r in fake_evolution.sends() if r.number == digits(row.phone)]
        assert routes == ["sendText", "sendWhatsAppAudio"]


def test_audio_retry_after_the_text_went_out_sends_only_the_audio(
    session, account, fake_evolution, dispatcher
):
    instance, campaign = _setup(
        session,
        account,
        fake_evolution,
        contacts=1,
        multimedia={"type": "audio", "url": "https://example.com/a.ogg"},
    )
    fake_evolution.fail(Fault.SERVER_ERROR, routes=["sendWhatsAppAudio"], times=1)
    run_until_idle(dispatcher)
    [row] = recipients(session, campaign.id)
    assert row.status == "sent"
    assert [r.route for r in fake_evolution.sends()] == ["sendText", "sendWhatsAppAudio"]


def test_image_goes_with_the_text_as_caption(session, account, fake_evolution, dispatcher):
    instance, campaign = _setup(
        session,
        account,
        fake_evolution,
        contacts=1,
        multimedia={"type": "image", "url": "https://example.com/a.png", "mimetype": "image/png"},
    )
    run_until_idle(dispatcher)
    [sent] = fake_evolution.sends()
    assert sent.route == "sendMedia" and sent.body["caption"] == "Hello Ana"
    assert recipient_states(session, campaign.id) == {"sent": 1}
