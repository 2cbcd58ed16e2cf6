"""Notifications: the in-app list, unread and read, and delivery to the account's webhook URL."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from core import notifications
from core.base import NotFound, reset_settings_cache, stored_text
from core.models import Account, Notification
from tests.builders import make_account

NOW = datetime(2025, 3, 20, 15, 0, tzinfo=UTC)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def get_request(self):  # type: ignore[no-untyped-def]
        conn, addr = super().get_request()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


class Receiver:
    """A loopback HTTP endpoint that records JSON bodies and answers with scripted statuses."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.statuses: list[int] = []  # answers to give, in order; then 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.paths.append(self.path)
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/secret"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        yield client


def _notify(session: Session, account: Account, campaign: str, **kwargs) -> Notification:
    """A "campaign completed" notification for a campaign titled `campaign`."""
    notification = notifications.notify(
        session, account.id, "campaign_completed", {"title": campaign}, **kwargs
    )
    session.commit()
    return notification


def test_list_is_newest_first_paginated_and_scoped_to_the_account(session, account, viewer):
    for index in range(7):
        notification = _notify(session, account, f"n{index}")
        notification.created_at = NOW + timedelta(minutes=index)
    other = make_account(session, "Other")
    _notify(session, other, "not yours")
    session.commit()

    first, total = notifications.list_notifications(session, viewer, page=1, per_page=3)
    third, _ = notifications.list_notifications(session, viewer, page=3, per_page=3)

    assert total == 7
    assert [n.title for n in first] == [f"Campaign 'n{i}' completed" for i in (6, 5, 4)]
    assert [n.title for n in third] == ["Campaign 'n0' completed"]


def test_unread_count_mark_read_and_mark_all_read(session, account, viewer):
    created = [_notify(session, account, f"n{index}") for index in range(4)]
    other = make_account(session, "Other")
    foreign = _notify(session, other, "not yours")
    assert notifications.unread_count(session, viewer) == 4

    notifications.mark_read(session, viewer, created[1].id, NOW)
    session.commit()
    assert notifications.unread_count(session, viewer) == 3
    unread, total = notifications.list_notifications(session, viewer, unread_only=True)
    assert total == 3 and created[1].id not in [n.id for n in unread]

    with pytest.raises(NotFound):
        notifications.mark_read(session, viewer, foreign.id, NOW)

    assert notifications.mark_all_read(session, viewer, NOW) == 3
    session.commit()
    assert notifications.unread_count(session, viewer) == 0
    session.refresh(foreign)
    assert foreign.read_at is None  # another account's stays unread


def test_newer_than_gives_what_arrived_after_the_last_seen(session, account, viewer):
    seen = _notify(session, account, "old")
    assert notifications.latest_id(session, viewer) == seen.id
    fresh = [_notify(session, account, f"new {index}") for index in range(2)]
    assert [n.id for n in notifications.newer_than(session, viewer, seen.id)] == [
        n.id for n in fresh
    ]


def test_webhook_posts_slack_compatible_json(session, account, receiver, factory, client):
    account.notification_webhook_url = receiver.url
    session.commit()
    notification = _notify(
        session, account, "Promo", body=stored_text.counts({"sent": 300, "failed": 2, "read": 0})
    )

    report = notifications.deliver_pending_webhooks(factory, NOW, client)

    assert report.sent == 1
    (body,) = receiver.bodies
    assert receiver.paths == ["/hooks/T000/B000/secret"]
    assert body["text"] == "[Loja da Ana] *Campaign 'Promo' completed*\n300 sent, 2 failed"
    assert body["title"] == "Campaign 'Promo' completed" and body["body"] == "300 sent, 2 failed"
    assert body["event"] == "campaign_completed" and body["id"] == notification.id
    session.refresh(notification)
    assert notification.webhook_status == "sent" and notification.webhook_attempts == 1
    session.rollback()  # end the read: SQLite lets one writer in at a time
    assert notifications.deliver_pending_webhooks(factory, NOW, client).sent == 0  # once only
    assert len(receiver.bodies) == 1


def test_a_failed_post_is_retried_after_a_backoff(session, account, receiver, factory, client):
    account.notification_webhook_url = receiver.url
    session.commit()
    notification = _notify(session, account, "Instance down")
    receiver.statuses = [500, 503]

    first = notifications.deliver_pending_webhooks(factory, NOW, client)
    too_soon = notifications.deliver_pending_webhooks(factory, NOW + timedelta(seconds=29), client)
    second = notifications.deliver_pending_webhooks(factory, NOW + timedelta(seconds=30), client)
    third = notifications.deliver_pending_webhooks(factory, NOW + timedelta(seconds=91), client)

    assert (first.retrying, too_soon.retrying + too_soon.sent, second.retrying, third.sent) == (
        1,
        0,
        1,
        1,
    )
    assert len(receiver.bodies) == 3
    session.refresh(notification)
    assert notification.webhook_status == "sent" and notification.webhook_attempts == 3


def test_delivery_gives_up_after_bounded_attempts(session, account, receiver, factory, client):
    account.notification_webhook_url = receiver.url
    session.commit()
    notification = _notify(session, account, "Campaign failed")
    receiver.statuses = [500] * 100

    moment = NOW
    for _ in range(notifications.WEBHOOK_MAX_ATTEMPTS + 3):
        notifications.deliver_pending_webhooks(factory, moment, client)
        moment += notifications.WEBHOOK_BACKOFF_MAX

    assert len(receiver.bodies) == notifications.WEBHOOK_MAX_ATTEMPTS
    session.refresh(notification)
    assert notification.webhook_status == "failed"


def test_an_unreachable_url_costs_one_try_per_run_not_one_per_notification(
    session, account, factory, client
):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    account.notification_webhook_url = f"http://127.0.0.1:{port}/hook"
    session.commit()
    created = [_notify(session, account, f"n{index}") for index in range(3)]

    report = notifications.deliver_pending_webhooks(factory, NOW, client)

    assert report.sent == 0 and report.retrying == 3
    attempts = []
    for notification in created:
        session.refresh(notification)
        attempts.append(notification.webhook_attempts)
        assert notification.webhook_status == "pending"
    assert sorted(attempts) == [0, 0, 1]


def test_no_webhook_url_means_nothing_is_posted(session, account, receiver, factory, client):
    notification = _notify(session, account, "Quiet")
    assert notification.webhook_status == "none"
    assert notifications.deliver_pending_webhooks(factory, NOW, client).sent == 0
    assert receiver.bodies == []


def test_a_url_removed_after_the_event_stops_delivery(session, account, receiver, factory, client):
    account.notification_webhook_url = receiver.url
    session.commit()
    notification = _notify(session, account, "Later")
    account.notification_webhook_url = None
    session.commit()

    notifications.deliver_pending_webhooks(factory, NOW, client)

    session.refresh(notification)
    assert notification.webhook_status == "none" and receiver.bodies == []


def test_each_account_gets_its_own_url(session, account, receiver, factory, client):
    other = make_account(session, "Other", notification_webhook_url=receiver.url + "/other")
    account.notification_webhook_url = receiver.url
    session.commit()
    _notify(session, account, "mine")
    _notify(session, other, "theirs")

    notifications.deliver_pending_webhooks(factory, NOW, client)

    assert sorted(zip(receiver.paths, (b["title"] for b in receiver.bodies), strict=True)) == [
        ("/hooks/T000/B000/secret", "Campaign 'mine' completed"),
        ("/hooks/T000/B000/secret/other", "Campaign 'theirs' completed"),
    ]


def test_a_webhook_url_whose_address_became_forbidden_is_not_posted_to(
    session, account, receiver, factory, client, monkeypatch
):
    """Judged again at delivery (issue 16, item 6): the address allowed at saving may not be now."""
    account.notification_webhook_url = receiver.url.replace("127.0.0.1", "localhost")
    session.commit()
    notification = _notify(session, account, "Promo")
    monkeypatch.setenv("OUTBOUND_ALLOW_PRIVATE", "false")
    reset_settings_cache()

    report = notifications.deliver_pending_webhooks(factory, NOW, client)

    assert report.sent == 0 and receiver.bodies == []
    session.refresh(notification)
    assert notification.webhook_status != "sent"
