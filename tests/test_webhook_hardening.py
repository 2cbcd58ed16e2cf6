"""The webhook against strangers (issue 16, items 3, 4 and 9): JWTs need a bounded `exp`, an
unknown instance answers exactly as a wrong secret, a deeply nested body is a 400, and the
secret in the headers is judged before the body is read."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.base import MAX_JSON_DEPTH, utcnow
from core.tracking import MalformedPayload
from core.tracking._delivery import parse_payload
from core.tracking._webhook_auth import verify_hs256
from tests import evolution_payloads as evo
from tests.builders import make_sender_instance

SECRET = "webhook-secret-123"


@pytest.fixture
def instance(session, account):
    instance = make_sender_instance(session, account, "main", webhook_secret=SECRET)
    session.commit()
    return instance


def url(instance_id: int) -> str:
    return f"/webhooks/evolution/{instance_id}"


def token(**claims) -> str:
    return evo.sign_hs256({"app": "evolution", "action": "webhook", **claims}, SECRET)


def test_a_jwt_without_exp_is_refused(client, instance):
    now = int(time.time())
    for claims in ({"iat": now}, {"iat": now, "exp": None}, {"iat": now, "exp": True}):
        answer = client.post(
            url(instance.id),
            json=evo.connection_update("main", "open"),
            headers={"Authorization": f"Bearer {token(**claims)}"},
        )
        assert answer.status_code == 401, claims


def test_a_jwt_valid_for_more_than_an_hour_is_refused(client, instance):
    now = int(time.time())
    too_long = {"Authorization": f"Bearer {token(iat=now, exp=now + 2 * 3600)}"}
    fine = {"Authorization": f"Bearer {token(iat=now, exp=now + 600)}"}
    body = evo.connection_update("main", "open")
    assert client.post(url(instance.id), json=body, headers=too_long).status_code == 401
    assert client.post(url(instance.id), json=body, headers=fine).status_code == 200


def test_verify_bounds_exp_on_both_sides():
    now = utcnow()
    moment = int(now.timestamp())
    sign = lambda exp: evo.sign_hs256({"exp": exp}, SECRET)  # noqa: E731
    assert verify_hs256(sign(moment + 3600), SECRET, now)
    assert not verify_hs256(sign(moment + 3600 + 61), SECRET, now)
    assert verify_hs256(sign(moment - 59), SECRET, now)
    assert not verify_hs256(sign(moment - 61), SECRET, now)
    assert not verify_hs256(sign("soon"), SECRET, now)


@pytest.mark.parametrize(
    ("headers", "query"),
    [({}, ""), ({"x-webhook-token": "guess"}, ""), ({}, "?token=guess")],
)
def test_unknown_and_known_instances_answer_the_same_without_the_secret(
    client, instance, headers, query
):
    body = evo.connection_update("main", "open")
    known = client.post(url(instance.id) + query, json=body, headers=headers)
    unknown = client.post(url(instance.id + 999) + query, json=body, headers=headers)
    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json()


def test_a_deeply_nested_body_is_a_400_for_the_instance_and_a_401_for_strangers(client, instance):
    deep = b"[" * 100_000
    trusted = client.post(url(instance.id), content=deep, headers={"x-webhook-token": SECRET})
    assert trusted.status_code == 400, trusted.text
    assert "nested deeper than 64" in trusted.json()["error"]
    stranger = client.post(url(instance.id), content=deep)
    assert stranger.status_code == 401


def test_a_wrong_secret_is_refused_without_reading_the_body(client, instance):
    read = []

    def body():  # a streamed body: each chunk is only sent when the server reads it
        for _ in range(1000):
            read.append(1)
            yield b"x" * 1000

    answer = client.post(url(instance.id), content=body(), headers={"x-webhook-token": "guess"})
    assert answer.status_code == 401
    assert len(read) <= 1


def test_a_json_api_body_nested_deeply_is_a_4xx(client, account):
    answer = client.post(
        f"/api/v1/accounts/{account.id}/contacts",
        content=b"[" * 100_000,
        headers={"content-type": "application/json"},
    )
    assert 400 <= answer.status_code < 500


# -- the parser, fuzzed -------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300) | JSON.map(lambda v: __import__("json").dumps(v).encode()))
def test_parse_payload_answers_a_payload_or_malformed_and_nothing_else(raw):
    try:
        payload = parse_payload(raw)
    except MalformedPayload as error:
        assert error.field in ("body", "event")
    else:
        assert isinstance(payload, dict) and payload["event"].strip()


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=3000), st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
def test_parse_payload_refuses_exactly_the_depths_past_the_limit(depth, brackets):
    opener, closer = brackets
    raw = b'{"event":"x","data":' + opener * depth + b"1" + closer * depth + b"}"
    if depth + 1 > MAX_JSON_DEPTH:
        with pytest.raises(MalformedPayload, match="nested deeper"):
            parse_payload(raw)
    else:
        assert parse_payload(raw)["event"] == "x"
