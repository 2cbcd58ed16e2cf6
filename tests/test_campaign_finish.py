"""When a campaign that waits for its allowance will finish: today's sends already made count
against today's limit, several numbers add up, the kept warm-up step climbs a day at a time,
and recipients in their own zones are sent inside their own windows within the account's days.
The campaign page says it (AppTest)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from core import campaigns
from core.base import utcnow
from core.models import InstanceSend
from core.people import Actor
from tests.builders import make_campaign_row, make_contact, make_recipient_row, make_sender_instance

SP = ZoneInfo("America/Sao_Paulo")
TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2025, 6, 4, 18, 0, tzinfo=UTC)  # Wednesday 15:00 in São Paulo
WEDNESDAY = date(2025, 6, 4)
THURSDAY, FRIDAY = WEDNESDAY + timedelta(days=1), WEDNESDAY + timedelta(days=2)
ROOT = Path(__file__).resolve().parent.parent


def number(session, account, name: str, ladder=(10, 20, 40), sent_today: int = 10, **fields):
    row = make_sender_instance(
        session,
        account,
        name,
        rate_per_minute=60,
        warmup=list(ladder),
        warmup_step=0,
        warmup_step_on=WEDNESDAY,
        **fields,
    )
    session.add_all(
        InstanceSend(instance_id=row.id, sent_at=NOW - timedelta(hours=1))
        for _ in range(sent_today)
    )
    return row


def pending(session, account, campaign, n: int, zone: str | None = None) -> None:
    for _ in range(n):
        make_recipient_row(
            session, campaign, contact=make_contact(session, account), status="pending",
            timezone=zone,
        )  # fmt: skip


def finish(session: Session, account, campaign) -> datetime:
    ends = campaigns.finish_estimate(session, Actor.system(account.id), campaign.id, NOW)
    session.commit()
    assert ends is not None
    return ends


def test_todays_sends_already_made_count_against_today(session: Session, account):
    account.timezone = "America/Sao_Paulo"
    main = number(session, account, "main")
    campaign = make_campaign_row(session, account, instances=[main])
    pending(session, account, campaign, 30)
    session.commit()
    # Today's 10 are gone: Thursday allows 20, the last 10 go out on Friday.
    assert finish(session, account, campaign).astimezone(SP).date() == FRIDAY
    session.execute(delete(InstanceSend))
    session.commit()
    # Had nothing been sent today, 10 this afternoon and 20 on Thursday would do.
    assert finish(session, account, campaign).astimezone(SP).date() == THURSDAY


def test_the_editors_estimate_counts_todays_sends_too(session: Session, account):
    account.timezone = "America/Sao_Paulo"
    main = number(session, account, "main")
    session.commit()
    actor = Actor.system(account.id)
    today = campaigns.estimate_for(session, actor, 30, [main.id], NOW)
    tomorrow = campaigns.estimate_for(session, actor, 20, [main.id], NOW + timedelta(days=1))
    session.commit()
    assert today.ends_at.astimezone(SP).date() == FRIDAY  # today's 10 already went
    # Starting tomorrow: the step kept today climbs to Thursday's 20, enough for all.
    assert tomorrow.ends_at.astimezone(SP).date() == THURSDAY


def test_several_numbers_share_the_work(session: Session, account):
    account.timezone = "America/Sao_Paulo"
    one = number(session, account, "one", ladder=(10, 20))
    alone = make_campaign_row(session, account, instances=[one], title="alone")
    pending(session, account, alone, 40)
    two = number(session, account, "two", ladder=(10, 20))
    both = make_campaign_row(session, account, instances=[one, two], title="both")
    pending(session, account, both, 40)
    session.commit()
    assert finish(session, account, both).astimezone(SP).date() == THURSDAY  # 20 + 20
    # One number: 20 on Thursday, then the ladder is over and Friday takes the rest.
    assert finish(session, account, alone).astimezone(SP).date() == FRIDAY


def test_recipients_in_their_own_zone_finish_inside_their_own_window(session: Session, account):
    account.timezone = "America/Sao_Paulo"
    main = number(session, account, "main")
    nine_to_six = {"window_start": time(9), "window_end": time(18)}
    zoned = make_campaign_row(
        session, account, instances=[main], title="zoned", deliver_in_recipient_timezone=True,
        **nine_to_six,
    )  # fmt: skip
    pending(session, account, zoned, 10, "Asia/Tokyo")
    session.commit()
    ends = finish(session, account, zoned)
    # Thursday's allowance (from São Paulo's midnight) meets Tokyo's Thursday window at noon.
    assert ends.astimezone(SP).date() == THURSDAY and ends.astimezone(SP).time() < time(6)
    assert time(12) <= ends.astimezone(TOKYO).time() < time(18)
    # The same recipients in São Paulo's window: Thursday morning there.
    local = make_campaign_row(session, account, instances=[main], title="local", **nine_to_six)
    pending(session, account, local, 10)
    session.commit()
    assert time(9) <= finish(session, account, local).astimezone(SP).time() < time(10)
    # Half of them in each zone: the allowance is shared, São Paulo's half finishes last.
    mixed = make_campaign_row(
        session, account, instances=[main], title="mixed", deliver_in_recipient_timezone=True,
        **nine_to_six,
    )  # fmt: skip
    pending(session, account, mixed, 10, "Asia/Tokyo")
    pending(session, account, mixed, 10, "America/Sao_Paulo")
    session.commit()
    ends = finish(session, account, mixed).astimezone(SP)
    assert ends.date() == THURSDAY and time(9) <= ends.time() < time(18)


def test_the_campaign_page_says_when_it_will_finish(session: Session, manager, account):
    main = make_sender_instance(session, account, "main", warmup=[2, 3])
    campaign = make_campaign_row(
        session,
        account,
        instances=[main],
        title="Warm",
        started_at=utcnow() - timedelta(minutes=5),
        sender_id=manager.user_id,
    )
    pending(session, account, campaign, 4)
    session.add_all(InstanceSend(instance_id=main.id, sent_at=utcnow()) for _ in range(2))
    session.commit()
    at = AppTest.from_file(str(ROOT / "views" / "campaign_detail.py"), default_timeout=30)
    at.session_state["actor"] = manager
    at.query_params["id"] = str(campaign.id)
    at.run()
    assert not at.exception
    assert any(
        "Waiting for tomorrow's warm-up allowance; at the current allowance it will finish "
        "around" in i.value
        for i in at.info
    )
