"""The holdout group: recorded as `held_out`, never sent (also across worker kills), never
counted as failed or as work left; the campaign completes without them."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core import campaigns, tracking
from core.base import utcnow
from core.models import Campaign, CampaignRecipient, Notification
from tests.builders import make_actor, make_contact
from tests.worker_harness import (
    digits,
    make_instance,
    recipient_states,
    start_worker,
    wait_until,
)


def _start(session: Session, account, fake_evolution, contacts: int, **fields):
    manager = make_actor(session, account, "manager")
    instance = make_instance(session, account, fake_evolution, rate=3000)
    for i in range(contacts):
        make_contact(session, account, name=f"Cy {i}", labels=["all"])
    session.commit()
    campaign = campaigns.create(
        session,
        manager,
        {
            "title": "Holdout",
            "message": "Hi {{first_name}}",
            "audience": {"labels": ["all"]},
            "instance_ids": [instance.id],
            **fields,
        },
    )
    campaigns.trigger(session, manager, campaign.id)
    session.commit()
    return campaign, manager


def _status(engine: Engine, campaign_id: int) -> str:
    with Session(engine) as session:
        return session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))


def _held_out_numbers(session: Session, campaign_id: int) -> set[str]:
    phones = session.scalars(
        select(CampaignRecipient.phone).where(
            CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.status == "held_out"
        )
    ).all()
    session.commit()
    return {digits(p) for p in phones}


def test_the_holdout_share_is_kept_unsent_and_is_neither_failed_nor_work_left(
    session: Session, account, fake_evolution
):
    campaign, manager = _start(session, account, fake_evolution, 300, holdout_share=0.3)
    held = _held_out_numbers(session, campaign.id)
    assert len(held) / 300 == pytest.approx(0.3, abs=0.06)
    counts = campaigns.campaign_counts(session, campaign.id)
    assert counts["held_out"] == len(held) and counts["total"] == 300 - len(held)
    progress = tracking.campaign_progress(session, manager, campaign.id, utcnow())
    assert progress.remaining == 300 - len(held)  # the held-out are not work to do
    session.commit()
    rows = session.scalars(
        select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign.id)
    ).all()
    assert all(r.variant is None and r.rendered_text == "" for r in rows if r.status == "held_out")
    exported = list(tracking.recipient_export_rows(session, manager, campaign.id))
    session.commit()
    status_at = tracking.EXPORT_HEADERS.index("status")
    assert sum(1 for row in exported if row[status_at] == "held_out") == len(held)
    assert tracking.EXPORT_HEADERS[-1] == "variant" and {row[-1] for row in exported} == {None}


@pytest.mark.slow
def test_held_out_recipients_are_never_sent_even_when_the_worker_is_killed(
    engine: Engine, session: Session, account, fake_evolution, tmp_path: Path
):
    fake_evolution.set_latency(0.02)
    campaign, manager = _start(
        session,
        account,
        fake_evolution,
        200,
        holdout_share=0.25,
        variants=[{"message": "A {{first_name}}"}, {"message": "B {{first_name}}"}],
    )
    held = _held_out_numbers(session, campaign.id)
    assert held
    rng = random.Random(11)
    log = tmp_path / "worker.log"
    for _ in range(4):
        worker = start_worker(log)
        time.sleep(rng.uniform(1.0, 2.5))
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    worker = start_worker(log)
    try:
        assert wait_until(lambda: _status(engine, campaign.id) == "completed", 90)
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=15)

    received = fake_evolution.numbers_received()
    assert received == sorted(set(received)), "a number received the campaign twice"
    assert not held & set(received), "a held-out contact was sent the campaign"
    # Each got its own version, the one stored when the campaign started, whichever worker sent.
    with Session(engine) as check:
        letter_of = {
            digits(phone): "AB"[variant]
            for phone, variant in check.execute(
                select(CampaignRecipient.phone, CampaignRecipient.variant).where(
                    CampaignRecipient.campaign_id == campaign.id,
                    CampaignRecipient.variant.is_not(None),
                )
            )
        }
    assert all(s.body["text"][0] == letter_of[s.number] for s in fake_evolution.sends())
    states = recipient_states(session, campaign.id)
    assert states["held_out"] == len(held)
    assert states["failed"] == 0
    assert set(states) <= {"sent", "unknown", "held_out"}
    counts = campaigns.campaign_counts(session, campaign.id)
    done = session.scalars(
        select(Notification.body).where(Notification.kind == "campaign_completed")
    ).one()
    session.commit()
    assert counts["total"] == 200 - len(held)
    assert f"{len(held)} held out" in done and "failed" not in done
