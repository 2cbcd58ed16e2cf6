"""The editor's versions, A/B test and holdout, and the campaign page's per-version funnel, A/B
state and manual pick (AppTest)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core import campaigns
from core.models import Campaign
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


def _audience(session, account, count: int = 6):
    number = make_sender_instance(session, account, "main", rate_per_minute=12)
    for i in range(count):
        make_contact(session, account, name=f"Vip {i}", labels=["vip"])
    session.commit()
    return number


def test_the_editor_saves_versions_an_ab_test_and_a_holdout_and_previews_each(
    session, manager, account
):
    _audience(session, account)
    at = page("campaign_edit.py", manager).run()
    by_label(at.text_input, "Title").input("Split")
    by_label(at.text_area, "Message").input("Oi {{first_name}}")
    by_label(at.multiselect, "With labels").select("vip")
    by_label(at.checkbox, "Test several versions of the message (A/B)").check()
    at.run()
    by_label(at.text_area, "Message of version B").input("Olá {{first_name}}, *promo*")
    by_label(at.number_input, "Weight of version B").set_value(3)
    by_label(at.checkbox, "Send to a test share first, then the winner to the rest").check()
    at.run()
    by_label(at.number_input, "Test share (percentage of the audience)").set_value(30)
    by_label(at.selectbox, "Winner by").set_value("reply")
    by_label(
        at.number_input,
        "Holdout group (percentage of the audience kept unsent, to compare against)",
    ).set_value(10)
    at.run()
    assert not at.exception
    assert any("each version needs at least" in c.value for c in at.caption)
    previews = [str(h.proto.body) for h in at.get("html")]
    assert any("Oi Vip" in p for p in previews) and any(
        "Olá Vip, <strong>promo</strong>" in p for p in previews
    ), previews
    by_label(at.button, "Save draft").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Campaign saved as a draft."], [
        e.value for e in at.error
    ]
    session.expire_all()
    saved = session.scalars(select(Campaign)).one()
    assert [(v["message"], v["weight"]) for v in saved.variants] == [
        ("Oi {{first_name}}", 1),
        ("Olá {{first_name}}, *promo*", 3),
    ]
    assert saved.ab_test == {"test_share": 0.3, "decide_after_minutes": 240, "metric": "reply"}
    assert saved.holdout_share == 0.1
    session.commit()

    # Opened again, the editor shows what was saved.
    again = page("campaign_edit.py", manager, id=str(saved.id)).run()
    assert by_label(again.text_area, "Message of version B").value == "Olá {{first_name}}, *promo*"
    assert by_label(again.number_input, "Test share (percentage of the audience)").value == 30


def test_a_click_metric_without_tracked_links_is_refused_beside_the_field(
    session, manager, account
):
    _audience(session, account)
    at = page("campaign_edit.py", manager).run()
    by_label(at.text_input, "Title").input("Clicks")
    by_label(at.text_area, "Message").input("Oi")
    by_label(at.multiselect, "With labels").select("vip")
    by_label(at.checkbox, "Test several versions of the message (A/B)").check()
    at.run()
    by_label(at.text_area, "Message of version B").input("Olá")
    by_label(at.checkbox, "Send to a test share first, then the winner to the rest").check()
    at.run()
    by_label(at.selectbox, "Winner by").set_value("click")
    by_label(at.button, "Save draft").click().run()
    assert any("track_links" in e.value for e in at.error)
    session.expire_all()
    assert session.scalars(select(Campaign)).all() == []


def _running_ab(session, account, manager) -> Campaign:
    number = _audience(session, account, 40)
    campaign = campaigns.create(
        session,
        manager,
        {
            "title": "Split",
            "audience": {"labels": ["vip"]},
            "instance_ids": [number.id],
            "variants": [{"message": "A"}, {"message": "B"}],
            "ab_test": {"test_share": 0.5, "decide_after_minutes": 60, "metric": "read"},
            "holdout_share": 0.1,
        },
    )
    campaigns.trigger(session, manager, campaign.id)
    session.commit()
    return campaign


def test_the_campaign_page_shows_each_version_and_staff_pick_the_winner(session, manager, account):
    campaign = _running_ab(session, account, manager)
    at = page("campaign_detail.py", manager, id=str(campaign.id)).run()
    assert not at.exception
    assert any(s.value == "Versions" for s in at.subheader)
    table = next(d for d in at.dataframe if "Version" in d.value.columns)
    assert list(table.value["Version"]) == ["A", "B", "Holdout (never sent)"]
    assert any(i.value.startswith("Testing:") for i in at.info)
    by_label(at.button, "Pick B as the winner").click().run()
    assert not at.exception
    session.expire_all()
    decided = session.get(Campaign, campaign.id)
    assert decided.ab_winner == 1 and decided.ab_decision["by"] == manager.username
    assert any("version B won (picked by hand by" in s.value for s in at.success)
    assert not [b for b in at.button if b.label.startswith("Pick ")]


def test_a_viewer_sees_the_versions_but_cannot_pick(session, manager, viewer, account):
    campaign = _running_ab(session, account, manager)
    at = page("campaign_detail.py", viewer, id=str(campaign.id)).run()
    assert not at.exception
    assert any(s.value == "Versions" for s in at.subheader)
    assert not [b for b in at.button if b.label.startswith("Pick ")]
