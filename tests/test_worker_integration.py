"""The worker's side duties: the account's campaigns flag, notification webhooks, instance
health checks — over real HTTP against the fake Evolution server and a local webhook receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.base import utcnow
from core.models import Account, Campaign, Notification, SenderInstance
from core.notifications import notify
from core.sending import Dispatcher, Sent
from tests.fake_evolution import FakeEvolution
from tests.worker_harness import (
    fast_settings,
    make_instance,
    make_running_campaign,
    recipient_states,
    run_until_idle,
)


@pytest.fixture
def dispatcher(engine: Engine, session: Session) -> Iterator[Dispatcher]:
    worker = Dispatcher(engine, fast_settings(), worker_id="worker-a", max_threads=4)
    yield worker
    session.rollback()  # the test's reads hold SQLite's write lock
    worker.stop(timeout=5)


class Receiver:
    """A webhook URL on loopback that records what it was sent (and can be slow)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.bodies: list[dict] = []
        self.delay = delay
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                time.sleep(receiver.delay)
                receiver.bodies.append(body)
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


# -- the account's campaigns flag ---------------------------------------------------------------


def _set_flag(session: Session, account: Account, enabled: bool) -> None:
    session.get(Account, account.id, populate_existing=True).campaigns_enabled = enabled
    session.commit()


def test_an_account_with_campaigns_off_sends_nothing_not_even_tests(
    session, account, fake_evolution: FakeEvolution, dispatcher
):
    instance = make_instance(session, account, fake_evolution, rate=6000)
    running = make_running_campaign(session, account, [instance], contacts=3)
    draft = make_running_campaign(
        session, account, [instance], contacts=1, status="draft", is_test=True, title="draft"
    )
    session.commit()
    _set_flag(session, account, False)

    dispatcher.maintain()
    for _ in range(5):
        assert not isinstance(dispatcher.process_instance(instance.id), Sent)
    assert dispatcher.tick() == 0  # no lane is even started for it
    assert fake_evolution.sends() == []
    assert recipient_states(session, running.id) == {"pending": 3}
    assert recipient_states(session, draft.id) == {"pending": 1}

    _set_flag(session, account, True)
    run_until_idle(dispatcher)
    assert recipient_states(session, running.id) == {"sent": 3}
    assert recipient_states(session, draft.id) == {"sent": 1}
    assert len(fake_evolution.sends()) == 4


def test_due_campaigns_of_an_account_with_campaigns_off_do_not_start(
    session, account, fake_evolution: FakeEvolution, dispatcher
):
    instance = make_instance(session, account, fake_evolution, rate=6000)
    campaign = make_running_campaign(
        session,
        account,
        [instance],
        contacts=0,
        status="pending",
        scheduled_at=utcnow() - timedelta(seconds=5),
    )
    session.commit()
    _set_flag(session, account, False)

    assert dispatcher.poll_due() == []
    status = session.scalar(select(Campaign.status).where(Campaign.id == campaign.id))
    session.commit()
    assert status == "pending"

    _set_flag(session, account, True)
    assert dispatcher.poll_due() == [campaign.id]


# -- notification webhooks -------------------------------------------------------------------


def test_the_webhook_job_delivers_pending_notifications(
    session, account, dispatcher, receiver: Receiver
):
    session.get(Account, account.id).notification_webhook_url = receiver.url
    note = notify(session, account.id, "campaign_completed", {"title": "x"})
    session.commit()

    report = dispatcher.deliver_webhooks()

    assert report.sent == 1
    assert [b["id"] for b in receiver.bodies] == [note.id]
    assert receiver.bodies[0]["event"] == "campaign_completed"
    status = session.scalar(select(Notification.webhook_status).where(Notification.id == note.id))
    session.commit()
    assert status == "sent"


def test_a_slow_webhook_url_does_not_hold_up_sends(
    session, account, fake_evolution: FakeEvolution, dispatcher, receiver: Receiver
):
    receiver.delay = 2.0
    session.get(Account, account.id).notification_webhook_url = receiver.url
    notify(session, account.id, "campaign_paused", {"title": "x"})
    instance = make_instance(session, account, fake_evolution, rate=6000)
    campaign = make_running_campaign(session, account, [instance], contacts=5)
    session.commit()
    dispatcher.maintain()

    job = threading.Thread(target=dispatcher.deliver_webhooks)
    job.start()
    time.sleep(0.2)  # the POST is now hanging on the receiver
    started = time.monotonic()
    sent = 0
    while sent < 5 and time.monotonic() - started < 5:
        sent += isinstance(dispatcher.process_instance(instance.id), Sent)
    elapsed = time.monotonic() - started
    job.join(timeout=10)

    assert sent == 5 and elapsed < 1.5
    assert recipient_states(session, campaign.id) == {"sent": 5}
    assert len(receiver.bodies) == 1


# -- instance health checks -------------------------------------------------------------------


def test_health_check_records_the_state_of_leased_instances(
    session, account, fake_evolution: FakeEvolution, dispatcher
):
    up = make_instance(session, account, fake_evolution)
    down = make_instance(session, account, fake_evolution)
    session.commit()
    fake_evolution.set_state(down.instance_name, "close")
    dispatcher.maintain()

    states = dispatcher.check_instances()

    assert states == {up.id: "open", down.id: "close"}
    rows = {
        i.id: i
        for i in session.scalars(select(SenderInstance).execution_options(populate_existing=True))
    }
    session.commit()
    assert rows[up.id].state == "open" and rows[down.id].state == "close"
    assert rows[up.id].state_checked_at is not None
    assert rows[down.id].circuit == "closed"  # a check alone never opens the circuit


def test_a_closed_session_coming_back_is_announced_once_and_its_campaign_resumes(
    session, account, fake_evolution: FakeEvolution, dispatcher
):
    instance = make_instance(session, account, fake_evolution, rate=6000)
    campaign = make_running_campaign(session, account, [instance], contacts=3)
    session.commit()
    fake_evolution.set_state(instance.instance_name, "close")
    run_until_idle(dispatcher)  # the first send finds it down: circuit open, campaign paused
    assert session.get(Campaign, campaign.id, populate_existing=True).status == "paused"
    session.commit()

    time.sleep(0.06)  # the first check of an open circuit is due after 0.05 s here
    dispatcher.check_instances()  # still down: nothing to announce
    fake_evolution.set_state(instance.instance_name, "open")
    for _ in range(3):
        time.sleep(0.25)  # past the longest backoff of the test settings
        dispatcher.check_instances()

    kinds = list(
        session.scalars(select(Notification.kind).where(Notification.instance_id == instance.id))
    )
    assert kinds.count("instance_up") == 1
    inst = session.get(SenderInstance, instance.id, populate_existing=True)
    assert inst.state == "open" and inst.circuit == "closed"
    session.commit()
    run_until_idle(dispatcher)  # its maintenance resumes the campaign
    assert recipient_states(session, campaign.id) == {"sent": 3}
    assert len(fake_evolution.numbers_received()) == 3
