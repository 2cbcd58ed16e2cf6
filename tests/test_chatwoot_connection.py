"""Connecting an account to Chatwoot: the token encrypted and write-only, "test connection"
over real HTTP against the fake Chatwoot, admins only, from the core, the API and the CLI."""

from __future__ import annotations

import io
import sys

import pytest
from sqlalchemy import select

from core import crm
from core.base import NotFound, PermissionDenied, ValidationError
from core.cli import main
from core.models import AuditLog, ChatwootLink
from core.people import decrypt_secret
from tests.builders import make_api_token
from tests.fake_chatwoot import FakeChatwoot
from tests.fake_chatwoot import fake_chatwoot as fake_chatwoot  # noqa: F401  (fixture)


@pytest.fixture
def cw(fake_chatwoot: FakeChatwoot):
    acct = fake_chatwoot.add_account("Loja no Chatwoot")
    acct.add_inbox("WhatsApp vendas", "Channel::Api")
    acct.add_inbox("Site", "Channel::WebWidget")
    return acct


def connect(session, actor, fake, acct, **extra):
    data = {"base_url": fake.base_url, "chatwoot_account_id": acct.id, "token": acct.token}
    link = crm.connect_chatwoot(session, actor, data | extra)
    session.commit()
    return link


def test_connecting_stores_the_token_encrypted_and_never_shows_it(
    session, admin, fake_chatwoot, cw
):
    link = connect(session, admin, fake_chatwoot, cw)

    stored = session.scalar(select(ChatwootLink.token_encrypted))
    assert cw.token not in stored and decrypt_secret(stored) == cw.token
    settings = crm.chatwoot_settings(session, admin)
    assert settings.token == crm.TOKEN_MASK and cw.token not in repr(settings)
    assert settings.sync_every_minutes == 15 and settings.next_sync_at is not None
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "chatwoot.connected")).one()
    assert cw.token not in str(audit.details) and str(link.id) == audit.object_id


def test_test_connection_shows_the_account_name_and_its_inboxes(session, admin, fake_chatwoot, cw):
    connect(session, admin, fake_chatwoot, cw)

    check = crm.test_connection(session, admin)

    assert check.ok and check.account_name == "Loja no Chatwoot"
    assert [(i.name, i.channel_type) for i in check.inboxes] == [
        ("WhatsApp vendas", "Channel::Api"),
        ("Site", "Channel::WebWidget"),
    ]
    assert fake_chatwoot.requests("accounts#show")[0].access_token == cw.token


def test_a_wrong_token_fails_the_test_without_showing_the_token(session, admin, fake_chatwoot, cw):
    connect(session, admin, fake_chatwoot, cw, token="not-the-right-token")

    check = crm.test_connection(session, admin)

    assert not check.ok and check.account_name is None
    assert "401" in check.error and "Invalid Access Token" in check.error
    assert "not-the-right-token" not in check.error


def test_a_blank_token_keeps_the_stored_one_and_every_field_is_checked(
    session, admin, fake_chatwoot, cw
):
    connect(session, admin, fake_chatwoot, cw)
    crm.connect_chatwoot(session, admin, {"token": "", "sync_every_minutes": 0})
    session.commit()
    assert decrypt_secret(session.scalar(select(ChatwootLink.token_encrypted))) == cw.token
    assert crm.chatwoot_settings(session, admin).next_sync_at is None  # the schedule is off

    with pytest.raises(ValidationError) as caught:
        crm.connect_chatwoot(
            session,
            admin,
            {"base_url": "ftp://x", "chatwoot_account_id": "abc", "sync_every_minutes": -1},
        )
    assert {e["field"] for e in caught.value.errors} == {
        "base_url",
        "chatwoot_account_id",
        "sync_every_minutes",
    }


def test_connecting_needs_every_field_the_first_time(session, admin):
    with pytest.raises(ValidationError) as caught:
        crm.connect_chatwoot(session, admin, {"base_url": "https://chat.example.com"})
    assert {e["field"] for e in caught.value.errors} == {"chatwoot_account_id", "token"}
    assert session.scalar(select(ChatwootLink)) is None


def test_only_admins_connect_or_test(session, manager, viewer, fake_chatwoot, cw):
    for actor in (manager, viewer):
        with pytest.raises(PermissionDenied):
            connect(session, actor, fake_chatwoot, cw)
        with pytest.raises(PermissionDenied):
            crm.test_connection(session, actor)


def test_the_api_connects_tests_and_never_returns_the_token(
    client, session, admin, manager, fake_chatwoot, cw, account
):
    admin_headers = {"api_access_token": make_api_token(session, admin)}
    manager_headers = {"api_access_token": make_api_token(session, manager)}
    session.commit()
    url = f"/api/v1/accounts/{account.id}/chatwoot"
    body = {"base_url": fake_chatwoot.base_url, "chatwoot_account_id": cw.id, "token": cw.token}

    assert client.get(url, headers=admin_headers).status_code == 404
    assert client.put(url, json=body, headers=manager_headers).status_code == 403
    answer = client.put(url, json=body, headers=admin_headers)
    assert answer.status_code == 200, answer.text
    assert cw.token not in answer.text and answer.json()["token"] == crm.TOKEN_MASK
    got = client.get(url, headers=admin_headers)
    assert got.status_code == 200 and cw.token not in got.text
    check = client.post(url + "/test", headers=admin_headers).json()
    assert check["ok"] and check["account_name"] == "Loja no Chatwoot"
    assert [i["name"] for i in check["inboxes"]] == ["WhatsApp vendas", "Site"]
    bad = client.put(url, json={"base_url": "nope"}, headers=admin_headers)
    assert bad.status_code == 422 and "base_url" in bad.text
    assert client.delete(url, headers=admin_headers).status_code == 204
    assert client.get(url, headers=admin_headers).status_code == 404


def test_the_cli_reads_the_token_from_stdin_and_prints_the_inboxes(
    engine, session, account, fake_chatwoot, cw, capsys, monkeypatch
):
    monkeypatch.setattr(sys, "stdin", io.StringIO(cw.token + "\n"))
    code = main(
        [
            "connect-chatwoot", "--account", str(account.id), "--base-url",
            fake_chatwoot.base_url, "--chatwoot-account", str(cw.id), "--token-stdin",
        ]
    )  # fmt: skip
    out, err = capsys.readouterr()

    assert code == 0, err
    assert "Loja no Chatwoot" in out and "WhatsApp vendas" in out and cw.token not in out
    stored = session.scalar(select(ChatwootLink.token_encrypted))
    assert decrypt_secret(stored) == cw.token


def test_disconnected_accounts_have_nothing_to_test(session, admin):
    assert crm.chatwoot_settings(session, admin) is None
    with pytest.raises(NotFound):
        crm.test_connection(session, admin)
