"""Request bodies are limited while they are read, before the token is checked (issue 16,
item 4): 413 with a JSON error, per route (JSON API, webhook, CSV import)."""

from __future__ import annotations

import pytest

from core.base import reset_settings_cache
from tests.builders import make_api_token, make_sender_instance

SECRET = "webhook-secret-123"


@pytest.fixture
def limits(monkeypatch):
    monkeypatch.setenv("MAX_BODY_BYTES", "2000")
    monkeypatch.setenv("MAX_WEBHOOK_BODY_BYTES", "4000")
    monkeypatch.setenv("MAX_IMPORT_BODY_BYTES", "20000")
    reset_settings_cache()
    yield
    reset_settings_cache()


@pytest.fixture
def world(session, account, manager):
    instance = make_sender_instance(session, account, "main", webhook_secret=SECRET)
    headers = {"api_access_token": make_api_token(session, manager)}
    session.commit()
    return {"instance": instance, "headers": headers}


def chunks(total: int, size: int = 500):
    """A body without Content-Length (chunked), sent as the server reads it."""
    for _ in range(total // size):
        yield b" " * size


def contacts(account) -> str:
    return f"/api/v1/accounts/{account.id}/contacts"


def assert_413(answer, limit: int) -> None:
    assert answer.status_code == 413, answer.text
    assert answer.json() == {"error": f"the request body is larger than the limit of {limit} bytes"}


def test_a_declared_length_over_the_limit_is_413_before_the_token(client, account, limits):
    answer = client.post(
        contacts(account), content=b" " * 2001, headers={"content-type": "application/json"}
    )
    assert_413(answer, 2000)


def test_a_chunked_body_over_the_limit_is_413_before_the_token(client, account, limits):
    answer = client.post(
        contacts(account), content=chunks(10_000), headers={"content-type": "application/json"}
    )
    assert_413(answer, 2000)


def test_a_body_within_the_limit_reaches_the_route(client, account, world, limits):
    answer = client.post(
        contacts(account), json={"phone": "+5511999990001"}, headers=world["headers"]
    )
    assert answer.status_code == 201, answer.text
    no_token = client.post(contacts(account), json={"phone": "+5511999990002"})
    assert no_token.status_code == 401


def test_the_webhook_has_its_own_limit(client, world, limits):
    url = f"/webhooks/evolution/{world['instance'].id}"
    big = b'{"event": "connection.update", "data": {"state": "open"}, "x": "' + b"a" * 3000 + b'"}'
    assert client.post(url, content=big, headers={"x-webhook-token": SECRET}).status_code == 200
    assert_413(client.post(url, content=b" " * 4001), 4000)
    answer = client.post(url, content=chunks(10_000), headers={"x-webhook-token": SECRET})
    assert_413(answer, 4000)


def test_the_csv_import_has_its_own_limit(client, account, world, limits):
    url = f"{contacts(account)}/import"
    rows = "".join(f"+55119999{i:05d}\n" for i in range(600)).encode()  # about 9 kB
    ok = client.post(
        url, files={"file": ("c.csv", b"phone\n" + rows, "text/csv")}, headers=world["headers"]
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["created"] == 600
    too_big = client.post(
        url,
        files={"file": ("c.csv", b"phone\n" + rows * 3, "text/csv")},
        headers=world["headers"],
    )
    assert_413(too_big, 20000)


def test_the_default_limits(settings_env):
    from core.base import get_settings

    reset_settings_cache()
    settings = get_settings()
    assert settings.max_body_bytes == 1 << 20
    assert settings.max_webhook_body_bytes == 4 << 20
    assert settings.max_import_body_bytes == 50 << 20
