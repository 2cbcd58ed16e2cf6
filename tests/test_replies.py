"""Replies counted per campaign: a contact's message within the account's reply window of a
send counts once, for the most recent campaign that reached them, over the real webhook route
(TestClient) into a real database. Opt-out keywords opt out and are not replies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from core import people, tracking
from core.base import utcnow
from core.models import Account, Campaign, CampaignRecipient, SenderInstance
from tests import evolution_payloads as evo
from tests.builders import make_campaign_row, make_contact, make_recipient_row, make_sender_instance

SECRET = "webhook-secret-replies"
HEADERS = {"x-webhook-token": SECRET}
PHONE = "+5511999990001"


@pytest.fixture
def instance(session: Session, account: Account) -> SenderInstance:
    instance = make_sender_instance(session, account, "main", webhook_secret=SECRET)
    session.commit()
    return instance


def campaign(session, account, instance, status: str = "completed") -> Campaign:
    return make_campaign_row(
        session, account, status=status, instances=[instance],
        started_at=utcnow() - timedelta(days=10),
    )  # fmt: skip


def reached(session, row: Campaign, contact, *, ago: timedelta, status="delivered", **kw: Any):
    recipient = make_recipient_row(
        session, row, contact=contact, status=status, sent_at=utcnow() - ago, **kw
    )
    session.commit()
    return recipient


def reply(client, instance, text: str = "Quero saber mais!", number: str = PHONE[1:], **kw):
    answer = client.post(
        f"/webhooks/evolution/{instance.id}",
        json=evo.message_upsert("main", number, text, **kw),
        headers=HEADERS,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def fresh(session: Session, row: Any) -> Any:
    found = session.get(type(row), row.id, populate_existing=True)
    session.commit()  # SQLite: never keep the write lock the app needs
    return found


def test_a_reply_counts_once_for_the_latest_campaign_that_reached_the_contact(
    client, session, account, instance
):
    contact = make_contact(session, account, phone=PHONE, name="Ana")
    older = campaign(session, account, instance)
    latest = campaign(session, account, instance)
    first = reached(session, older, contact, ago=timedelta(days=2))
    second = reached(session, latest, contact, ago=timedelta(hours=5), status="read")

    assert reply(client, instance)["changed"] == 1
    assert reply(client, instance, "E o preço?")["changed"] == 0  # once per recipient

    assert fresh(session, second).replied_at is not None
    assert fresh(session, first).replied_at is None  # never an older campaign
    assert fresh(session, latest).delivery_stats["replied"] == 1
    assert fresh(session, older).delivery_stats.get("replied", 0) == 0


def test_a_reply_after_the_window_or_before_any_send_counts_for_nobody(
    client, session, account, instance
):
    contact = make_contact(session, account, phone=PHONE)
    stale = reached(session, campaign(session, account, instance), contact, ago=timedelta(days=4))
    queued = make_recipient_row(
        session, campaign(session, account, instance, "running"), contact=contact, status="pending"
    )
    session.commit()

    assert reply(client, instance)["changed"] == 0

    assert fresh(session, stale).replied_at is None and fresh(session, queued).replied_at is None


def test_the_window_is_the_accounts_setting(client, session, account, admin, instance):
    people.update_account_settings(session, admin, {"reply_window_days": 7})
    session.commit()
    contact = make_contact(session, account, phone=PHONE)
    row = reached(session, campaign(session, account, instance), contact, ago=timedelta(days=5))

    assert reply(client, instance)["changed"] == 1
    assert fresh(session, row).replied_at is not None
    with pytest.raises(Exception, match="reply_window_days"):
        people.update_account_settings(session, admin, {"reply_window_days": 0})


def test_an_opt_out_keyword_opts_out_and_is_not_a_reply(client, session, account, instance):
    contact = make_contact(session, account, phone=PHONE)
    row = reached(session, campaign(session, account, instance), contact, ago=timedelta(hours=1))

    reply(client, instance, "Parar")

    assert fresh(session, contact).opted_out_at is not None
    assert fresh(session, row).replied_at is None


def test_our_own_messages_test_sends_and_strangers_are_not_replies(
    client, session, account, instance
):
    contact = make_contact(session, account, phone=PHONE)
    test_send = reached(
        session, campaign(session, account, instance), contact, ago=timedelta(hours=1),
        is_test=True,
    )  # fmt: skip

    reply(client, instance, from_me=True)
    reply(client, instance)  # the only send was a test
    reply(client, instance, number="5511988887777")  # not a contact

    assert fresh(session, test_send).replied_at is None


def test_replies_reach_the_campaign_page_the_dashboard_and_the_recipient_log(
    client, session, account, admin, instance
):
    row = campaign(session, account, instance)
    recipients = []
    for n in range(4):
        contact = make_contact(session, account, phone=f"+55119999900{n:02d}")
        recipients.append(reached(session, row, contact, ago=timedelta(hours=2)))
    reply(client, instance, number="5511999990000")
    reply(client, instance, number="5511999990003", extended=True)

    progress = tracking.campaign_progress(session, admin, row.id, utcnow())
    assert progress.replied == 2 and progress.reply_rate == 0.5
    totals = tracking.message_totals(session, admin, utcnow() - timedelta(days=1), utcnow())
    assert totals.replied == 2 and totals.reply_rate == 0.5
    log, _ = tracking.recipient_log(session, admin, row.id)
    assert [r.replied_at is not None for r in log] == [True, False, False, True]
    exported = [
        dict(zip(tracking.EXPORT_HEADERS, values, strict=True))
        for values in tracking.recipient_export_rows(session, admin, row.id)
    ]
    assert [e["replied_at"] is not None for e in exported] == [True, False, False, True]
    session.commit()
    assert len({r.id for r in recipients}) == 4
    assert fresh(session, row).delivery_stats["replied"] == 2
    assert isinstance(fresh(session, recipients[0]), CampaignRecipient)
