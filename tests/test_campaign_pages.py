"""Campaign pages (AppTest): create, edit, the live audience count, validation messages, trigger."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from core.models import Campaign, CampaignRecipient, CampaignStatus
from core.people import Actor
from tests.builders import make_contact, make_sender_instance

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30


def page(name: str, actor: Actor, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / name), default_timeout=TIMEOUT)
    at.session_state["actor"] = actor
    for key, value in query.items():
        at.query_params[key] = value
    return at


def by_label(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def recipients_metric(at: AppTest) -> str:
    return by_label(at.metric, "Recipients").value


@pytest.fixture
def book(session, account):
    """Three VIPs in Rio (one opted out), two customers in Lisboa, one number."""
    from core.base import utcnow

    make_sender_instance(session, account, "main", rate_per_minute=12)
    for i in range(3):
        contact = make_contact(session, account, name=f"Vip {i}", labels=["vip"], city="Rio")
    contact.opted_out_at = utcnow()
    for i in range(2):
        make_contact(session, account, name=f"Cliente {i}", labels=["customer"], city="Lisboa")
    session.commit()


def test_create_with_live_count_and_preview(session, manager, book):
    at = page("campaign_edit.py", manager).run()
    assert not at.exception
    assert not at.metric  # no criteria yet: no count, a hint instead
    by_label(at.text_input, "Title").input("Carnival")
    by_label(at.text_area, "Message").input("Oi {{first_name|there}} em *{{city}}*")
    by_label(at.multiselect, "With labels").select("vip")
    at.run()
    assert recipients_metric(at) == "2"
    assert any("opted out" in c.value for c in at.caption)
    previews = [str(h.proto.body) for h in at.get("html")]
    assert any("Oi Vip em <strong>Rio</strong>" in p for p in previews), previews
    by_label(at.multiselect, "With labels").select("customer")
    at.run()
    assert recipients_metric(at) == "4"
    assert any("4 recipients · 1 number at 12/min" in i.value for i in at.info)
    by_label(at.button, "Save draft").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Campaign saved as a draft."]
    session.expire_all()
    campaign = session.scalars(select(Campaign)).one()
    assert (campaign.title, campaign.status) == ("Carnival", CampaignStatus.DRAFT)
    assert campaign.audience["labels"] == ["customer", "vip"]
    assert campaign.sender_id == manager.user_id


def test_automatic_retries_are_chosen_in_the_editor(session, manager, book):
    at = page("campaign_edit.py", manager).run()
    by_label(at.text_input, "Title").input("Retry me")
    by_label(at.text_area, "Message").input("Oi")
    by_label(at.multiselect, "With labels").select("vip")
    by_label(at.checkbox, "Retry failed recipients automatically").check()
    at.run()
    by_label(at.number_input, "Hours after the campaign finishes").set_value(12)
    by_label(at.number_input, "At most (times)").set_value(2)
    by_label(at.button, "Save draft").click().run()
    assert not at.exception
    session.expire_all()
    campaign = session.scalars(select(Campaign)).one()
    session.commit()
    assert (campaign.auto_retry_hours, campaign.auto_retry_limit) == (12, 2)

    again = page("campaign_edit.py", manager, id=str(campaign.id)).run()
    assert by_label(again.checkbox, "Retry failed recipients automatically").value is True
    assert by_label(again.number_input, "Hours after the campaign finishes").value == 12
    by_label(again.checkbox, "Retry failed recipients automatically").uncheck()
    by_label(again.button, "Save draft").click().run()
    session.expire_all()
    assert session.get(Campaign, campaign.id).auto_retry_hours is None


def test_attribute_condition_narrows_the_count(session, manager, book):
    at = page("campaign_edit.py", manager).run()
    by_label(at.multiselect, "With labels").select("vip").select("customer")
    at.run()
    by_label(at.button, "Add a condition").click().run()
    at.selectbox(key="ce_attr_key_0").select("city")
    at.text_input(key="ce_attr_values_0").input("lisboa")
    at.run()
    assert recipients_metric(at) == "2"


def test_validation_messages_next_to_their_fields(session, manager, book):
    at = page("campaign_edit.py", manager).run()
    by_label(at.text_area, "Message").input("Hi {{nickname}}")
    by_label(at.multiselect, "With labels").select("vip")
    at.run()
    by_label(at.button, "Save draft").click().run()
    messages = [e.value for e in at.error]
    assert "Title must not be empty" in messages  # a sentence, next to its field
    assert any("unknown variable {{nickname}}" in m.lower() for m in messages)
    [summary] = [m for m in messages if m.startswith("Not saved: 2 problems to fix.")]
    assert "- Title must not be empty" in summary and "{{nickname}}" in summary  # all at once
    assert session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_edit_an_existing_campaign(session, manager, book, account):
    from core import campaigns

    campaign = campaigns.create(
        session, manager, {"title": "Old", "message": "Hi", "audience": {"labels": ["customer"]}}
    )
    session.commit()
    at = page("campaign_edit.py", manager, id=str(campaign.id)).run()
    assert not at.exception
    assert by_label(at.text_input, "Title").value == "Old"
    assert recipients_metric(at) == "2"
    by_label(at.text_input, "Title").input("New title")
    by_label(at.button, "Save draft").click().run()
    session.refresh(campaign)
    assert campaign.title == "New title"


def test_send_now_triggers_and_freezes(session, manager, book):
    at = page("campaign_edit.py", manager).run()
    by_label(at.text_input, "Title").input("Now")
    by_label(at.text_area, "Message").input("Hello")
    by_label(at.multiselect, "With labels").select("customer")
    at.run()
    by_label(at.radio, "When").set_value("now").run()
    by_label(at.button, "Save and send now").click().run()
    assert not at.exception
    session.expire_all()
    campaign = session.scalars(select(Campaign)).one()
    assert campaign.status == CampaignStatus.RUNNING
    count = session.scalar(select(func.count()).select_from(CampaignRecipient))
    assert count == 2


def test_confirmation_above_the_threshold(session, manager, book, account):
    account.confirm_above_recipients = 1
    session.commit()
    at = page("campaign_edit.py", manager).run()
    by_label(at.text_input, "Title").input("Big")
    by_label(at.text_area, "Message").input("Hello")
    by_label(at.multiselect, "With labels").select("customer")
    by_label(at.radio, "When").set_value("now")
    at.run()
    assert by_label(at.button, "Save and send now").disabled
    at.checkbox(key="ce_confirm").check().run()
    assert not by_label(at.button, "Save and send now").disabled


def test_list_filters_and_triggers(session, manager, book):
    from core import campaigns

    draft = campaigns.create(
        session, manager, {"title": "Draft one", "message": "Hi", "audience": {"labels": ["vip"]}}
    )
    campaigns.create(
        session, manager, {"title": "Another", "message": "Hi", "audience": {"labels": ["vip"]}}
    )
    session.commit()
    at = page("campaigns.py", manager).run()
    assert not at.exception
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert titles == ["**Another**", "**Draft one**"]
    at.button(key=f"trigger_{draft.id}").click().run()
    assert [s.value for s in at.success] == ["Campaign started."]
    session.refresh(draft)
    assert draft.status == CampaignStatus.RUNNING
    session.commit()  # end the read: SQLite transactions here take the write lock
    by_label(at.selectbox, "Status").select("running").run()
    titles = [m.value for m in at.markdown if m.value.startswith("**")]
    assert titles == ["**Draft one**"]
    assert at.button(key=f"pause_{draft.id}")


def test_viewer_sees_the_list_without_actions_and_cannot_edit(session, viewer, manager, book):
    from core import campaigns

    campaigns.create(
        session, manager, {"title": "T", "message": "Hi", "audience": {"labels": ["vip"]}}
    )
    session.commit()
    at = page("campaigns.py", viewer).run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Open"]
    at = page("campaign_edit.py", viewer).run()
    assert at.error and "may not open this page" in at.error[0].value


def test_an_attribute_condition_can_be_removed(session, manager, book):
    at = page("campaign_edit.py", manager).run()
    by_label(at.multiselect, "With labels").select("vip").select("customer")
    at.run()
    next(b for b in at.button if b.label == "Add a condition").click().run()
    next(b for b in at.button if b.label == "Add a condition").click().run()
    at.selectbox(key="ce_attr_key_0").select("city")
    at.text_input(key="ce_attr_values_0").input("Rio")
    at.text_input(key="ce_attr_values_1").input("second row")
    at.run()
    assert recipients_metric(at) == "2"
    at.button(key="ce_remove_condition_0").click().run()
    assert not at.exception
    assert at.session_state["ce_conditions"] == 1
    assert at.text_input(key="ce_attr_values_0").value == "second row"  # moved up a row
    assert recipients_metric(at) == "4"  # city Rio no longer narrows the audience


def test_the_variable_button_inserts_the_fallback_in_the_readers_language(session, manager, book):
    at = page("campaign_edit.py", manager)
    at.session_state["ui_language"] = "pt_BR"
    at.run()
    [button] = [b for b in at.button if b.label.startswith("{{first_name|")]
    assert button.label == "{{first_name|cliente}}"
    button.click().run()
    assert at.text_area(key="ce_message").value == "{{first_name|cliente}}"


def test_the_preview_shows_the_image_they_will_get(session, manager, book):
    at = page("campaign_edit.py", manager).run()
    by_label(at.text_area, "Message").input("Oi {{name}}")
    by_label(at.multiselect, "With labels").select("vip")
    at.radio(key="ce_media_mode").set_value("url")
    at.run()
    at.text_input(key="ce_media_url").input("https://cdn.example.com/promo.jpg")
    at.run()
    assert not at.exception
    images = [e for e in at.main if type(e).__name__ == "Image"]
    assert len(images) == 2  # one per previewed recipient (two VIPs not opted out)
    assert "https://cdn.example.com/promo.jpg" in str(images[0].proto)
