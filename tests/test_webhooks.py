"""The Evolution webhook receiver: receipts move forward only, opt-outs, connection state, auth.

Deliveries are the JSON Evolution POSTs (tests/evolution_payloads.py), sent over the app's real
HTTP interface (TestClient) to a real database.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.base import utcnow
from core.models import (
    Account,
    AuditLog,
    Campaign,
    CampaignRecipient,
    Contact,
    SenderInstance,
    WebhookEventCount,
)
from core.tracking import handle_delivery, is_opt_out, normalize_keyword, phone_candidates
from tests import evolution_payloads as evo
from tests.builders import (
    make_account,
    make_campaign_row,
    make_contact,
    make_recipient_row,
    make_sender_instance,
)

SECRET = "webhook-secret-123"
HEADERS = {"x-webhook-token": SECRET}


@pytest.fixture
def instance(session: Session, account: Account) -> SenderInstance:
    instance = make_sender_instance(session, account, "main", webhook_secret=SECRET)
    session.commit()
    return instance


@pytest.fixture
def campaign(session: Session, account: Account, instance: SenderInstance) -> Campaign:
    campaign = make_campaign_row(session, account, status="running", instances=[instance])
    session.commit()
    return campaign


def sent_recipient(
    session: Session, campaign: Campaign, instance: SenderInstance, status: str = "sent", **kw: Any
) -> CampaignRecipient:
    recipient = make_recipient_row(
        session,
        campaign,
        status=status,
        provider_message_id=kw.pop("provider_message_id", evo.new_key_id()),
        instance_id=instance.id,
        **kw,
    )
    session.commit()
    return recipient


def post(client: TestClient, instance: SenderInstance, payload: Any, headers=HEADERS, **kw: Any):
    return client.post(f"/webhooks/evolution/{instance.id}", json=payload, headers=headers, **kw)


def current(session: Session, row: Any) -> Any:
    """The row as the database has it now. The read transaction is ended at once: on SQLite
    every transaction holds the write lock, and the app under test needs it."""
    fresh = session.get(type(row), row.id, populate_existing=True)
    session.commit()
    return fresh


def event_counts(session: Session) -> dict[str, int]:
    counts = dict(session.execute(select(WebhookEventCount.event, WebhookEventCount.count)).all())
    session.commit()
    return counts


# -- messages.update ---------------------------------------------------------------------------


@pytest.mark.parametrize("api_version", ["v2", "v1"])
def test_delivery_and_read_receipts_move_the_recipient_forward(
    client, session, instance, campaign, api_version
):
    recipient = sent_recipient(session, campaign, instance)
    key = recipient.provider_message_id

    answer = post(
        client, instance, evo.message_update("main", key, "DELIVERY_ACK", api_version=api_version)
    )
    assert answer.status_code == 200
    assert answer.json() == {"event": "messages.update", "handled": True, "changed": 1}
    row = current(session, recipient)
    assert row.status == "delivered" and row.delivered_at is not None and row.read_at is None
    assert current(session, campaign).delivery_stats["delivered"] == 1

    post(client, instance, evo.message_update("main", key, "READ", api_version=api_version))
    row = current(session, recipient)
    assert row.status == "read" and row.read_at is not None
    stats = current(session, campaign).delivery_stats
    assert stats["read"] == 1 and stats["delivered"] == 0 and stats["total"] == 1


def test_v2_matches_key_id_and_not_the_servers_own_message_id(client, session, instance, campaign):
    recipient = sent_recipient(session, campaign, instance)
    payload = evo.message_update("main", "3EB0NOTOURS", "READ")
    payload["data"]["messageId"] = recipient.provider_message_id  # the server's row id field
    assert post(client, instance, payload).json()["changed"] == 0
    assert current(session, recipient).status == "sent"


def test_repeated_and_out_of_order_receipts_change_nothing(client, session, instance, campaign):
    recipient = sent_recipient(session, campaign, instance)
    key = recipient.provider_message_id
    assert post(client, instance, evo.message_update("main", key, "READ")).json()["changed"] == 1
    read_at = current(session, recipient).read_at
    for status in ("READ", "DELIVERY_ACK", "SERVER_ACK", "ERROR", "PENDING", "READ"):
        answer = post(client, instance, evo.message_update("main", key, status))
        assert answer.status_code == 200 and answer.json()["changed"] == 0
    row = current(session, recipient)
    assert row.status == "read" and row.read_at == read_at and row.delivered_at is not None


@pytest.mark.parametrize("reached", ["sent", "delivered", "read"])
def test_a_deleted_status_changes_nothing_and_does_not_count_in_the_order(
    client, session, instance, campaign, reached
):
    # Evolution 2.3.0-2.3.6 report an update without a status (a message deleted on the phone)
    # as DELETED: no step of the ladder, whenever it comes.
    recipient = sent_recipient(session, campaign, instance, status=reached)
    key = recipient.provider_message_id
    stats = current(session, campaign).delivery_stats
    for _ in range(2):  # twice: Evolution repeats deliveries
        answer = post(client, instance, evo.message_update("main", key, "DELETED"))
        assert answer.status_code == 200 and answer.json()["changed"] == 0
    assert current(session, recipient).status == reached
    assert current(session, campaign).delivery_stats == stats
    if reached == "sent":  # and the receipts around it still count
        post(client, instance, evo.message_update("main", key, "DELIVERY_ACK"))
        assert current(session, recipient).status == "delivered"


def test_a_messages_delete_event_is_accepted_and_changes_no_counts(
    client, session, instance, campaign
):
    # 2.3.7 and 2.4 send a separate `messages.delete` instead.
    recipient = sent_recipient(session, campaign, instance, status="read")
    answer = post(client, instance, evo.message_delete("main", recipient.provider_message_id))
    assert answer.status_code == 200
    assert answer.json() == {"event": "messages.delete", "handled": True, "changed": 0}
    assert current(session, recipient).status == "read"
    assert event_counts(session).get("messages.delete") == 1


def test_the_send_answers_pending_keeps_the_recipient_sent_until_receipts_arrive(
    client, session, instance, campaign
):
    recipient = sent_recipient(session, campaign, instance, status="sent")
    key = recipient.provider_message_id
    for status in ("PENDING", "SERVER_ACK"):
        assert (
            post(client, instance, evo.message_update("main", key, status)).json()["changed"] == 0
        )
    assert current(session, recipient).status == "sent"


def test_played_counts_as_read(client, session, instance, campaign):
    recipient = sent_recipient(session, campaign, instance)
    post(client, instance, evo.message_update("main", recipient.provider_message_id, "PLAYED"))
    assert current(session, recipient).status == "read"


def test_error_fails_a_sent_message_but_never_a_delivered_one(client, session, instance, campaign):
    sent = sent_recipient(session, campaign, instance)
    delivered = sent_recipient(session, campaign, instance, status="delivered")
    for recipient in (sent, delivered):
        post(client, instance, evo.message_update("main", recipient.provider_message_id, "ERROR"))
    failed = current(session, sent)
    assert failed.status == "failed" and failed.failed_at is not None
    assert failed.error_kind == "whatsapp_error" and failed.last_error
    assert current(session, delivered).status == "delivered"
    # A delivery receipt after the error is the better news: the message did arrive.
    post(client, instance, evo.message_update("main", sent.provider_message_id, "DELIVERY_ACK"))
    assert current(session, sent).status == "delivered"


def test_receipts_never_touch_queued_claimed_or_skipped_recipients(
    client, session, instance, campaign
):
    rows = [
        sent_recipient(session, campaign, instance, status=s)
        for s in ("pending", "sending", "skipped")
    ]
    for row in rows:
        post(client, instance, evo.message_update("main", row.provider_message_id, "READ"))
    assert [current(session, row).status for row in rows] == ["pending", "sending", "skipped"]


def test_an_unknown_recipient_is_confirmed_by_a_receipt(client, session, instance, campaign):
    recipient = sent_recipient(session, campaign, instance, status="unknown")
    post(client, instance, evo.message_update("main", recipient.provider_message_id, "SERVER_ACK"))
    row = current(session, recipient)
    assert row.status == "sent" and row.sent_at is not None


def test_unknown_message_ids_are_acknowledged_and_ignored(client, session, instance, campaign):
    recipient = sent_recipient(session, campaign, instance)
    answer = post(client, instance, evo.message_update("main", evo.new_key_id(), "READ"))
    assert answer.status_code == 200 and answer.json()["changed"] == 0
    assert current(session, recipient).status == "sent"


def test_a_list_of_updates_in_one_delivery_refreshes_stats_once(
    client, session, instance, campaign
):
    recipients = [sent_recipient(session, campaign, instance) for _ in range(3)]
    payload = evo.message_update("main", recipients[0].provider_message_id, "DELIVERY_ACK")
    payload["data"] = [
        evo.message_update("main", r.provider_message_id, status)["data"]
        for r, status in zip(recipients, ("DELIVERY_ACK", "READ", "READ"), strict=True)
    ]
    assert post(client, instance, payload).json()["changed"] == 3
    stats = current(session, campaign).delivery_stats
    assert (stats["delivered"], stats["read"], stats["sent"]) == (1, 2, 0)


def test_an_instance_cannot_update_another_instances_or_accounts_messages(
    client, session, account, instance, campaign
):
    other_instance = make_sender_instance(session, account, "second", webhook_secret="other-secret")
    theirs = sent_recipient(session, campaign, other_instance)
    other_account = make_account(session, "Other shop")
    foreign_instance = make_sender_instance(session, other_account, "foreign")
    foreign_campaign = make_campaign_row(session, other_account, instances=[foreign_instance])
    foreign = sent_recipient(session, foreign_campaign, foreign_instance)
    for row in (theirs, foreign):
        answer = post(client, instance, evo.message_update("main", row.provider_message_id, "READ"))
        assert answer.json()["changed"] == 0
        assert current(session, row).status == "sent"


@given(
    statuses=st.lists(
        st.sampled_from(["ERROR", "PENDING", "SERVER_ACK", "DELIVERY_ACK", "READ", "PLAYED"]),
        min_size=1,
        max_size=8,
    )
)
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_final_state_is_the_highest_state_whatever_the_order(session, instance, campaign, statuses):
    recipient = sent_recipient(session, campaign, instance)
    for status in statuses:
        body = json.dumps(evo.message_update("main", recipient.provider_message_id, status))
        handle_delivery(session, instance.id, body.encode(), HEADERS)
        session.commit()
    implied = {"ERROR": "failed", "PENDING": "sent", "SERVER_ACK": "sent"}
    ladder = ["sent", "failed", "delivered", "read"]
    expected = max(
        (implied.get(s, "delivered" if s == "DELIVERY_ACK" else "read") for s in statuses),
        key=ladder.index,
    )
    assert current(session, recipient).status == expected


# -- messages.upsert: opt-outs -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["STOP", "stop", "Sáir", "  cancelar! ", "ＳＴＯＰ", "Unsubscribe.", "parar"]
)
def test_opt_out_keywords_ignore_case_accents_and_spacing(text):
    assert is_opt_out(text, ["STOP", "SAIR", "CANCELAR", "UNSUBSCRIBE", "PARAR"])


@pytest.mark.parametrize("text", ["please stop sending", "stopp", "", "   ", "sair daqui"])
def test_other_texts_are_not_opt_outs(text):
    assert not is_opt_out(text, ["STOP", "SAIR"])


def test_normalize_keyword_drops_accents():
    assert normalize_keyword(" Ñandú  Ação ") == "nandu acao"


def test_a_stop_reply_opts_the_contact_out_and_skips_their_queued_messages(
    client, session, account, instance, campaign
):
    contact = make_contact(session, account, phone="+5511999990001", name="Ana")
    other = make_contact(session, account, phone="+5511999990002")
    queued = make_recipient_row(session, campaign, contact=contact, status="pending")
    earlier = make_campaign_row(session, account, status="running", instances=[instance])
    already_sent = make_recipient_row(session, earlier, contact=contact, status="sent")
    paused = make_campaign_row(session, account, status="paused", instances=[instance])
    queued_paused = make_recipient_row(session, paused, contact=contact, status="pending")
    done = make_campaign_row(session, account, status="completed", instances=[instance])
    done_pending = make_recipient_row(session, done, contact=contact, status="pending")
    others_queued = make_recipient_row(session, campaign, contact=other, status="pending")
    session.commit()

    answer = post(client, instance, evo.message_upsert("main", "5511999990001", "Stop"))
    assert answer.status_code == 200 and answer.json()["handled"] is True

    assert current(session, contact).opted_out_at is not None
    assert current(session, other).opted_out_at is None
    assert current(session, queued).status == "skipped"
    assert current(session, queued_paused).status == "skipped"
    assert current(session, already_sent).status == "sent"
    assert current(session, done_pending).status == "pending"  # finished campaigns are history
    assert current(session, others_queued).status == "pending"
    assert current(session, campaign).delivery_stats["skipped"] == 1

    # A repeat delivery of the same reply changes nothing more.
    repeat = post(client, instance, evo.message_upsert("main", "5511999990001", "STOP"))
    assert repeat.json()["changed"] == 0


def test_extended_text_replies_and_brazilian_jids_without_the_ninth_digit(
    client, session, account, instance
):
    contact = make_contact(session, account, phone="+5511987654321")
    session.commit()
    payload = evo.message_upsert("main", "551187654321", "sair", extended=True)
    assert post(client, instance, payload).status_code == 200
    assert current(session, contact).opted_out_at is not None


def test_our_own_messages_other_texts_and_strangers_opt_nobody_out(
    client, session, account, instance
):
    contact = make_contact(session, account, phone="+5511999990003")
    session.commit()
    for payload in (
        evo.message_upsert("main", "5511999990003", "STOP", from_me=True),
        evo.message_upsert("main", "5511999990003", "Obrigado!"),
        evo.message_upsert("main", "5511000000000", "STOP"),
        evo.message_upsert("main", "120363000000000000@g.us", "STOP"),
    ):
        answer = post(client, instance, payload)
        assert answer.status_code == 200 and answer.json()["changed"] == 0
    assert current(session, contact).opted_out_at is None


def test_the_accounts_own_keywords_are_used(client, session, account, instance):
    account.opt_out_keywords = ["BASTA"]
    contact = make_contact(session, account, phone="+5511999990004")
    session.commit()
    post(client, instance, evo.message_upsert("main", "5511999990004", "stop"))
    assert current(session, contact).opted_out_at is None
    post(client, instance, evo.message_upsert("main", "5511999990004", "basta"))
    assert current(session, contact).opted_out_at is not None


def test_phone_candidates():
    assert phone_candidates("5511999990000@s.whatsapp.net") == ["+5511999990000", "+551199990000"]
    assert phone_candidates("14155550100:12@s.whatsapp.net") == ["+14155550100"]
    assert phone_candidates("120363000000000000@g.us") == []
    assert phone_candidates("123456@lid") == []


# -- connection.update ---------------------------------------------------------------------------


def test_connection_update_records_the_instances_state(client, session, instance):
    answer = post(client, instance, evo.connection_update("main", "close", status_reason=401))
    assert answer.status_code == 200 and answer.json()["changed"] == 1
    row = current(session, instance)
    assert row.state == "close" and row.state_checked_at is not None
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "instance.connection"))
    session.commit()
    assert entry is not None and entry.details["to"] == "close"
    # The same state again is not a change.
    assert post(client, instance, evo.connection_update("main", "close")).json()["changed"] == 0


def test_a_broken_number_that_evolution_reports_open_again_is_announced_once(
    client, session, instance
):
    """The receiver and the worker's check share one writer: both announce `instance_up`."""
    from core.models import Notification

    instance.circuit, instance.circuit_reason = "open", "401: the instance's API key was refused"
    instance.circuit_opened_at = utcnow()
    session.commit()
    for _ in range(2):
        post(client, instance, evo.connection_update("main", "open"))
    session.expire_all()
    announced = session.scalars(
        select(Notification.kind).where(Notification.instance_id == instance.id)
    ).all()
    assert announced == ["instance_up"]


def test_evolution_reporting_a_closed_session_open_again_has_the_worker_check_at_once(
    client, session, instance
):
    from core.models import Notification

    instance.circuit, instance.circuit_cause = "open", "session"
    instance.circuit_reason = "500: WhatsApp session is down (Connection Closed)"
    instance.next_check_at = utcnow() + timedelta(minutes=5)
    session.commit()
    before = utcnow()
    post(client, instance, evo.connection_update("main", "open"))
    row = current(session, instance)
    # The worker's check closes the circuit (tests/test_worker_outages); here nothing announces.
    assert row.circuit == "open" and row.next_check_at <= utcnow() and row.next_check_at >= before
    kinds = session.scalars(select(Notification.kind)).all()
    session.commit()
    assert kinds == []


# -- authentication and malformed deliveries ------------------------------------------------------


def jwt(secret: str = SECRET, expires_in: float = 600) -> str:
    now = int(time.time())
    claims = {"iat": now, "exp": now + expires_in, "app": "evolution", "action": "webhook"}
    return evo.sign_hs256(claims, secret)


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({}, "", 401),
        ({"x-webhook-token": "wrong"}, "", 401),
        ({"X-Webhook-Token": SECRET}, "", 200),
        ({"Authorization": f"Bearer {jwt()}"}, "", 200),
        ({"Authorization": f"Bearer {jwt(secret='other')}"}, "", 401),
        ({"Authorization": f"Bearer {jwt(expires_in=-3600)}"}, "", 401),
        ({"Authorization": "Bearer not.a.jwt"}, "", 401),
        ({"Authorization": f"Bearer {SECRET}"}, "", 401),
        ({}, f"?token={SECRET}", 200),
        ({}, "?token=wrong", 401),
        ({}, "?token=%C3%A9%E2%82%AC", 401),  # a non-ASCII guess is wrong, not a 500
    ],
)
def test_deliveries_must_carry_the_instances_credentials(
    client, session, instance, campaign, headers, query, expected
):
    recipient = sent_recipient(session, campaign, instance)
    payload = evo.message_update("main", recipient.provider_message_id, "READ")
    answer = client.post(f"/webhooks/evolution/{instance.id}{query}", json=payload, headers=headers)
    assert answer.status_code == expected
    assert current(session, recipient).status == ("read" if expected == 200 else "sent")
    if expected == 401:
        assert SECRET not in answer.text


def test_v1_servers_authenticate_with_the_bodys_apikey(client, session, account):
    instance = make_sender_instance(
        session, account, "v1box", token="v1-token", webhook_secret=None
    )
    campaign = make_campaign_row(session, account, instances=[instance])
    recipient = sent_recipient(session, campaign, instance)
    key = recipient.provider_message_id
    wrong = evo.message_update("v1box", key, "READ", api_version="v1", apikey="nope")
    assert post(client, instance, wrong, headers={}).status_code == 401
    right = evo.message_update("v1box", key, "READ", api_version="v1", apikey="v1-token")
    assert post(client, instance, right, headers={}).status_code == 200
    assert current(session, recipient).status == "read"


def test_unknown_instance_answers_as_a_wrong_secret(client, instance):
    answer = client.post(
        f"/webhooks/evolution/{instance.id + 999}",
        json=evo.connection_update("x", "open"),
        headers=HEADERS,
    )
    assert answer.status_code == 401


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b'"text"', b"{}", b'{"event": ""}', b"\xff\xfe"]
)
def test_malformed_deliveries_are_400_and_change_nothing(client, session, instance, body):
    answer = client.post(
        f"/webhooks/evolution/{instance.id}",
        content=body,
        headers={**HEADERS, "content-type": "application/json"},
    )
    assert answer.status_code == 400
    assert "error" in answer.json()
    assert event_counts(session) == {}


def test_malformed_and_unauthenticated_is_401_not_400(client, instance):
    answer = client.post(f"/webhooks/evolution/{instance.id}", content=b"{nope")
    assert answer.status_code == 401


def test_unknown_events_are_acknowledged_and_counted(client, session, instance):
    payload = evo.envelope("presence.update", "main", {"id": "x", "presences": {}})
    answer = post(client, instance, payload)
    assert answer.status_code == 200
    assert answer.json() == {"event": "presence.update", "handled": False, "changed": 0}
    assert event_counts(session) == {"other": 1}


def test_event_names_in_v1_configuration_style_are_understood(client, session, instance, campaign):
    recipient = sent_recipient(session, campaign, instance)
    payload = evo.message_update("main", recipient.provider_message_id, "DELIVERY_ACK")
    payload["event"] = "MESSAGES_UPDATE"
    assert post(client, instance, payload).json()["changed"] == 1


def test_events_are_counted_by_type(client, session, instance, campaign):
    recipient = sent_recipient(session, campaign, instance)
    for _ in range(2):
        post(client, instance, evo.message_update("main", recipient.provider_message_id, "READ"))
    post(client, instance, evo.connection_update("main", "open"))
    assert event_counts(session) == {"messages.update": 2, "connection.update": 1}


def test_a_bad_data_shape_is_acknowledged_without_changes(client, session, instance, campaign):
    recipient = sent_recipient(session, campaign, instance)
    for data in (None, "text", 42, [1, "x"], {"keyId": 5, "status": "READ"}, {"status": True}):
        payload = evo.envelope("messages.update", "main", data)  # type: ignore[arg-type]
        assert post(client, instance, payload).status_code == 200
    for data in (None, [], {"key": "x"}, {"key": {"fromMe": False}, "message": "STOP"}):
        payload = evo.envelope("messages.upsert", "main", data)  # type: ignore[arg-type]
        assert post(client, instance, payload).status_code == 200
    for data in (None, {"state": 3}, {"state": ""}):
        payload = evo.envelope("connection.update", "main", data)  # type: ignore[arg-type]
        assert post(client, instance, payload).status_code == 200
    assert current(session, recipient).status == "sent"
    assert session.scalar(select(Contact.id)) is None
