"""API authentication: both header styles, 401 for bad/missing/revoked tokens, 404 across accounts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.base import utcnow
from core.models import ApiToken, User
from core.people import token_digest
from tests.builders import make_account, make_actor, make_api_token


@pytest.fixture
def token(session, manager) -> str:
    token = make_api_token(session, manager)
    session.commit()
    return token


def test_both_header_styles_authenticate(client, account, token):
    for headers in ({"api_access_token": token}, {"Authorization": f"Bearer {token}"}):
        answer = client.get(f"/api/v1/accounts/{account.id}", headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["role"] == "manager"
        assert answer.json()["name"] == "Loja da Ana"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"api_access_token": ""},
        {"api_access_token": "wac_not-a-token"},
        {"Authorization": "Bearer wac_not-a-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ],
)
def test_missing_or_unknown_tokens_are_401(client, account, token, headers):
    answer = client.get(f"/api/v1/accounts/{account.id}", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"]
    assert answer.headers["www-authenticate"] == "Bearer"


def test_a_revoked_token_is_401(client, session, account, token):
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    row.revoked_at = utcnow()
    session.commit()
    answer = client.get(f"/api/v1/accounts/{account.id}", headers={"api_access_token": token})
    assert answer.status_code == 401


def test_a_deactivated_users_token_is_401(client, session, account, manager, token):
    session.get(User, manager.user_id).is_active = False
    session.commit()
    answer = client.get(f"/api/v1/accounts/{account.id}", headers={"api_access_token": token})
    assert answer.status_code == 401


def test_a_used_token_records_when(client, session, account, token):
    client.get(f"/api/v1/accounts/{account.id}", headers={"api_access_token": token})
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    assert row.last_used_at is not None
    session.commit()


def test_token_use_is_recorded_once_a_minute_so_reads_stay_reads(client, session, account, token):
    def last_used():
        session.expire_all()
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
        session.commit()  # end the read: on SQLite it would hold the lock the API needs
        return row.last_used_at

    path = f"/api/v1/accounts/{account.id}/whatsapp_api_campaigns"
    assert client.get(path, headers={"api_access_token": token}).status_code == 200
    first = last_used()
    assert first is not None
    assert client.get(path, headers={"api_access_token": token}).status_code == 200
    assert last_used() == first  # within the minute: no write

    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    row.last_used_at = first - timedelta(minutes=5)
    session.commit()
    assert client.get(path, headers={"api_access_token": token}).status_code == 200
    assert last_used() > first


def test_another_accounts_path_is_404_like_a_missing_account(client, session, account, token):
    other = make_account(session, "Other shop")
    make_actor(session, other, "admin", "olga")
    session.commit()
    for account_id in (other.id, other.id + 100):
        answer = client.get(f"/api/v1/accounts/{account_id}", headers={"api_access_token": token})
        assert answer.status_code == 404
        assert "Other shop" not in answer.text


def test_a_member_of_two_accounts_has_the_role_of_each(client, session, account, manager, token):
    from core.models import Membership, Role

    other = make_account(session, "Second shop")
    session.add(Membership(user_id=manager.user_id, account_id=other.id, role=Role.VIEWER))
    session.commit()
    headers = {"api_access_token": token}
    assert client.get(f"/api/v1/accounts/{account.id}", headers=headers).json()["role"] == "manager"
    assert client.get(f"/api/v1/accounts/{other.id}", headers=headers).json()["role"] == "viewer"


@pytest.mark.parametrize("path", ["/api/v1/accounts/0", "/api/v1/accounts/abc"])
def test_malformed_account_ids_are_422_with_the_field(client, token, path):
    answer = client.get(path, headers={"api_access_token": token})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "account_id"


def test_the_openapi_document_describes_both_auth_schemes(client):
    document = client.get("/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["api_access_token"] == {
        "type": "apiKey",
        "in": "header",
        "name": "api_access_token",
        "description": "An API token (Chatwoot's header convention).",
    }
    assert schemes["bearer"]["scheme"] == "bearer"
    assert client.get("/docs").status_code == 200
