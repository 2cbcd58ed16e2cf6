"""`/healthz` and `/metrics`: read from the database, so right across processes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from core.base import reset_settings_cache, utcnow
from core.models import WorkerHeartbeat
from tests import evolution_payloads as evo
from tests.builders import make_campaign_row, make_recipient_row, make_sender_instance
from tests.database import reset_engine_cache

METRICS_TOKEN = "metrics-token-for-tests"
SCRAPER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture(autouse=True)
def metrics_token(monkeypatch):
    """The test client is no loopback peer: it scrapes as Prometheus does, with the token."""
    monkeypatch.setenv("METRICS_TOKEN", METRICS_TOKEN)
    reset_settings_cache()


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics", headers=SCRAPER)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_healthz_without_a_worker_is_degraded_but_up(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "degraded" and body["database"] == "ok"
    assert body["worker"]["status"] == "missing" and body["worker"]["last_seen_age_seconds"] is None


def test_healthz_reports_the_worker_heartbeat_age(client, session):
    now = utcnow()
    session.add(WorkerHeartbeat(worker_id="w1", hostname="h", pid=1, last_seen_at=now))
    session.add(
        WorkerHeartbeat(worker_id="w0", hostname="h", pid=2, last_seen_at=now - timedelta(hours=1))
    )
    session.commit()
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["worker"]["status"] == "ok"
    assert (body["worker"]["workers"], body["worker"]["alive"]) == (2, 1)
    assert 0 <= body["worker"]["last_seen_age_seconds"] < 60


def test_healthz_with_only_a_stale_worker(client, session):
    stale = utcnow() - timedelta(minutes=10)
    session.add(WorkerHeartbeat(worker_id="w0", hostname="h", pid=2, last_seen_at=stale))
    session.commit()
    body = client.get("/healthz").json()
    assert body["worker"]["status"] == "stale" and body["status"] == "degraded"
    assert body["worker"]["last_seen_age_seconds"] >= 600


def test_healthz_is_503_when_the_database_is_down(engine, monkeypatch, tmp_path):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    reset_settings_cache()
    reset_engine_cache()
    with TestClient(create_app()) as client:
        answer = client.get("/healthz")
        assert answer.status_code == 503
        assert answer.json() == {"status": "down", "database": "unreachable", "worker": None}
        assert client.get("/metrics", headers=SCRAPER).status_code == 503


def test_metrics_count_sends_campaigns_queues_lag_and_webhook_events(client, session, account):
    now = utcnow()
    busy = make_sender_instance(
        session, account, "busy", next_send_at=now - timedelta(seconds=90), state="open"
    )
    idle = make_sender_instance(
        session, account, "idle", next_send_at=now - timedelta(hours=1), state="close"
    )
    running = make_campaign_row(session, account, status="running", instances=[busy])
    for status in ("pending", "pending", "pending", "sent", "delivered", "read"):
        make_recipient_row(session, running, status=status)
    make_recipient_row(
        session, running, status="failed", error_kind="not_on_whatsapp", instance_id=busy.id
    )
    make_recipient_row(session, running, status="pending", is_test=True)  # in the queue too
    paused = make_campaign_row(session, account, status="paused", instances=[idle])
    make_recipient_row(session, paused, status="pending")  # paused: not queued
    make_campaign_row(session, account, status="draft")
    sent = make_recipient_row(
        session, running, status="sent", provider_message_id="3EB0AA", instance_id=busy.id
    )
    session.commit()
    headers = {"x-webhook-token": "webhook-secret-123"}
    client.post(
        f"/webhooks/evolution/{busy.id}",
        json=evo.message_update("busy", sent.provider_message_id, "READ"),
        headers=headers,
    )
    client.post(
        f"/webhooks/evolution/{busy.id}",
        json=evo.connection_update("busy", "open"),
        headers=headers,
    )

    samples = scrape(client)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    assert value("wac_recipients", status="pending") == 4  # the test send is not counted
    assert value("wac_recipients", status="read") == 2
    assert value("wac_recipients", status="sent") == 1
    assert value("wac_recipients", status="failed") == 1
    assert value("wac_recipients", status="unknown") == 0
    assert value("wac_recipient_failures", kind="not_on_whatsapp") == 1
    assert value("wac_campaigns", status="running") == 1
    assert value("wac_campaigns", status="paused") == 1
    assert value("wac_campaigns", status="draft") == 1
    assert value("wac_campaigns", status="completed") == 0
    assert value("wac_webhook_events_total", event="messages.update") == 1
    assert value("wac_webhook_events_total", event="connection.update") == 1
    busy_labels = {"instance_id": str(busy.id), "instance": "busy", "account_id": str(account.id)}
    idle_labels = {"instance_id": str(idle.id), "instance": "idle", "account_id": str(account.id)}
    assert value("wac_instance_queue_depth", **busy_labels) == 4
    assert value("wac_instance_queue_depth", **idle_labels) == 0
    assert 85 <= value("wac_instance_pacing_lag_seconds", **busy_labels) < 600
    assert value("wac_instance_pacing_lag_seconds", **idle_labels) == 0  # idle is not late
    assert value("wac_instance_up", **busy_labels) == 1
    assert value("wac_instance_up", **idle_labels) == 0


def test_metrics_follow_the_database_not_the_process(client, session, account):
    """A change made by another process (here: a direct write) shows at the next scrape."""
    before = scrape(client)[("wac_campaigns", (("status", "running"),))]
    make_campaign_row(session, account, status="running")
    session.commit()
    after = scrape(client)[("wac_campaigns", (("status", "running"),))]
    assert after == before + 1
