"""Each number's health over time: `refresh_health` samples a score at most every 15 minutes
unless it moved by 5 or more (or paused), prunes after 30 days; the instance page and the
dashboard draw it (AppTest), the instance page saying why the warm-up held."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from core import instances
from core.base import utcnow
from core.instances import _health_history as history
from core.models import HealthSample, SenderInstance
from core.people import Actor
from tests.builders import (
    make_account,
    make_campaign_row,
    make_contact,
    make_recipient_row,
    make_sender_instance,
)

ROOT = Path(__file__).resolve().parent.parent


def fail(session: Session, account, campaign, number, n: int, at) -> None:
    for _ in range(n):
        make_recipient_row(
            session,
            campaign,
            contact=make_contact(session, account),
            status="failed",
            error_kind="not_on_whatsapp",
            instance_id=number.id,
            last_attempt_at=at,
        )


def samples(session: Session, number_id: int) -> list[tuple[int, bool]]:
    rows = session.scalars(
        select(HealthSample).where(HealthSample.instance_id == number_id).order_by(HealthSample.at)
    ).all()
    session.commit()
    return [(row.score, row.paused) for row in rows]


def test_a_sample_every_quarter_hour_or_when_the_score_moves_and_pruned_after_30_days(
    session: Session, account
):
    number = make_sender_instance(session, account, "main")
    campaign = make_campaign_row(session, account, instances=[number])
    old = HealthSample(instance_id=number.id, at=utcnow() - timedelta(days=31), score=90)
    session.add(old)
    session.commit()
    now = utcnow()
    instances.refresh_health(session, [number.id], now, force=True)
    session.commit()
    # The 31-day-old sample went with that write.
    assert samples(session, number.id) == [(100, False)]
    # Scored every minute with nothing new: no sample until a quarter of an hour has passed.
    for minute in range(1, 15):
        instances.refresh_health(session, [number.id], now + timedelta(minutes=minute), force=True)
        session.commit()
    assert len(samples(session, number.id)) == 1
    later = now + history.EVERY
    instances.refresh_health(session, [number.id], later, force=True)
    session.commit()
    assert samples(session, number.id) == [(100, False), (100, False)]
    # 20 clean sends then a run of numbers not on WhatsApp: each move of 5 or more is sampled
    # at once, and the pause too.
    for _ in range(20):
        make_recipient_row(session, campaign, contact=make_contact(session, account),
                           status="sent", instance_id=number.id, last_attempt_at=later,
                           sent_at=later)  # fmt: skip
    session.commit()
    moment = later
    for _ in range(12):
        moment += timedelta(minutes=1)
        fail(session, account, campaign, number, 2, moment)
        session.commit()
        instances.refresh_health(session, [number.id], moment, force=True)
        session.commit()
    scores = samples(session, number.id)[2:]
    assert scores and scores[-1][1] is True  # the pause is in the history
    assert all(a[0] - b[0] >= history.MIN_CHANGE or b[1] != a[1]
               for a, b in zip([(100, False), *scores], scores, strict=False))  # fmt: skip
    actor = Actor.system(account.id)
    points = instances.health_history(session, actor, number.id, moment - timedelta(hours=1))
    assert [p.score for p in points][-1] == scores[-1][0]
    assert points[-1].worst == "not_on_whatsapp"


def page(name: str, actor: Actor) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / name), default_timeout=30)
    at.session_state["actor"] = actor
    return at


def chart_lines(at: AppTest) -> list[list[str]]:
    return [
        [trace.get("name") for trace in json.loads(chart.proto.spec)["data"]]
        for chart in at.get("plotly_chart")
    ]


def test_the_instance_page_and_the_dashboard_draw_health_over_time(
    session: Session, admin, account
):
    shop = make_sender_instance(
        session,
        account,
        "Shop",
        warmup=[20, 50],
        warmup_step=0,
        warmup_step_on=utcnow().date(),
        warmup_judgement={"verdict": "held", "score": 66, "day": utcnow().date().isoformat()},
    )
    other = make_sender_instance(session, account, "Other")
    now = utcnow()
    for hours, score in ((5, 100), (3, 72), (1, 66)):
        session.add(HealthSample(instance_id=shop.id, at=now - timedelta(hours=hours), score=score))
    session.add(HealthSample(instance_id=other.id, at=now - timedelta(hours=2), score=95))
    session.commit()

    at = page("instances.py", admin).run()
    assert not at.exception
    assert any("The ladder held at this step today" in c.value and "66/100" in c.value
               for c in at.caption)  # fmt: skip
    lines = chart_lines(at)
    assert ["Shop", "Slows down below", "Pauses below"] in lines
    assert ["Other", "Slows down below", "Pauses below"] in lines

    at = page("dashboard.py", admin).run()
    assert not at.exception
    assert any(set(names) >= {"Shop", "Other", "Pauses below"} for names in chart_lines(at))


def test_the_history_is_the_accounts_own(session: Session, account):
    other_account = make_account(session, "Other shop")
    mine = make_sender_instance(session, account, "mine")
    theirs = make_sender_instance(session, other_account, "theirs")
    for number in (mine, theirs):
        session.add(HealthSample(instance_id=number.id, at=utcnow(), score=50))
    session.commit()
    series = instances.account_health_history(
        session, Actor.system(account.id), utcnow() - timedelta(days=1)
    )
    assert list(series) == ["mine"]
    assert session.get(SenderInstance, theirs.id)


def test_the_chart_says_no_data_without_samples_and_draws_the_thresholds():
    from zoneinfo import ZoneInfo

    from ui import charts

    zone = ZoneInfo("America/Sao_Paulo")
    assert charts.is_empty(charts.health_over_time({}, zone))
    assert charts.is_empty(charts.health_over_time({"Shop": []}, zone))
    now = utcnow()
    figure = charts.health_over_time(
        {"Shop": [instances.HealthPoint(now, 70, "opt_outs", False)]}, zone
    )
    names = [trace.name for trace in figure.data]
    assert names == ["Shop", "Slows down below", "Pauses below"]
    assert list(figure.data[2].y) == [instances.HEALTH_PAUSE_BELOW] * 2
    assert list(figure.layout.yaxis.range) == [0, 105]
