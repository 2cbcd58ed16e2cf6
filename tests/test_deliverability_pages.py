"""The deliverability rules on the pages (AppTest): the editor's variation, brace errors and
identical-blast flag; the number's warm-up day and today's allowance; a campaign waiting for
tomorrow's allowance."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core import instances
from core.base import utcnow
from core.models import Campaign, CampaignStatus, InstanceSend
from core.people import Actor
from tests.builders import make_contact, make_sender_instance

ROOT = Path(__file__).resolve().parent.parent


def page(name: str, actor: Actor, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / name), default_timeout=30)
    at.session_state["actor"] = actor
    for key, value in query.items():
        at.query_params[key] = value
    return at


def by_label(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def test_the_editor_shows_variants_refuses_bad_braces_and_flags_identical_blasts(
    session, manager, account
):
    make_sender_instance(session, account, "main")
    for i in range(60):
        make_contact(session, account, name=f"Vip {i}", labels=["vip"])
    session.commit()
    at = page("campaign_edit.py", manager).run()
    by_label(at.multiselect, "With labels").select("vip")
    by_label(at.text_area, "Message").input("{Oi|Olá|E aí}, {tudo bem|como vai}?")
    at.run()
    assert not at.exception
    assert any("6 different texts" in c.value for c in at.caption)
    assert any("6 different texts" in e.label for e in at.expander)
    assert not at.warning
    by_label(at.text_area, "Message").input("{Oi|Olá, tudo bem?")
    at.run()
    assert any("without its closing" in e.value for e in at.error)
    by_label(at.text_area, "Message").input("Promo today only!")
    at.run()
    assert any("very same text" in w.value for w in at.warning)


def test_the_number_shows_its_warm_up_day_and_what_is_left_today(session, admin, fake_evolution):
    inst = fake_evolution.add_instance("shop")
    number = instances.create_instance(
        session,
        admin,
        {
            "name": "Shop",
            "base_url": fake_evolution.base_url,
            "instance_name": "shop",
            "token": inst.token,
            "warmup": [5, 10],
            "long_pause_every": 30,
            "long_pause_min_minutes": 3,
            "long_pause_max_minutes": 8,
        },
    )
    now = utcnow()
    for _ in range(2):
        session.add(InstanceSend(instance_id=number.id, sent_at=now))
    session.commit()
    at = page("instances.py", admin).run()
    assert not at.exception
    texts = [m.value for m in at.markdown]
    assert any("Warm-up: step 1 of 2 (day 1), today's allowance 5 messages." in t for t in texts)
    assert any("Long pause: 3.0–8.0 min after every 30 messages." in t for t in texts)
    assert any("Today: 2 of 5 sent, 3 left" in c.value for c in at.caption)


def test_a_campaign_says_it_waits_for_tomorrows_allowance(session, manager, account):
    number = make_sender_instance(session, account, "main", warmup=[2])
    contact = make_contact(session, account, name="Ana", labels=["vip"])
    campaign = Campaign(
        account_id=account.id,
        title="Warm",
        message="Oi",
        audience={"labels": ["vip"]},
        status=CampaignStatus.RUNNING,
        started_at=utcnow() - timedelta(minutes=5),
        sender_id=manager.user_id,
    )
    campaign.instances = [number]
    session.add(campaign)
    session.flush()
    assert contact.id
    now = utcnow()
    session.add_all([InstanceSend(instance_id=number.id, sent_at=now) for _ in range(2)])
    session.commit()
    at = page("campaign_detail.py", manager, id=str(campaign.id)).run()
    assert not at.exception
    assert any("has sent today's warm-up allowance (2 messages)" in i.value for i in at.info)


def test_the_number_shows_its_health_and_why(session, admin, account):
    slowed = make_sender_instance(
        session,
        account,
        "slowed",
        rate_per_minute=12,
        health_score=60,
        health_details={"penalties": {"not_on_whatsapp": 30, "opt_outs": 10}, "judged": True},
    )
    make_sender_instance(
        session,
        account,
        "paused",
        health_score=20,
        health_paused_at=utcnow(),
        health_details={"penalties": {"opt_outs": 60, "send_errors": 20}, "judged": True},
    )
    session.commit()
    assert slowed.id
    at = page("instances.py", admin).run()
    assert not at.exception
    assert any(
        "Health: 60/100 (numbers not on WhatsApp −30, opt-outs −10)" in w.value
        and "slowed to 8/min" in w.value
        for w in at.warning
    )
    assert any("Health: 20/100 (opt-outs −60" in e.value and "paused" in e.value for e in at.error)
