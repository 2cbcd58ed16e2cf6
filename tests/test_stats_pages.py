"""Dashboard, campaign detail and notifications pages (AppTest): the numbers shown are the rows'."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core import notifications
from core.base import utcnow
from core.i18n import format_number, format_percent
from core.models import Campaign, CampaignRecipient, Notification
from core.people import Actor
from tests.builders import make_account
from tests.stats_builders import make_campaign, make_instance, make_recipient

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 30
STATUSES = ["pending", "sent", "delivered", "read", "failed", "unknown", "skipped"]


def page(name: str, actor: Actor, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / name), default_timeout=TIMEOUT)
    at.session_state["actor"] = actor
    for key, value in query.items():
        at.query_params[key] = value
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in at.metric}


@pytest.fixture
def campaign(session, account) -> Campaign:
    """A running campaign whose recipients were sent over the last hours, in every status."""
    rng = random.Random(7)
    now = utcnow()
    instance = make_instance(session, account, name="main", rate_per_minute=12, daily_cap=900)
    campaign = make_campaign(
        session,
        account,
        title="Black Friday",
        instances=[instance],
        started_at=now - timedelta(hours=5),
    )
    for index in range(137):
        status = rng.choice(STATUSES)
        at = now - timedelta(minutes=rng.uniform(1, 240))
        fields: dict = {"instance_id": instance.id}
        if status in ("sent", "delivered", "read"):
            fields.update(sent_at=at, last_attempt_at=at, attempts=1)
        if status in ("delivered", "read"):
            fields["delivered_at"] = at
        if status == "read":
            fields["read_at"] = at
        if status == "failed":
            fields.update(failed_at=at, last_attempt_at=at, attempts=2, error_kind="rejected")
            fields["last_error"] = "HTTP 400: bad number" if index % 2 else "HTTP 400: media"
        if status == "unknown":
            fields.update(
                last_attempt_at=at, attempts=1, error_kind="timeout", last_error="read timeout"
            )
        make_recipient(session, campaign, status, **fields)
    session.commit()
    return campaign


def recipients(session, campaign) -> list[CampaignRecipient]:
    rows = list(
        session.scalars(
            select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign.id)
        )
    )
    session.commit()  # end the read: on SQLite the page's session must be able to begin
    return rows


def test_dashboard_numbers_match_the_recipients(session, campaign, viewer):
    rows = recipients(session, campaign)
    by_status = Counter(row.status for row in rows)
    sent = by_status["sent"] + by_status["delivered"] + by_status["read"]

    at = page("dashboard.py", viewer).run()

    assert not at.exception, at.exception
    shown = metrics(at)
    assert shown["Sent"] == format_number(sent)
    assert shown["Delivered"] == format_number(by_status["delivered"] + by_status["read"])
    assert shown["Read"] == format_number(by_status["read"])
    assert shown["Failed"] == format_number(by_status["failed"])
    assert shown["Unknown"] == format_number(by_status["unknown"])
    delivered = by_status["delivered"] + by_status["read"]
    assert shown["Confirmed delivered"] == format_percent(
        delivered / (sent + by_status["failed"] + by_status["unknown"])
    )
    if sent > delivered:
        assert any(
            f"{sent - delivered} messages sent, not confirmed" in c.value for c in at.caption
        )
    health = at.dataframe[0].value
    assert list(health["Number"]) == ["main"]
    assert list(health["Daily cap"]) == [900]
    done = len(rows) - by_status["pending"]
    assert any(f"{done} of {len(rows)}" in bar.proto.text for bar in at.get("progress"))


def test_dashboard_period_leaves_older_sends_out(session, campaign, viewer):
    at = page("dashboard.py", viewer).run()
    week = metrics(at)["Sent"]
    for row in recipients(session, campaign):
        if row.sent_at:
            row.sent_at -= timedelta(days=10)
    session.commit()

    at.run()
    assert metrics(at)["Sent"] == "0"
    at.radio[0].set_value(30).run()
    assert metrics(at)["Sent"] == week


def test_campaign_detail_shows_the_recipients_numbers(session, campaign, viewer):
    by_status = Counter(row.status for row in recipients(session, campaign))

    at = page("campaign_detail.py", viewer, id=str(campaign.id)).run()

    assert not at.exception, at.exception
    assert at.title[0].value == "Black Friday"
    shown = metrics(at)
    assert shown["Targeted"] == format_number(sum(by_status.values()))
    for status, label in [
        ("sent", "Sent"),
        ("delivered", "Delivered"),
        ("read", "Read"),
        ("failed", "Failed"),
        ("skipped", "Skipped"),
    ]:
        assert shown[label] == format_number(by_status[status]), label
    assert shown["Queued"] == format_number(by_status["pending"])
    assert shown["Rate limit (per minute)"] == "12"
    failures = at.dataframe[0].value
    assert dict(zip(failures["Error"], failures["Recipients"], strict=True)) == dict(
        Counter(
            row.last_error
            for row in recipients(session, campaign)
            if row.status in ("failed", "unknown")
        )
    )
    log = at.dataframe[1].value
    assert len(log) == min(50, sum(by_status.values()))
    first = min(recipients(session, campaign), key=lambda r: r.id)
    assert log["Message"].iloc[0] == first.rendered_text  # what each recipient was sent


def test_recipient_log_filters_by_status(session, campaign, viewer):
    failed = sorted(
        (row for row in recipients(session, campaign) if row.status == "failed"), key=lambda r: r.id
    )
    at = page("campaign_detail.py", viewer, id=str(campaign.id)).run()

    at.multiselect(key="log_statuses").select("failed").run()

    log = at.dataframe[1].value
    assert list(log["Phone"]) == [row.phone for row in failed]
    assert set(log["Status"]) == {"Failed"}
    assert any(f"{len(failed)} recipients match" in caption.value for caption in at.caption)


def test_viewers_get_no_actions_and_managers_must_confirm(session, campaign, viewer, manager):
    at = page("campaign_detail.py", viewer, id=str(campaign.id)).run()
    assert not [button for button in at.button if button.key and button.key.startswith("action_")]

    at = page("campaign_detail.py", manager, id=str(campaign.id)).run()
    assert {
        button.key for button in at.button if button.key and button.key.startswith("action_")
    } == {
        "action_pause",
        "action_cancel",
    }
    at.button(key="action_cancel").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    at.button(key="confirm_no").click().run()
    assert not [w for w in at.warning if "cannot be undone" in w.value]
    assert at.button(key="action_cancel")
    session.refresh(campaign)
    assert campaign.status == "running"
    session.commit()


def test_confirmed_pause_calls_the_campaign_service(session, campaign, manager):
    at = page("campaign_detail.py", manager, id=str(campaign.id)).run()
    at.button(key="action_pause").click().run()
    at.button(key="confirm_yes").click().run()
    assert not at.exception, at.exception
    session.expire_all()
    assert session.get(Campaign, campaign.id).status == "paused"


def test_another_accounts_campaign_is_not_shown(session, viewer):
    other = make_account(session, "Other")
    foreign = make_campaign(session, other, title="Secret plans")
    session.commit()
    at = page("campaign_detail.py", viewer, id=str(foreign.id)).run()
    assert "does not exist" in at.error[0].value
    assert not at.title


def test_notifications_page_lists_and_marks_read(session, account, viewer):
    notifications.notify(session, account.id, "campaign_completed", {"title": "A"})
    notifications.notify(session, account.id, "instance_down", {"name": "main"})
    session.commit()

    at = page("notifications.py", viewer).run()

    assert not at.exception, at.exception
    text = " ".join(block.value for block in at.markdown)
    assert "Campaign 'A' completed" in text and "WhatsApp number 'main' stopped sending" in text
    assert "2 unread of 2" in at.caption[0].value
    newest = session.scalars(select(Notification).order_by(Notification.id.desc())).first()
    session.commit()
    at.button(key=f"read_{newest.id}").click().run()
    assert "1 unread of 2" in at.caption[0].value
    at.button(key="mark_all_read").click().run()
    assert "0 unread of 2" in at.caption[0].value


def _badge_script() -> None:
    import streamlit as st

    from ui.notifications import sidebar_badge

    sidebar_badge(st.session_state["actor"])


def test_sidebar_badge_counts_unread_and_toasts_new_ones(session, account, viewer):
    notifications.notify(session, account.id, "instance_down", {"name": "old"})
    session.commit()
    at = AppTest.from_function(_badge_script, default_timeout=TIMEOUT)
    at.session_state["actor"] = viewer

    at.run()
    assert at.sidebar.button[0].label == "Notifications (1 unread)"
    assert not at.toast  # what was there before the page opened is not news

    notifications.notify(session, account.id, "campaign_completed", {"title": "Promo"})
    session.commit()
    at.run()
    assert at.sidebar.button[0].label == "Notifications (2 unread)"
    assert [toast.value for toast in at.toast] == ["Campaign 'Promo' completed"]


def test_an_action_the_service_refuses_shows_its_reason(session, account, manager):
    finished = make_campaign(
        session, account, title="Done", status="completed", started_at=utcnow()
    )
    make_recipient(session, finished, "sent", sent_at=utcnow())
    session.commit()
    at = page("campaign_detail.py", manager, id=str(finished.id)).run()

    at.button(key="action_retry_failed").click().run()
    at.button(key="confirm_yes").click().run()

    assert "no failed or unknown recipients" in at.error[0].value
    session.expire_all()
    assert session.get(Campaign, finished.id).status == "completed"
    session.commit()
