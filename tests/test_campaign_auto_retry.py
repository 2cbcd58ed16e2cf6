"""Automatic retries: a campaign may retry its recipients that failed for a temporary reason N
hours after it completes (at most once or twice) — never numbers not on WhatsApp, rejected
requests, opt-outs or `unknown` sends. The life cycle's `retry_due`, run by the worker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core import campaigns
from core.base import utcnow
from core.models import Campaign, CampaignRecipient, Notification
from core.sending import Dispatcher
from tests.builders import make_campaign_row, make_contact, make_recipient_row
from tests.fake_evolution import FakeEvolution, Fault
from tests.worker_harness import (
    digits,
    fast_settings,
    make_instance,
    make_running_campaign,
    recipients,
    run_until_idle,
)

NOW = datetime(2025, 6, 4, 15, 0, tzinfo=UTC)


def _finished(session: Session, account, **fields) -> tuple[Campaign, dict[str, int]]:
    """A running campaign with nobody left to send: one recipient per way of ending."""
    campaign = make_campaign_row(session, account, **fields)
    opted_out = make_contact(session, account, "+5511988880001", "Otto")
    opted_out.opted_out_at = NOW - timedelta(hours=1)
    rows = {
        "temporary": make_recipient_row(
            session, campaign, status="failed", error_kind="retries_exhausted", attempts=5
        ),
        "not_on_whatsapp": make_recipient_row(
            session, campaign, status="failed", error_kind="not_on_whatsapp"
        ),
        "rejected": make_recipient_row(session, campaign, status="failed", error_kind="rejected"),
        "unknown": make_recipient_row(session, campaign, status="unknown", error_kind="unknown"),
        "whatsapp_error": make_recipient_row(
            session, campaign, status="failed", error_kind="whatsapp_error"
        ),
        "opted_out": make_recipient_row(
            session,
            campaign,
            contact=opted_out,
            status="failed",
            error_kind="retries_exhausted",
        ),
        "sent": make_recipient_row(session, campaign, status="sent"),
    }
    session.commit()
    return campaign, {name: row.id for name, row in rows.items()}


def _statuses(session: Session, campaign: Campaign) -> dict[int, tuple[str, int]]:
    rows = session.execute(
        select(CampaignRecipient.id, CampaignRecipient.status, CampaignRecipient.attempts).where(
            CampaignRecipient.campaign_id == campaign.id
        )
    ).all()
    session.commit()
    return {row.id: (row.status, row.attempts) for row in rows}


def test_only_the_temporary_failures_are_retried_when_the_time_comes(session, account):
    campaign, ids = _finished(session, account, auto_retry_hours=6)
    before = _statuses(session, campaign)

    assert campaigns.complete_finished(session, NOW) == [campaign.id]
    session.commit()
    session.refresh(campaign)
    assert campaign.status == "completed" and campaign.auto_retry_at == NOW + timedelta(hours=6)
    assert campaigns.retry_due(session, NOW + timedelta(hours=6) - timedelta(seconds=1)) == []
    assert campaigns.retry_due(session, NOW + timedelta(hours=6)) == [campaign.id]
    session.commit()

    session.refresh(campaign)
    assert campaign.status == "running" and campaign.auto_retries_done == 1
    assert campaign.auto_retry_at is None and campaign.completed_at is None
    after = _statuses(session, campaign)
    assert after[ids["temporary"]] == ("pending", 0)  # a fresh set of attempts
    for name, recipient_id in ids.items():
        if name != "temporary":
            assert after[recipient_id] == before[recipient_id], name
    body = session.scalar(select(Notification.body).where(Notification.kind == "campaign_retrying"))
    session.commit()
    assert body == "1 recipient whose send failed for a temporary reason is being sent again."


@pytest.mark.parametrize(("limit", "again"), [(1, False), (2, True)])
def test_retries_stop_at_the_campaigns_limit(session, account, limit, again):
    campaign, ids = _finished(session, account, auto_retry_hours=1, auto_retry_limit=limit)
    campaigns.complete_finished(session, NOW)
    assert campaigns.retry_due(session, NOW + timedelta(hours=1)) == [campaign.id]
    again_failed = session.get(CampaignRecipient, ids["temporary"])
    again_failed.status, again_failed.error_kind = "failed", "retries_exhausted"  # once more
    session.commit()

    later = NOW + timedelta(hours=2)
    assert campaigns.complete_finished(session, later) == [campaign.id]
    session.commit()
    session.refresh(campaign)
    assert (campaign.auto_retry_at is not None) is again


def test_no_retry_is_planned_when_off_or_when_nobody_failed_for_a_temporary_reason(
    session, account
):
    off, _ = _finished(session, account, title="off")
    clean = make_campaign_row(session, account, title="clean", auto_retry_hours=2)
    make_recipient_row(session, clean, status="failed", error_kind="not_on_whatsapp")
    make_recipient_row(session, clean, status="unknown", error_kind="unknown")
    session.commit()
    assert sorted(campaigns.complete_finished(session, NOW)) == sorted([off.id, clean.id])
    session.commit()
    for campaign in (off, clean):
        session.refresh(campaign)
        assert campaign.auto_retry_at is None
    assert campaigns.retry_due(session, NOW + timedelta(days=10)) == []


def test_a_retry_staff_made_meanwhile_takes_the_automatic_ones_place(session, account, manager):
    campaign, _ids = _finished(session, account, auto_retry_hours=2)
    campaigns.complete_finished(session, NOW)
    session.commit()
    campaigns.retry_failed(session, manager, campaign.id, now=NOW + timedelta(hours=1))
    session.commit()
    session.refresh(campaign)
    assert campaign.status == "running" and campaign.auto_retry_at is None
    assert campaigns.retry_due(session, NOW + timedelta(hours=3)) == []


def test_a_duplicate_keeps_the_automatic_retry_settings(session, account, manager):
    campaign, _ids = _finished(session, account, auto_retry_hours=4, auto_retry_limit=2)
    copy = campaigns.duplicate(session, manager, campaign.id)
    assert (copy.auto_retry_hours, copy.auto_retry_limit, copy.auto_retries_done) == (4, 2, 0)


# -- the worker's job, over real HTTP ----------------------------------------------------------


class SkewClock:
    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return utcnow() + self.offset


@pytest.fixture
def worker(engine: Engine, session: Session) -> Iterator[tuple[Dispatcher, SkewClock]]:
    clock = SkewClock()
    dispatcher = Dispatcher(engine, fast_settings(), worker_id="w", clock=clock)
    yield dispatcher, clock
    session.rollback()
    dispatcher.stop(timeout=5)


def test_the_worker_retries_a_temporary_failure_hours_later_and_it_goes_out_once(
    session, account, fake_evolution: FakeEvolution, worker
):
    dispatcher, clock = worker
    instance = make_instance(session, account, fake_evolution, rate=6000)
    campaign = make_running_campaign(session, account, [instance], contacts=4, auto_retry_hours=3)
    session.commit()
    unlucky = recipients(session, campaign.id)[0]
    trouble = fake_evolution.fail(Fault.SERVER_ERROR, numbers=[unlucky.phone])  # its sends only
    not_there = recipients(session, campaign.id)[1]
    fake_evolution.set_not_on_whatsapp(not_there.phone)

    run_until_idle(dispatcher)
    row = session.get(Campaign, campaign.id, populate_existing=True)
    assert row.status == "completed" and row.auto_retry_at is not None
    session.commit()
    states = {r.id: (r.status, r.error_kind) for r in recipients(session, campaign.id)}
    assert states[unlucky.id] == ("failed", "retries_exhausted")
    assert states[not_there.id] == ("failed", "not_on_whatsapp")

    trouble.clear()
    clock.offset = timedelta(hours=3, seconds=1)
    dispatcher.maintain()  # the job: retry_due
    assert session.get(Campaign, campaign.id, populate_existing=True).status == "running"
    session.commit()
    run_until_idle(dispatcher)

    states = {r.id: (r.status, r.error_kind) for r in recipients(session, campaign.id)}
    assert states[unlucky.id] == ("sent", None)
    assert states[not_there.id] == ("failed", "not_on_whatsapp")  # never retried
    received = fake_evolution.numbers_received()
    assert received.count(digits(unlucky.phone)) == 1 and received == sorted(set(received))
    assert len(received) == 3
