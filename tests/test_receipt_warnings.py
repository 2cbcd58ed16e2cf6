"""Receipts that cannot or do not arrive are said plainly (core.tracking + the pages, AppTest):
no webhook, a webhook at a loopback address while Evolution is elsewhere, silence well after
sends; and the dashboard never calls unconfirmed sends a success."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import tracking
from core.base import reset_settings_cache, utcnow
from core.tracking import ReceiptTrouble
from tests.stats_builders import make_campaign, make_instance, make_recipient

ROOT = Path(__file__).resolve().parent.parent


def page(name: str, actor, **query: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / name), default_timeout=30)
    at.session_state["actor"] = actor
    for key, value in query.items():
        at.query_params[key] = value
    return at


@pytest.fixture
def public_url(monkeypatch):
    def use(url: str | None) -> None:
        if url is None:
            monkeypatch.delenv("PUBLIC_API_URL", raising=False)
        else:
            monkeypatch.setenv("PUBLIC_API_URL", url)
        reset_settings_cache()

    yield use
    reset_settings_cache()


def registered(session, account, base_url="http://127.0.0.1:8080"):
    instance = make_instance(session, account, webhook_registered_at=utcnow())
    instance.base_url = base_url
    return instance


def test_make_run_registers_webhooks_at_the_local_api(monkeypatch):
    monkeypatch.delenv("PUBLIC_API_URL", raising=False)
    monkeypatch.setenv("LOCAL_WEBHOOKS", "1")
    monkeypatch.setenv("API_PORT", "8123")
    reset_settings_cache()
    from core.base import get_settings

    assert get_settings().public_api_url == "http://127.0.0.1:8123"
    monkeypatch.setenv("PUBLIC_API_URL", "https://campaigns.example.com/")
    reset_settings_cache()
    assert get_settings().public_api_url == "https://campaigns.example.com"  # an explicit one wins
    monkeypatch.delenv("LOCAL_WEBHOOKS")
    monkeypatch.delenv("PUBLIC_API_URL")
    reset_settings_cache()
    assert get_settings().public_api_url is None
    reset_settings_cache()


def test_what_keeps_receipts_away(session, account, public_url):
    public_url("http://127.0.0.1:8000")
    never = make_instance(session, account, "never", webhook_error="PUBLIC_API_URL is not set")
    assert tracking.webhook_trouble(never) is ReceiptTrouble.NOT_REGISTERED
    local = registered(session, account, base_url="http://127.0.0.1:8080")
    assert tracking.webhook_trouble(local) is None  # Evolution on the same machine reaches it
    remote = registered(session, account, base_url="https://evo.example.com")
    assert tracking.webhook_trouble(remote) is ReceiptTrouble.LOCAL_ONLY
    public_url("https://campaigns.example.com")
    assert tracking.webhook_trouble(remote) is None


def test_silence_after_sends_is_a_warning_but_not_before_the_grace(
    session, account, admin, public_url
):
    public_url("http://127.0.0.1:8000")
    instance = registered(session, account)
    campaign = make_campaign(session, account, instances=[instance])
    now = utcnow()
    make_recipient(
        session, campaign, "sent", instance_id=instance.id, sent_at=now - timedelta(minutes=2)
    )
    assert tracking.campaign_receipt_warnings(session, admin, campaign.id, now) == []
    old = now - tracking.RECEIPT_GRACE - timedelta(minutes=1)
    make_recipient(session, campaign, "sent", instance_id=instance.id, sent_at=old)
    [warning] = tracking.campaign_receipt_warnings(session, admin, campaign.id, now)
    assert warning.trouble is ReceiptTrouble.SILENT
    assert tracking.instance_receipt_warning(session, admin, instance.id, now).trouble is (
        ReceiptTrouble.SILENT
    )
    make_recipient(
        session, campaign, "delivered", instance_id=instance.id, sent_at=old, delivered_at=now
    )
    assert tracking.campaign_receipt_warnings(session, admin, campaign.id, now) == []
    assert tracking.instance_receipt_warning(session, admin, instance.id, now) is None


def test_pages_say_why_delivered_stays_at_zero(session, account, admin, public_url):
    public_url(None)
    instance = make_instance(
        session,
        account,
        "loja",
        webhook_error="PUBLIC_API_URL is not set: the webhook was not registered",
    )
    campaign = make_campaign(
        session, account, instances=[instance], started_at=utcnow() - timedelta(hours=1)
    )
    for _ in range(3):
        make_recipient(session, campaign, "sent", instance_id=instance.id, sent_at=utcnow())
    session.commit()

    at = page("instances.py", admin).run()
    assert not at.exception
    [shown] = [w.value for w in at.warning if "webhook is not registered" in w.value]
    assert "PUBLIC_API_URL" in shown and "Re-register webhook" in shown

    at = page("campaign_detail.py", admin, id=str(campaign.id)).run()
    assert not at.exception
    assert any("Delivered and Read will stay at 0 for loja" in w.value for w in at.warning)

    at = page("dashboard.py", admin).run()
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    assert shown["Confirmed delivered"] == "0.0%"  # not "Success rate 100%"
    assert any("3 messages sent, not confirmed" in c.value for c in at.caption)
