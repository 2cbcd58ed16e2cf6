"""Builders and helpers for the worker's tests: instances on the fake server, running campaigns
with frozen recipients, a worker subprocess, and what the WhatsApp side received."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.base import Settings, get_settings, utcnow
from core.models import (
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    InstanceSend,
    SenderInstance,
)
from core.people import encrypt_secret
from core.sending import Dispatcher, Idle, Sent, Wait
from core.sending._claims import instances_with_work
from tests.builders import make_contact
from tests.fake_evolution import FakeEvolution

ROOT = Path(__file__).resolve().parent.parent
FINAL = {"sent", "failed", "unknown"}


def make_instance(
    session: Session,
    account: Account,
    fake: FakeEvolution,
    *,
    name: str | None = None,
    rate: int = 600,
    api_version: str = "v2",
    lease_to: str | None = None,
    **fields: Any,
) -> SenderInstance:
    """A SenderInstance pointing at a new instance of the fake server. Rates above the UI's 60/min
    are allowed here so tests run fast (the model does not limit them)."""
    fake_instance = fake.add_instance(name, api_version=api_version)  # type: ignore[arg-type]
    instance = SenderInstance(
        account_id=account.id,
        name=fields.pop("label", fake_instance.name),
        base_url=fake.base_url,
        instance_name=fake_instance.name,
        token_encrypted=encrypt_secret(fake_instance.token),
        webhook_secret_encrypted=encrypt_secret("hook-secret"),
        api_version=api_version,
        rate_per_minute=rate,
        **fields,
    )
    if lease_to:
        instance.lease_owner = lease_to
    session.add(instance)
    session.flush()
    return instance


def make_running_campaign(
    session: Session,
    account: Account,
    instances: Sequence[SenderInstance],
    *,
    contacts: int = 10,
    phones: Iterable[str] | None = None,
    message: str = "Hello {name}",
    status: str = CampaignStatus.RUNNING,
    multimedia: dict[str, Any] | None = None,
    is_test: bool = False,
    **fields: Any,
) -> Campaign:
    """A campaign whose audience is already frozen into pending recipient rows (what
    `core.campaigns.start` produces)."""
    campaign = Campaign(
        account_id=account.id,
        title=fields.pop("title", "Campaign"),
        message=message,
        audience={},
        status=status,
        multimedia=multimedia,
        started_at=utcnow() if status == CampaignStatus.RUNNING else None,
        **fields,
    )
    campaign.instances = list(instances)
    session.add(campaign)
    session.flush()
    numbers = list(phones) if phones is not None else [None] * contacts
    for phone in numbers:
        contact = make_contact(session, account, phone=phone, name="Ana")
        session.add(
            CampaignRecipient(
                campaign_id=campaign.id,
                contact_id=contact.id,
                phone=contact.phone,
                name=contact.name,
                rendered_text=message.replace("{name}", contact.name or ""),
                is_test=is_test,
            )
        )
    session.flush()
    return campaign


# SQLite transactions here begin with BEGIN IMMEDIATE (the write lock), reads included: the
# helpers below end their transaction so the worker under test is not kept waiting.


def recipient_states(session: Session, campaign_id: int) -> Counter[str]:
    states = Counter(
        session.scalars(
            select(CampaignRecipient.status).where(CampaignRecipient.campaign_id == campaign_id)
        )
    )
    session.commit()
    return states


def recipients(session: Session, campaign_id: int) -> list[CampaignRecipient]:
    rows = list(
        session.scalars(
            select(CampaignRecipient)
            .where(CampaignRecipient.campaign_id == campaign_id)
            .order_by(CampaignRecipient.id)
            .execution_options(populate_existing=True)
        )
    )
    session.commit()
    return rows


def send_times(session: Session, instance_id: int) -> list[datetime]:
    times = sorted(
        session.scalars(select(InstanceSend.sent_at).where(InstanceSend.instance_id == instance_id))
    )
    session.commit()
    return times


def digits(phone: str) -> str:
    return "".join(c for c in phone if c.isdigit())


def fast_settings(**overrides: Any) -> Settings:
    """The current settings with the worker's timing turned down for tests."""
    from dataclasses import replace

    base = dict(
        worker_tick_seconds=0.05,
        due_poll_seconds=0.2,
        lease_seconds=2.0,
        heartbeat_seconds=0.2,
        http_connect_timeout=2.0,
        http_read_timeout=2.0,
        retry_backoff_base_seconds=0.05,
        retry_backoff_max_seconds=0.2,
        max_attempts=3,
        circuit_check_min_seconds=0.05,
        circuit_check_max_seconds=0.2,
    )
    base.update(overrides)
    return replace(get_settings(), **base)


WORKER_ENV = {
    "WORKER_TICK_SECONDS": "0.05",
    "DUE_POLL_SECONDS": "0.2",
    "LEASE_SECONDS": "1.5",
    "HEARTBEAT_SECONDS": "0.2",
    "HTTP_CONNECT_TIMEOUT": "2",
    "HTTP_READ_TIMEOUT": "2",
    "RETRY_BACKOFF_BASE_SECONDS": "0.05",
    "RETRY_BACKOFF_MAX_SECONDS": "0.2",
    "INSTANCE_CHECK_SECONDS": "0.5",
    "CIRCUIT_CHECK_MIN_SECONDS": "0.1",
    "CIRCUIT_CHECK_MAX_SECONDS": "0.4",
    "SHUTDOWN_GRACE_SECONDS": "3",
    "WORKER_THREADS": "8",
    "LOG_LEVEL": "INFO",
}


_started: list[subprocess.Popen[bytes]] = []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_worker(log_path: Path, **env: str) -> subprocess.Popen[bytes]:
    """scheduler_service.py as a real process, with fast settings and the test's database."""
    full = dict(os.environ)
    full.update(WORKER_ENV)
    full.update(env)
    with open(log_path, "ab") as log:
        worker = subprocess.Popen(
            [sys.executable, str(ROOT / "scheduler_service.py")],
            cwd=str(ROOT),
            env=full,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    _started.append(worker)
    return worker


def kill_leftover_workers() -> None:
    """A test that failed (or hung a worker) must not leave it sending into the next one."""
    while _started:
        worker = _started.pop()
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def wait_until(predicate: Any, timeout: float = 60.0, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def open_count(engine: Engine, campaign_id: int) -> int:
    with Session(engine) as session:
        states = recipient_states(session, campaign_id)
    return sum(n for status, n in states.items() if status not in FINAL)


def run_until_idle(dispatcher: Dispatcher, max_steps: int = 100_000) -> int:
    """Send synchronously, in real time, until no owned instance has work; returns the steps."""
    steps = 0
    while steps < max_steps:
        dispatcher.maintain()
        with dispatcher.database.session() as session:
            ready = instances_with_work(session, dispatcher.owned, dispatcher.worker_id)
        if not ready:
            dispatcher.maintain()
            return steps
        soonest: datetime | None = None
        for instance_id in sorted(ready):
            step = dispatcher.process_instance(instance_id)
            steps += 1
            if isinstance(step, Wait | Idle):
                until = step.until if isinstance(step, Wait) else step.recheck_at
                soonest = until if soonest is None else min(soonest, until)
            elif isinstance(step, Sent):
                soonest = dispatcher.clock()
        if soonest is not None:
            delay = (soonest - dispatcher.clock()).total_seconds()
            if delay > 0:
                time.sleep(min(delay, 1.0))
    return steps
