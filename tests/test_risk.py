"""The editor's risk meter: a new number sent fast or without warm-up is risky, a campaign the
ladder spreads over days is pointed out, low health is named; an old, slow number is fine."""

from __future__ import annotations

from datetime import UTC, date, datetime

from core import campaigns
from core.base import utcnow
from tests.builders import make_contact, make_sender_instance

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def kinds(risk: campaigns.Risk) -> list[str]:
    return [item.kind for item in risk.items]


def test_a_new_number_at_the_default_rate_without_warm_up_is_risky(session, manager, account):
    number = make_sender_instance(session, account, "new", rate_per_minute=12)
    session.commit()
    risk = campaigns.risk_for(session, manager, 100, [number.id], NOW)
    assert risk.level == "risky"
    assert kinds(risk) == ["fast_new_number", "warmup_off_new"]
    assert risk.items[0].params == {"number": "new", "per_hour": 720, "age": 1}


def test_an_old_slow_number_is_fine(session, manager, account):
    number = make_sender_instance(
        session, account, "old", rate_per_minute=1, number_since=date(2024, 1, 1)
    )
    session.commit()
    assert campaigns.risk_for(session, manager, 100, [number.id], NOW).level == "ok"


def test_the_ladder_spreading_a_campaign_over_days_is_pointed_out(session, manager, account):
    number = make_sender_instance(
        session, account, "warming", rate_per_minute=1, warmup="new_number"
    )
    session.commit()
    risk = campaigns.risk_for(session, manager, 500, [number.id], NOW)
    assert risk.level == "caution" and kinds(risk) == ["days_needed"]
    assert risk.items[0].params["days"] >= 7 and risk.items[0].params["age"] == 1


def test_health_low_or_paused_is_named(session, manager, account):
    slow = make_sender_instance(
        session, account, "slow", rate_per_minute=1, number_since=date(2024, 1, 1),
        health_score=50,
    )  # fmt: skip
    stopped = make_sender_instance(
        session, account, "stopped", rate_per_minute=10, number_since=date(2024, 1, 1),
        health_score=30, health_paused_at=utcnow(),
    )  # fmt: skip
    session.commit()
    # rate 1 cannot go lower: no "health_low" point for it (its rate is unchanged)
    assert campaigns.risk_for(session, manager, 10, [slow.id], NOW).level == "ok"
    risk = campaigns.risk_for(session, manager, 10, [stopped.id], NOW)
    assert kinds(risk) == ["health_paused"] and risk.level == "risky"
    slow.rate_per_minute = 10  # 10/min at health 50 sends at 5/min: named, a caution
    session.commit()
    risk = campaigns.risk_for(session, manager, 10, [slow.id], NOW)
    assert kinds(risk) == ["health_low"] and risk.items[0].params["rate"] == 5


def test_the_editor_shows_the_meter(session, manager, account):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    make_sender_instance(session, account, "fresh", rate_per_minute=12)
    make_contact(session, account, name="Ana", labels=["vip"])
    session.commit()
    root = Path(__file__).resolve().parent.parent
    at = AppTest.from_file(str(root / "views" / "campaign_edit.py"), default_timeout=30)
    at.session_state["actor"] = manager
    at.run()
    next(w for w in at.multiselect if w.label == "With labels").select("vip")
    next(w for w in at.text_area if w.label == "Message").input("Oi {{first_name}}")
    at.run()
    assert not at.exception
    assert any(
        "Risk: high" in e.value and "720 messages an hour is risky" in e.value for e in at.error
    )
