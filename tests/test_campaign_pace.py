"""Time to finish and pace read right from the first send, and stay put once a campaign is over
(core.tracking.campaign_progress): one send 2 s in is no "1.0 per minute, 6 min to finish"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import tracking
from tests.stats_builders import make_campaign, make_instance, make_recipient

NOW = datetime(2026, 11, 30, 15, 0, 30, tzinfo=UTC)


def test_right_after_the_first_send_the_estimate_is_the_rate(session, account, manager):
    instance = make_instance(session, account, rate_per_minute=12)
    campaign = make_campaign(
        session, account, instances=[instance], started_at=NOW - timedelta(seconds=2)
    )
    make_recipient(session, campaign, "sent", sent_at=NOW - timedelta(seconds=1))
    for _ in range(6):
        make_recipient(session, campaign, "pending")
    session.commit()
    progress = tracking.campaign_progress(session, manager, campaign.id, NOW)
    assert progress.pace_per_minute is None  # one attempt: nothing to measure yet
    assert progress.eta == timedelta(seconds=30)  # 6 left at 12/min, as the editor estimated


def test_a_young_campaign_is_paced_by_the_gaps_between_its_sends(session, account, manager):
    instance = make_instance(session, account, rate_per_minute=12)
    campaign = make_campaign(
        session, account, instances=[instance], started_at=NOW - timedelta(seconds=16)
    )
    for seconds in (15, 10, 5, 0):
        make_recipient(session, campaign, "sent", sent_at=NOW - timedelta(seconds=seconds))
    for _ in range(4):
        make_recipient(session, campaign, "pending")
    session.commit()
    progress = tracking.campaign_progress(session, manager, campaign.id, NOW)
    assert progress.pace_per_minute == pytest.approx(12.0)
    assert progress.eta == timedelta(seconds=20)


def test_a_finished_campaign_keeps_its_average_pace(session, account, manager):
    instance = make_instance(session, account, rate_per_minute=12)
    start = NOW - timedelta(hours=3)
    campaign = make_campaign(
        session,
        account,
        status="completed",
        instances=[instance],
        started_at=start,
        completed_at=start + timedelta(seconds=31),
    )
    for seconds in (0, 5, 10, 15, 20, 25, 30):
        make_recipient(session, campaign, "sent", sent_at=start + timedelta(seconds=seconds))
    session.commit()
    first = tracking.campaign_progress(session, manager, campaign.id, NOW)
    later = tracking.campaign_progress(session, manager, campaign.id, NOW + timedelta(hours=5))
    assert first.pace_per_minute == later.pace_per_minute == pytest.approx(12.0)
    assert first.eta == later.eta == timedelta(0)
