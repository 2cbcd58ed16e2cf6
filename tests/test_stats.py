"""Statistics follow the recipient rows exactly, on SQLite and on PostgreSQL."""

from __future__ import annotations

import inspect
import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from core import tracking
from core.base import NotFound
from core.models import Account, CampaignRecipient, Circuit, Role
from core.people import Actor
from tests.builders import make_account, make_actor
from tests.stats_builders import (
    make_campaign,
    make_instance,
    make_recipient,
    make_send,
)

NOW = datetime(2025, 3, 20, 15, 0, 30, tzinfo=UTC)
STATUSES = ["pending", "sending", "sent", "delivered", "read", "failed", "unknown", "skipped"]
ERRORS = [
    ("not_on_whatsapp", "number is not on WhatsApp"),
    ("rejected", "HTTP 400: bad media"),
    ("rejected", "HTTP 413: too large"),
]


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest) -> Iterator[Session]:
    engine = request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def shop(db: Session) -> Account:
    account = make_account(db, "Loja", timezone="America/Sao_Paulo")
    db.commit()
    return account


@pytest.fixture
def staff(db: Session, shop: Account) -> Actor:
    actor = make_actor(db, shop, Role.VIEWER, "vera")
    db.commit()
    return actor


def seed_recipients(db: Session, campaign, count: int, seed: int, start: datetime, span: timedelta):
    """Recipients in every status, with the timestamps the worker and webhooks would set."""
    rng = random.Random(seed)
    for _ in range(count):
        status = rng.choice(STATUSES)
        at = start + timedelta(seconds=rng.uniform(0, span.total_seconds()))
        fields: dict = {}
        if status in ("sent", "delivered", "read"):
            fields.update(sent_at=at, last_attempt_at=at, attempts=1)
        if status in ("delivered", "read"):
            fields["delivered_at"] = at + timedelta(seconds=5)
        if status == "read":
            fields["read_at"] = at + timedelta(seconds=50)
        if status == "failed":
            kind, error = rng.choice(ERRORS)
            fields.update(failed_at=at, last_attempt_at=at, attempts=rng.randint(1, 3))
            fields.update(error_kind=kind, last_error=error)
        if status == "unknown":
            fields.update(last_attempt_at=at, attempts=1, error_kind="timeout")
            fields["last_error"] = "read timeout after the request was sent"
        make_recipient(db, campaign, status, **fields)
    db.commit()


def rows_of(db: Session, campaign_ids: list[int]) -> list[CampaignRecipient]:
    return list(
        db.scalars(
            select(CampaignRecipient).where(
                CampaignRecipient.campaign_id.in_(campaign_ids),
                CampaignRecipient.is_test.is_(False),
            )
        )
    )


def test_progress_and_funnel_match_the_recipient_rows(db, shop, staff):
    instance = make_instance(db, shop, rate_per_minute=20)
    campaign = make_campaign(db, shop, instances=[instance], started_at=NOW - timedelta(hours=1))
    seed_recipients(
        db, campaign, 300, seed=1, start=NOW - timedelta(hours=1), span=timedelta(hours=1)
    )
    make_recipient(db, campaign, "read", is_test=True, sent_at=NOW, read_at=NOW)  # not counted
    db.commit()

    progress = tracking.campaign_progress(db, staff, campaign.id, NOW)

    rows = rows_of(db, [campaign.id])
    by_status = Counter(row.status for row in rows)
    assert progress.total == len(rows) == 300
    assert {key: progress.counts[key] for key in STATUSES} == {s: by_status[s] for s in STATUSES}
    assert dict(progress.funnel) == {
        "targeted": len(rows),
        "sent": sum(row.sent_at is not None for row in rows),
        "delivered": sum(row.delivered_at is not None for row in rows),
        "read": sum(row.read_at is not None for row in rows),
    }
    assert progress.remaining == by_status["pending"] + by_status["sending"]
    recent = [
        row
        for row in rows
        if (row.last_attempt_at or row.sent_at or row.failed_at or NOW - timedelta(days=1))
        >= NOW - tracking.PACE_WINDOW
    ]
    assert progress.pace_per_minute == pytest.approx(len(recent) / 10)
    assert progress.eta == timedelta(minutes=progress.remaining / progress.pace_per_minute)


def test_a_young_campaign_is_paced_over_the_time_it_has_run(db, shop, staff):
    slow = make_instance(db, shop, rate_per_minute=1)
    campaign = make_campaign(db, shop, instances=[slow], started_at=NOW - timedelta(minutes=2))
    for minutes in (2, 1):
        make_recipient(db, campaign, "sent", sent_at=NOW - timedelta(minutes=minutes))
    for _ in range(4):
        make_recipient(db, campaign, "pending")
    db.commit()

    progress = tracking.campaign_progress(db, staff, campaign.id, NOW)

    assert progress.pace_per_minute == pytest.approx(1.0)  # 2 sends in 2 minutes, not in 10
    assert progress.eta == timedelta(minutes=4)


def test_time_to_finish_falls_back_to_the_rate_then_to_unknown(db, shop, staff):
    healthy = make_instance(db, shop, rate_per_minute=12)
    broken = make_instance(db, shop, rate_per_minute=30, circuit=Circuit.OPEN)
    campaign = make_campaign(db, shop, instances=[healthy, broken])
    for _ in range(24):
        make_recipient(db, campaign, "pending")
    db.commit()

    running = tracking.campaign_progress(db, staff, campaign.id, NOW)
    assert running.rate_per_minute == 12  # the open circuit sends nothing
    assert running.eta == timedelta(minutes=2)

    campaign.status = "paused"
    db.commit()
    assert tracking.campaign_progress(db, staff, campaign.id, NOW).eta is None

    for recipient in campaign_recipients(db, campaign.id):
        recipient.status = "sent"
    db.commit()
    assert tracking.campaign_progress(db, staff, campaign.id, NOW).eta == timedelta(0)


def campaign_recipients(db: Session, campaign_id: int) -> list[CampaignRecipient]:
    return list(
        db.scalars(select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign_id))
    )


def test_sends_per_minute_match_the_sent_times_and_carry_the_rate(db, shop, staff):
    instance = make_instance(db, shop, rate_per_minute=15)
    campaign = make_campaign(db, shop, instances=[instance])
    base = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)
    offsets = [0, 10.5, 59.999, 60, 61, 180, 185.25, 239.9]  # seconds after 12:00
    for offset in offsets:
        make_recipient(db, campaign, "sent", sent_at=base + timedelta(seconds=offset))
    make_recipient(db, campaign, "pending")
    db.commit()

    series = tracking.sends_over_time(db, staff, campaign.id)

    assert series.bucket_seconds == 60
    assert series.limit_per_bucket == 15
    assert series.points == [
        (base, 3),
        (base + timedelta(minutes=1), 2),
        (base + timedelta(minutes=3), 3),
    ]


def test_failures_are_grouped_by_reason_with_counts_and_examples(db, shop, staff):
    campaign = make_campaign(db, shop)
    seed_recipients(
        db, campaign, 200, seed=2, start=NOW - timedelta(hours=2), span=timedelta(hours=1)
    )

    reasons = tracking.failure_reasons(db, staff, campaign.id, examples=2)

    rows = [row for row in rows_of(db, [campaign.id]) if row.status in ("failed", "unknown")]
    expected = Counter((row.status, row.error_kind, row.last_error) for row in rows)
    assert {(r.status, r.error_kind, r.last_error): r.count for r in reasons} == expected
    assert [r.count for r in reasons] == sorted((r.count for r in reasons), reverse=True)
    phones = {(row.status, row.error_kind, row.last_error): [] for row in rows}
    for row in sorted(rows, key=lambda row: row.id):
        phones[(row.status, row.error_kind, row.last_error)].append(row.phone)
    for reason in reasons:
        key = (reason.status, reason.error_kind, reason.last_error)
        assert [phone for phone, _ in reason.examples] == phones[key][:2]


def test_recipient_log_filters_by_status_and_pages(db, shop, staff):
    campaign = make_campaign(db, shop)
    seed_recipients(
        db, campaign, 120, seed=3, start=NOW - timedelta(hours=2), span=timedelta(hours=1)
    )
    rows = sorted(rows_of(db, [campaign.id]), key=lambda row: row.id)
    wanted = [row for row in rows if row.status in ("failed", "unknown")]

    first, total = tracking.recipient_log(
        db, staff, campaign.id, ["failed", "unknown"], page=1, per_page=7
    )
    second, _ = tracking.recipient_log(
        db, staff, campaign.id, ["failed", "unknown"], page=2, per_page=7
    )

    assert total == len(wanted)
    assert [row.id for row in first + second] == [row.id for row in wanted[:14]]
    assert all(row.status in ("failed", "unknown") for row in first + second)
    everyone, total_all = tracking.recipient_log(db, staff, campaign.id, page=1, per_page=1000)
    assert total_all == len(rows) == len(everyone)
    found, total_found = tracking.recipient_log(db, staff, campaign.id, search=rows[5].phone[-9:])
    assert total_found == 1 and found[0].id == rows[5].id


def test_export_rows_show_local_times(db, shop, staff):
    campaign = make_campaign(db, shop)
    make_recipient(db, campaign, "sent", phone="+5511999990000", name="=cmd", sent_at=NOW)
    db.commit()

    (row,) = list(tracking.recipient_export_rows(db, staff, campaign.id))

    record = dict(zip(tracking.EXPORT_HEADERS, row, strict=True))
    assert record["phone"] == "+5511999990000" and record["name"] == "=cmd"
    assert record["sent_at"] == datetime(2025, 3, 20, 12, 0, 30)  # São Paulo is UTC-3


def test_another_accounts_campaign_is_not_found(db, shop, staff):
    other = make_account(db, "Other")
    campaign = make_campaign(db, other)
    db.commit()
    with pytest.raises(NotFound):
        tracking.campaign_progress(db, staff, campaign.id, NOW)
    with pytest.raises(NotFound):
        tracking.recipient_log(db, staff, campaign.id)


def test_dashboard_numbers_match_the_recipient_rows(db, shop, staff):
    instance = make_instance(db, shop)
    start, end = NOW - timedelta(days=7), NOW
    campaigns = []
    for index in range(4):
        began = NOW - timedelta(days=8 - 2 * index)
        campaign = make_campaign(
            db,
            shop,
            title=f"c{index}",
            status="completed" if index < 3 else "running",
            instances=[instance],
            started_at=began,
            completed_at=began + timedelta(days=1, minutes=7 * index) if index < 3 else None,
        )
        seed_recipients(
            db, campaign, 150, seed=10 + index, start=began, span=timedelta(days=1, hours=3)
        )
        campaigns.append(campaign)
    make_campaign(db, shop, title="draft", status="draft")
    other = make_account(db, "Other")
    seed_recipients(
        db,
        make_campaign(db, other, started_at=NOW - timedelta(days=1)),
        50,
        99,
        NOW - timedelta(days=1),
        timedelta(hours=1),
    )
    db.commit()

    rows = rows_of(db, [campaign.id for campaign in campaigns])

    def activity(row):
        return row.sent_at or row.failed_at or row.last_attempt_at

    in_period = [row for row in rows if activity(row) and start <= activity(row) < end]
    totals = tracking.message_totals(db, staff, start, end)
    assert totals == tracking.MessageTotals(
        sent=sum(row.status in ("sent", "delivered", "read") for row in in_period),
        delivered=sum(row.status in ("delivered", "read") for row in in_period),
        read=sum(row.status == "read" for row in in_period),
        failed=sum(row.status == "failed" for row in in_period),
        unknown=sum(row.status == "unknown" for row in in_period),
    )
    assert 0 < len(in_period) < len(rows)  # the period cuts the oldest campaign
    assert totals.success_rate == pytest.approx(
        totals.sent / (totals.sent + totals.failed + totals.unknown)
    )

    zone = ZoneInfo("America/Sao_Paulo")
    days = tracking.messages_over_time(db, staff, start, end)
    sent_days = Counter(
        row.sent_at.astimezone(zone).date()
        for row in rows
        if row.sent_at and start <= row.sent_at < end
    )
    failed_days = Counter(
        row.failed_at.astimezone(zone).date()
        for row in rows
        if row.status == "failed" and start <= row.failed_at < end
    )
    assert {day.day: day.sent for day in days if day.sent} == sent_days
    assert {day.day: day.failed for day in days if day.failed} == failed_days
    assert [day.day for day in days] == sorted(sent_days.keys() | failed_days.keys())

    errors = dict(tracking.errors_by_type(db, staff, start, end))
    assert errors == Counter(
        row.error_kind for row in in_period if row.status in ("failed", "unknown")
    )

    volume = tracking.send_volume(db, staff, start, end)
    sent = [row for row in rows if row.sent_at and start <= row.sent_at < end]
    heat = Counter(
        (row.sent_at.astimezone(zone).weekday(), row.sent_at.astimezone(zone).hour) for row in sent
    )
    assert {
        (weekday, hour): volume.heatmap[weekday][hour]
        for weekday in range(7)
        for hour in range(24)
        if volume.heatmap[weekday][hour]
    } == heat
    assert volume.total == len(sent)

    completed = [c for c in campaigns if c.status == "completed" and start <= c.completed_at < end]
    mean, count = tracking.average_execution_time(db, staff, start, end)
    assert count == len(completed) > 0
    assert mean == sum((c.completed_at - c.started_at for c in completed), timedelta(0)) / count

    assert tracking.campaigns_by_status(db, staff) == {
        "draft": 1,
        "pending": 0,
        "running": 1,
        "paused": 0,
        "completed": 3,
        "cancelled": 0,
        "failed": 0,
    }


def test_heat_map_follows_daylight_saving_time(db, staff, shop):
    shop.timezone = "Europe/Berlin"  # clocks go forward on 2025-03-30 at 01:00 UTC
    campaign = make_campaign(db, shop, started_at=datetime(2025, 3, 29, tzinfo=UTC))
    make_recipient(
        db, campaign, "sent", sent_at=datetime(2025, 3, 29, 9, 30, tzinfo=UTC)
    )  # Sat 10:30
    make_recipient(
        db, campaign, "sent", sent_at=datetime(2025, 3, 30, 9, 30, tzinfo=UTC)
    )  # Sun 11:30
    db.commit()

    volume = tracking.send_volume(
        db, staff, datetime(2025, 3, 28, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC)
    )

    assert volume.heatmap[5][10] == 1 and volume.heatmap[6][11] == 1
    assert volume.total == 2


def test_instance_health_counts_todays_sends_in_the_local_day(db, shop, staff):
    # São Paulo midnight of 2025-03-20 is 03:00 UTC.
    busy = make_instance(db, shop, name="main", daily_cap=500, state="open", next_send_at=NOW)
    make_instance(db, shop, name="spare", circuit=Circuit.OPEN, circuit_reason="401 from Evolution")
    for at in ["2025-03-20T02:59:00", "2025-03-20T03:00:00", "2025-03-20T14:00:00"]:
        make_send(db, busy, datetime.fromisoformat(at).replace(tzinfo=UTC))
    db.commit()

    health = {item.name: item for item in tracking.instance_health(db, staff, NOW)}

    assert health["main"].sent_today == 2 and health["main"].daily_cap == 500
    assert health["main"].next_send_at == NOW and health["main"].state == "open"
    assert health["spare"].sent_today == 0 and health["spare"].circuit == "open"
    assert health["spare"].circuit_reason == "401 from Evolution"


def test_time_bucket_floors_fractional_seconds(db, shop, staff):
    campaign = make_campaign(db, shop)
    make_recipient(db, campaign, "sent", sent_at=datetime(2025, 1, 1, 0, 0, 59, 999000, tzinfo=UTC))
    db.commit()
    series = tracking.sends_over_time(db, staff, campaign.id)
    assert series.points == [(datetime(2025, 1, 1, tzinfo=UTC), 1)]


def test_account_zone_is_the_actors_accounts_and_utc_when_unknown(db, shop, staff):
    assert tracking.account_zone(db, staff) == ZoneInfo("America/Sao_Paulo")
    elsewhere = make_account(db, "Berlin shop", timezone="Europe/Berlin")
    db.commit()
    assert tracking.account_zone(db, make_actor(db, elsewhere, Role.VIEWER, "bea")) == ZoneInfo(
        "Europe/Berlin"
    )
    shop.timezone = "Mars/Olympus_Mons"  # saved before settings validated the name
    db.commit()
    assert tracking.account_zone(db, staff) == UTC


# The receiver is authenticated by the instance's credentials, not by a user.
TAKES_NO_ACTOR = {"handle_delivery", "check_headers"}


def test_every_reading_entry_point_takes_the_actor_right_after_the_session():
    checked = []
    for name in tracking.__all__:
        function = getattr(tracking, name)
        if not inspect.isfunction(function) or name in TAKES_NO_ACTOR:
            continue
        parameters = list(inspect.signature(function).parameters)
        if parameters[:1] == ["session"]:
            checked.append(name)
            assert parameters[1:2] == ["actor"], f"{name}{inspect.signature(function)}"
    assert "account_zone" in checked and "recipient_log" in checked


def statements_of(db: Session, call: Callable[[], object]) -> int:
    """How many SQL statements `call` runs, from a cold session (nothing cached in it)."""
    counted: list[str] = []
    engine = db.get_bind()

    def count(conn, cursor, statement, parameters, context, executemany):
        counted.append(statement)

    db.expunge_all()
    event.listen(engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", count)
        db.rollback()
    return len(counted)


def test_the_pages_figures_take_the_same_queries_however_many_rows(db, shop, staff):
    """No query per campaign, instance, failure group or recipient (N+1)."""
    start = NOW - timedelta(days=7)

    def grow(campaigns: int) -> int:
        for _ in range(campaigns):
            instances = [make_instance(db, shop), make_instance(db, shop)]
            campaign = make_campaign(
                db, shop, instances=instances, started_at=NOW - timedelta(hours=2)
            )
            seed_recipients(db, campaign, 40, seed=campaign.id, start=start, span=timedelta(days=6))
            make_send(db, instances[0], NOW - timedelta(hours=1))
        db.commit()
        return campaign.id

    def page_statements(campaign_id: int) -> dict[str, int]:
        calls: dict[str, Callable[[], object]] = {
            "account_zone": lambda: tracking.account_zone(db, staff),
            "live_campaigns": lambda: tracking.live_campaigns(db, staff),
            "message_totals": lambda: tracking.message_totals(db, staff, start, NOW),
            "messages_over_time": lambda: tracking.messages_over_time(db, staff, start, NOW),
            "errors_by_type": lambda: tracking.errors_by_type(db, staff, start, NOW),
            "send_volume": lambda: tracking.send_volume(db, staff, start, NOW),
            "instance_health": lambda: tracking.instance_health(db, staff, NOW),
            "campaign_overview": lambda: tracking.campaign_overview(db, staff, campaign_id),
            "campaign_progress": lambda: tracking.campaign_progress(db, staff, campaign_id, NOW),
            "sends_over_time": lambda: tracking.sends_over_time(db, staff, campaign_id),
            "failure_reasons": lambda: tracking.failure_reasons(db, staff, campaign_id),
            "recipient_log": lambda: tracking.recipient_log(db, staff, campaign_id, per_page=100),
            "export": lambda: list(tracking.recipient_export_rows(db, staff, campaign_id)),
        }
        return {name: statements_of(db, call) for name, call in calls.items()}

    small = page_statements(grow(1))
    large = page_statements(grow(6))

    assert large == small
