"""Delivery in each recipient's local time: the zone comes from the contact's `timezone`
attribute, else the phone number, else the account; over real HTTP with an injected clock,
recipients in three timezones each receive inside their own window."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from core import campaigns
from core.campaigns._recipient_zones import recipient_zone
from core.models import CampaignRecipient
from core.sending import Dispatcher, Idle, Sent, Wait
from tests.builders import make_contact
from tests.pacing_model import max_in_any_window
from tests.worker_harness import fast_settings, make_instance, send_times

START = datetime(2025, 6, 4, 0, 0, tzinfo=UTC)  # a Wednesday


def test_the_zone_of_a_recipient():
    assert recipient_zone("+5511987654321", {"timezone": "Asia/Kolkata"}, "UTC") == "Asia/Kolkata"
    assert recipient_zone("+12125550123", {"timezone": "Mars/Base"}, "UTC") == "America/New_York"
    assert recipient_zone("+5511987654321", {}, "UTC") == "America/Sao_Paulo"
    # Several zones for the number: the account's when it is one of them.
    assert recipient_zone("+351912345678", None, "Europe/Lisbon") == "Europe/Lisbon"
    assert recipient_zone("not a phone", None, "Europe/Madrid") == "Europe/Madrid"


def test_recipients_in_three_timezones_each_receive_inside_their_own_window(
    engine, session, account, manager, fake_evolution
):
    number = make_instance(session, account, fake_evolution, rate=60)
    people = {
        "America/New_York": make_contact(session, account, "+12125550123", "Ny", ["w"]),
        "Asia/Tokyo": make_contact(session, account, "+81312345678", "Tk", ["w"]),
        "Asia/Kolkata": make_contact(
            session, account, "+5511987650000", "In", ["w"], timezone="Asia/Kolkata"
        ),
        "America/Sao_Paulo": make_contact(session, account, "+5511987651111", "Sp", ["w"]),
    }
    session.commit()
    campaign = campaigns.create(
        session,
        manager,
        {
            "title": "Local morning",
            "message": "Bom dia {{first_name}}",
            "audience": {"labels": ["w"]},
            "instance_ids": [number.id],
            "window_start": "09:00",
            "window_end": "09:30",
            "deliver_in_recipient_timezone": True,
        },
    )
    assert campaigns.campaign_json(campaign)["deliver_in_recipient_timezone"] is True
    campaigns.trigger(session, manager, campaign.id, now=START)
    session.commit()
    # 00:00 UTC is 09:00 in Tokyo: the other three wait for their own morning.
    assert campaigns.waiting_for_local_window(session, manager, campaign.id, START) == 3
    session.commit()
    now = [START]
    worker = Dispatcher(
        engine,
        fast_settings(lease_seconds=10**6),
        worker_id="w",
        clock=lambda: now[0],
        rng=random.Random(3),
    )
    worker.maintain()
    sent = 0
    try:
        for _ in range(5000):  # 30-s rechecks over a day
            step = worker.process_instance(number.id, now=now[0])
            if isinstance(step, Sent):
                sent += 1
                now[0] += timedelta(seconds=1)
                if sent == len(people):
                    break
            elif isinstance(step, Wait):
                now[0] = max(now[0], step.until)
            elif isinstance(step, Idle):
                now[0] = max(now[0] + timedelta(seconds=1), step.recheck_at)
            else:
                break
    finally:
        worker.stop(timeout=5)
    rows = session.scalars(
        select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign.id)
    ).all()
    assert sent == len(people) and {r.status for r in rows} == {"sent"}
    by_contact = {r.contact_id: r for r in rows}
    for zone_name, contact in people.items():
        row = by_contact[contact.id]
        assert row.timezone == zone_name
        local = row.sent_at.astimezone(ZoneInfo(zone_name))
        assert time(9, 0) <= local.time() < time(9, 30), (zone_name, local)
    # They went out at four different moments of the day, not in one burst.
    assert len({by_contact[c.id].sent_at.astimezone(UTC).hour for c in people.values()}) == 4
    assert max_in_any_window(send_times(session, number.id)) <= 60
    session.commit()
