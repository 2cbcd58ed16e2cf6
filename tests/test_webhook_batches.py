"""A big `messages.update` batch (issue 16, item 12) is applied completely, in bounded
transactions: between its chunks the write lock is free for the worker."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from core.base import make_engine
from core.models import CampaignRecipient, RecipientStatus
from core.tracking import handle_delivery
from core.tracking._receipts import RECEIPT_CHUNK
from tests.builders import make_campaign_row, make_sender_instance

SECRET = "webhook-secret-123"
ITEMS = 60_000
OURS = 1_500


@pytest.fixture
def batch(session, account):
    instance = make_sender_instance(session, account, "main", webhook_secret=SECRET)
    campaign = make_campaign_row(session, account, status="running", instances=[instance])
    session.execute(
        CampaignRecipient.__table__.insert(),
        [
            {
                "campaign_id": campaign.id,
                "phone": f"+55119{n:08d}",
                "rendered_text": "Hi",
                "status": "sent",
                "provider_message_id": f"OURS{n}",
                "instance_id": instance.id,
                "attempts": 1,
            }
            for n in range(OURS)
        ],
    )
    session.commit()
    data = [
        {
            "keyId": f"OURS{n // 40}" if n % 40 == 0 and n // 40 < OURS else f"PHONE{n}",
            "fromMe": True,
            "status": "READ",
        }
        for n in range(ITEMS)
    ]
    body = json.dumps({"event": "messages.update", "instance": "main", "data": data}).encode()
    return instance, campaign, body


def test_a_batch_of_60000_receipts_is_applied_completely_in_chunks(engine, session, batch):
    instance, campaign, body = batch
    commits = []
    with Session(engine, expire_on_commit=False) as receiver:
        event.listen(receiver, "after_commit", lambda _s: commits.append(1))
        result = handle_delivery(receiver, instance.id, body, {"x-webhook-token": SECRET})
        receiver.commit()
    assert result.changed == OURS
    # One commit per chunk of receipts, plus the caller's last one.
    assert len(commits) >= ITEMS // RECEIPT_CHUNK
    read = session.scalar(
        select(func.count(CampaignRecipient.id)).where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.status == RecipientStatus.READ,
        )
    )
    session.commit()
    assert read == OURS


def test_between_chunks_another_writer_gets_the_lock_at_once(engine, session, batch, db_url):
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single write lock is the point")
    instance, _campaign, body = batch
    # The worker's side: a writer that does not wait at all (busy timeout 0).
    impatient = make_engine(db_url)
    writes = []

    def worker_writes(_session) -> None:
        if len(writes) >= 3:
            return
        with impatient.connect() as connection:
            connection.exec_driver_sql("PRAGMA busy_timeout=0")
            connection.execute(
                text("UPDATE sender_instances SET name = name WHERE id = :id"), {"id": instance.id}
            )
            connection.commit()
        writes.append(1)

    try:
        with Session(engine, expire_on_commit=False) as receiver:
            event.listen(receiver, "after_commit", worker_writes)
            result = handle_delivery(receiver, instance.id, body, {"x-webhook-token": SECRET})
            receiver.commit()
    finally:
        impatient.dispose()
    assert writes == [1, 1, 1]  # each got the lock while the batch was still being applied
    assert result.changed == OURS
