"""`/metrics` names every account's numbers and queues: only METRICS_TOKEN's bearer reads it, or,
without a token, a client on this host (issue 16, item 8)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.base import reset_settings_cache
from tests.builders import make_sender_instance

TOKEN = "metrics-secret-0123456789"


@pytest.fixture
def numbered(session, account) -> str:
    make_sender_instance(session, account, name="Secret sales line")
    session.commit()
    return "Secret sales line"


def _client(peer: str) -> Iterator[TestClient]:
    with TestClient(create_app(), client=(peer, 40000)) as test_client:
        yield test_client


@pytest.fixture
def remote(engine) -> Iterator[TestClient]:
    yield from _client("203.0.113.7")


@pytest.fixture
def local(engine) -> Iterator[TestClient]:
    yield from _client("127.0.0.1")


@pytest.fixture
def with_token(monkeypatch) -> None:
    monkeypatch.setenv("METRICS_TOKEN", TOKEN)
    reset_settings_cache()


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer wrong",
        f"Basic {TOKEN}",
        f"Bearer {TOKEN}x",
        "Bearer ñandú".encode("latin-1"),
        f"{TOKEN}",
    ],
)
def test_with_a_token_set_any_other_credential_is_401(
    remote, local, with_token, numbered, authorization
):
    headers = {} if authorization is None else {"Authorization": authorization}
    for client in (remote, local):  # loopback gets no pass either once a token is set
        answer = client.get("/metrics", headers=headers)
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"] == "Bearer"
        assert numbered not in answer.text and "wac_" not in answer.text


def test_the_bearer_of_the_token_reads_the_metrics_from_anywhere(remote, with_token, numbered):
    answer = remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    assert numbered in answer.text


def test_without_a_token_only_loopback_clients_read_them(remote, local, numbered):
    refused = remote.get("/metrics")
    assert refused.status_code == 403 and "METRICS_TOKEN" in refused.json()["error"]
    assert numbered not in refused.text

    answer = local.get("/metrics")
    assert answer.status_code == 200 and numbered in answer.text


@pytest.mark.parametrize("header", ["X-Forwarded-For", "X-Real-IP", "Forwarded"])
def test_without_a_token_a_request_a_proxy_forwarded_is_refused(local, numbered, header):
    answer = local.get("/metrics", headers={header: "203.0.113.7"})
    assert answer.status_code == 403
    assert numbered not in answer.text
