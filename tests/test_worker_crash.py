"""The worker as a real process: killed at random moments, restarted, two at once on PostgreSQL,
an instance going down mid-campaign. What counts is what the WhatsApp side received."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from core.models import Campaign, CampaignRecipient, SenderInstance
from tests.fake_evolution import FakeEvolution
from tests.pacing_model import max_in_any_window
from tests.worker_harness import (
    FINAL,
    digits,
    make_instance,
    make_running_campaign,
    open_count,
    recipient_states,
    start_worker,
    wait_until,
)

pytestmark = pytest.mark.slow


def _campaign_status(engine: Engine, campaign_id: int) -> str:
    with Session(engine) as session:
        return session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))


def _stop(process, sig=signal.SIGTERM, timeout: float = 15) -> None:
    if process.poll() is None:
        process.send_signal(sig)
    process.wait(timeout=timeout)


def test_no_number_receives_the_campaign_twice_when_the_worker_is_killed(
    engine: Engine, session: Session, account, fake_evolution: FakeEvolution, tmp_path: Path
):
    rng = random.Random(7)
    fake_evolution.set_latency(0.02)
    instances = [make_instance(session, account, fake_evolution, rate=3000) for _ in range(2)]
    campaign = make_running_campaign(session, account, instances, contacts=150)
    session.commit()
    log = tmp_path / "worker.log"

    kills = 0
    for _ in range(8):
        worker = start_worker(log)
        time.sleep(rng.uniform(1.0, 2.5))  # startup is ~1 s: kills land before and during sends
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        kills += 1
        if open_count(engine, campaign.id) == 0:
            break
    worker = start_worker(log)
    try:
        assert wait_until(lambda: _campaign_status(engine, campaign.id) == "completed", 90)
    finally:
        _stop(worker)

    received = fake_evolution.numbers_received()
    assert received == sorted(set(received)), "a number received the campaign twice"
    states = recipient_states(session, campaign.id)
    assert set(states) <= FINAL and sum(states.values()) == 150
    # Everyone not received is accounted for as unknown (claimed when a worker died), and
    # everyone sent was received.
    with Session(engine) as check:
        rows = check.scalars(
            select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign.id)
        ).all()
    sent = {digits(r.phone) for r in rows if r.status == "sent"}
    assert sent <= set(received)
    assert states["unknown"] <= kills * len(instances)  # at most one in flight per instance
    assert kills >= 3


def test_sigterm_finishes_in_flight_sends_and_releases_leases(
    engine: Engine, session: Session, account, fake_evolution: FakeEvolution, tmp_path: Path
):
    fake_evolution.set_latency(0.3)
    instance = make_instance(session, account, fake_evolution, rate=3000)
    campaign = make_running_campaign(session, account, [instance], contacts=40)
    session.commit()
    log = tmp_path / "worker.log"
    worker = start_worker(log)
    assert wait_until(lambda: len(fake_evolution.sends()) >= 3, 30)
    _stop(worker, signal.SIGTERM)
    assert worker.returncode == 0, log.read_text()[-4000:]

    states = recipient_states(session, campaign.id)
    assert "sending" not in states and "unknown" not in states
    assert states["sent"] == len(fake_evolution.sends())
    with Session(engine) as check:
        owner = check.scalar(
            select(SenderInstance.lease_owner).where(SenderInstance.id == instance.id)
        )
    assert owner is None
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    sends = [entry for entry in lines if entry.get("event") == "send"]
    assert sends and all({"campaign_id", "instance_id", "recipient_id"} <= set(e) for e in sends)
    token = fake_evolution.instance(instance.instance_name).token
    assert token not in log.read_text()


def test_sigterm_at_any_moment_of_the_worker_s_life_stops_it_cleanly(
    engine: Engine, session: Session, account, fake_evolution: FakeEvolution, tmp_path: Path
):
    # A signal used to be handled inside the scheduler's own job loop, which then failed now and
    # then on jobs it had just removed (exit 1). Many stops at random moments give it the chance.
    rng = random.Random(11)
    fake_evolution.set_latency(0.02)
    instance = make_instance(session, account, fake_evolution, rate=3000)
    campaign = make_running_campaign(session, account, [instance], contacts=400)
    session.commit()
    for attempt in range(8):
        log = tmp_path / f"worker-{attempt}.log"
        worker = start_worker(log)
        assert wait_until(lambda path=log: "worker started" in path.read_text(), 30)
        time.sleep(rng.uniform(0, 0.6))
        _stop(worker, signal.SIGTERM)
        assert worker.returncode == 0, log.read_text()[-4000:]
        states = recipient_states(session, campaign.id)
        assert "sending" not in states and "unknown" not in states
    assert states["sent"] == len(fake_evolution.sends()) > 0
    received = fake_evolution.numbers_received()
    assert received == sorted(set(received))
    with Session(engine) as check:
        owner = check.scalar(
            select(SenderInstance.lease_owner).where(SenderInstance.id == instance.id)
        )
    assert owner is None


def test_an_instance_going_down_pauses_the_campaign_and_resuming_completes_it(
    engine: Engine, session: Session, account, fake_evolution: FakeEvolution, tmp_path: Path
):
    fake_evolution.set_latency(0.02)
    instance = make_instance(session, account, fake_evolution, rate=600)
    campaign = make_running_campaign(session, account, [instance], contacts=30)
    session.commit()
    log = tmp_path / "worker.log"
    worker = start_worker(log)
    try:
        assert wait_until(lambda: len(fake_evolution.sends()) >= 5, 30)
        fake_evolution.set_state(instance.instance_name, "close")  # the phone lost its session
        assert wait_until(lambda: _campaign_status(engine, campaign.id) == "paused", 30)
        states = recipient_states(session, campaign.id)
        assert states["pending"] > 0 and "failed" not in states and "unknown" not in states
        with Session(engine) as check:
            broken = check.get(SenderInstance, instance.id)
            assert broken.circuit == "open"
            assert "Connection Closed" in (broken.circuit_reason or "")
            assert "down" in check.get(Campaign, campaign.id).error_message

        # Staff fix the phone, re-enable the number and resume the campaign.
        fake_evolution.set_state(instance.instance_name, "open")
        with Session(engine) as fix:
            fix.execute(
                update(SenderInstance)
                .where(SenderInstance.id == instance.id)
                .values(circuit="closed", circuit_reason=None)
            )
            fix.execute(
                update(Campaign)
                .where(Campaign.id == campaign.id)
                .values(status="running", error_message=None)
            )
            fix.commit()
        assert wait_until(lambda: _campaign_status(engine, campaign.id) == "completed", 60)
    finally:
        _stop(worker)
    assert recipient_states(session, campaign.id) == {"sent": 30}
    received = fake_evolution.numbers_received()
    assert len(received) == 30 and received == sorted(set(received))


@pytest.mark.postgres
def test_two_workers_on_postgresql_split_the_instances_without_duplicates(
    pg_engine: Engine, fake_evolution: FakeEvolution, tmp_path: Path
):
    from tests.builders import make_account

    with Session(pg_engine, expire_on_commit=False) as session:
        account = make_account(session, "Shop", timezone="UTC")
        rate = 300  # a 0.2 s gap: a burst would show as gaps far below it
        instances = [make_instance(session, account, fake_evolution, rate=rate) for _ in range(4)]
        campaign = make_running_campaign(session, account, instances, contacts=160)
        session.commit()
    log = tmp_path / "workers.log"
    workers = [start_worker(log), start_worker(log)]
    try:
        assert wait_until(lambda: _campaign_status(pg_engine, campaign.id) == "completed", 120)
    finally:
        for worker in workers:
            _stop(worker)

    received = fake_evolution.numbers_received()
    assert len(received) == 160 and received == sorted(set(received))
    with Session(pg_engine) as session:
        assert recipient_states(session, campaign.id) == {"sent": 160}
        claimers = set(
            session.scalars(
                select(CampaignRecipient.claimed_by).where(
                    CampaignRecipient.campaign_id == campaign.id
                )
            )
        )
    assert len(claimers) == 2, "both workers should have sent"
    gap = 60 / rate
    for instance in instances:
        at_server = [r.at for r in fake_evolution.sends(instance.instance_name)]
        assert max_in_any_window(at_server) <= rate
        with Session(pg_engine) as session:
            claims = sorted(
                session.scalars(
                    select(CampaignRecipient.claimed_at).where(
                        CampaignRecipient.instance_id == instance.id
                    )
                )
            )
        gaps = [(b - a).total_seconds() for a, b in zip(claims, claims[1:], strict=False)]
        # Whichever worker held the lease, claims through one instance are a gap apart.
        assert min(gaps) >= gap - 0.001, f"burst on {instance.instance_name}: {min(gaps):.3f}s"


def _dump_database(engine: Engine) -> str:
    """Every row of every table, as text (the token must be stored encrypted only)."""
    from core.models import Base

    lines = []
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            for row in connection.execute(table.select()):
                lines.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(lines)


def test_the_evolution_token_appears_in_no_output_of_a_full_send_run(
    engine: Engine,
    session: Session,
    account,
    admin,
    fake_evolution: FakeEvolution,
    tmp_path: Path,
):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.builders import make_api_token
    from tests.fake_evolution import Fault

    fake_evolution.set_latency(0.01)
    instance = make_instance(session, account, fake_evolution, rate=3000)
    token = fake_evolution.instance(instance.instance_name).token
    campaign = make_running_campaign(session, account, [instance], contacts=12)
    first = session.scalars(
        select(CampaignRecipient.phone).where(CampaignRecipient.campaign_id == campaign.id)
    ).first()
    api_token = make_api_token(session, admin)
    session.commit()
    # Every kind of answer: sent, retried, not on WhatsApp, and the instance breaking (401).
    fake_evolution.fail(Fault.SERVER_ERROR, times=2)
    fake_evolution.set_not_on_whatsapp(first)
    log = tmp_path / "worker.log"
    worker = start_worker(log, INSTANCE_CHECK_SECONDS="0.3", NOTIFICATION_WEBHOOK_SECONDS="0.3")
    try:
        assert wait_until(lambda: len(fake_evolution.sends()) >= 6, 30)
        fake_evolution.set_token(instance.instance_name, "rotated-on-the-server")
        assert wait_until(lambda: _campaign_status(engine, campaign.id) == "paused", 30)
        fake_evolution.set_token(instance.instance_name, token)
        with Session(engine) as fix:
            fix.execute(
                update(SenderInstance)
                .where(SenderInstance.id == instance.id)
                .values(circuit="closed", circuit_reason=None)
            )
            fix.execute(update(Campaign).where(Campaign.id == campaign.id).values(status="running"))
            fix.commit()
        assert wait_until(lambda: _campaign_status(engine, campaign.id) == "completed", 60)
        time.sleep(1)  # a health check and a webhook run or two more
    finally:
        _stop(worker)

    outputs = {"worker log": log.read_text(), "database": _dump_database(engine)}
    headers = {"Authorization": f"Bearer {api_token}"}
    prefix = f"/api/v1/accounts/{account.id}"
    with TestClient(create_app()) as api:
        for path in (
            f"{prefix}/whatsapp_api_instances",
            f"{prefix}/whatsapp_api_instances/{instance.id}",
            f"{prefix}/whatsapp_api_campaigns",
            f"{prefix}/whatsapp_api_campaigns/{campaign.id}",
            f"{prefix}/whatsapp_api_campaigns/{campaign.id}/recipients",
        ):
            answer = api.get(path, headers=headers)
            assert answer.status_code == 200, (path, answer.text)
            outputs[path] = answer.text
    assert '"event": "send"' in outputs["worker log"]
    assert "not_on_whatsapp" in outputs["database"] and "instance_down" in outputs["database"]
    leaked = [name for name, text in outputs.items() if token in text]
    assert leaked == [], f"the Evolution token appears in: {leaked}"
