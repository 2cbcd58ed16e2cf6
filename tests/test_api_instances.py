"""Sender instance routes over the instance service; the token is write-only everywhere.

The last test runs the real server (uvicorn on a loopback port) against the fake Evolution
server: creating an instance registers its webhook there, and Evolution's deliveries come back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from api.app import create_app
from core.base import reset_settings_cache, utcnow
from core.models import CircuitCause
from tests import evolution_payloads as evo
from tests.builders import make_account, make_api_token, make_sender_instance
from tests.fake_evolution import Fault
from tests.worker_harness import free_port

TOKEN = "evo-secret-token-123456"


@pytest.fixture
def headers(session, admin, manager, viewer) -> dict[str, dict[str, str]]:
    tokens = {
        actor.role.value: make_api_token(session, actor) for actor in (admin, manager, viewer)
    }
    session.commit()
    return {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}


def base(account) -> str:
    return f"/api/v1/accounts/{account.id}/whatsapp_api_instances"


def body(**overrides) -> dict:
    return {
        "name": "Main number",
        "base_url": "http://127.0.0.1:9",
        "instance_name": "shop",
        "token": TOKEN,
        "rate_per_minute": 10,
        **overrides,
    }


def test_an_admin_creates_and_the_token_never_comes_back(client, account, headers):
    answer = client.post(base(account), json=body(), headers=headers["admin"])
    assert answer.status_code == 201, answer.text
    instance = answer.json()
    assert instance["name"] == "Main number" and instance["rate_per_minute"] == 10
    assert instance["api_version"] == "v2"
    url = f"{base(account)}/{instance['id']}"
    for response in (
        answer,
        client.get(url, headers=headers["viewer"]),
        client.get(base(account), headers=headers["viewer"]),
        client.patch(url, json={"rate_per_minute": 5}, headers=headers["admin"]),
    ):
        assert response.status_code == 200 or response.status_code == 201
        assert TOKEN not in response.text
        assert "webhook_secret" not in response.text


@pytest.mark.parametrize("role", ["manager", "viewer"])
def test_only_admins_write_instances(client, session, account, headers, role):
    instance = make_sender_instance(session, account, "main")
    session.commit()
    url = f"{base(account)}/{instance.id}"
    assert client.get(url, headers=headers[role]).status_code == 200
    assert client.post(base(account), json=body(), headers=headers[role]).status_code == 403
    assert client.patch(url, json={"name": "x"}, headers=headers[role]).status_code == 403
    assert client.delete(url, headers=headers[role]).status_code == 403
    assert client.post(f"{url}/check", headers=headers[role]).status_code == 403
    assert client.post(f"{url}/reset_circuit", headers=headers[role]).status_code == 403


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"token": ""}, "token"),
        ({"base_url": "evo.example.com"}, "base_url"),
        ({"api_version": "v3"}, "api_version"),
        ({"rate_per_minute": 0}, "rate_per_minute"),
        ({"rate_per_minute": 1000}, "rate_per_minute"),
        ({"window_days": [7]}, "window_days"),
        ({"window_start": "25:00"}, "window_start"),
        ({"typing_max_seconds": 31}, "typing_max_seconds"),
        ({"typing_min_seconds": 4, "typing_max_seconds": 2}, "typing_min_seconds"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_invalid_instances_are_422_naming_the_field(client, account, headers, overrides, field):
    answer = client.post(base(account), json=body(**overrides), headers=headers["admin"])
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"].split(".")[0] == field
    assert TOKEN not in answer.text


def test_a_duplicate_name_is_422(client, account, headers):
    assert client.post(base(account), json=body(), headers=headers["admin"]).status_code == 201
    again = client.post(base(account), json=body(), headers=headers["admin"])
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "name"


def test_patch_without_token_keeps_it_and_delete_is_204(client, session, account, headers):
    created = client.post(base(account), json=body(), headers=headers["admin"]).json()
    url = f"{base(account)}/{created['id']}"
    patched = client.patch(url, json={"name": "Renamed", "token": ""}, headers=headers["admin"])
    assert patched.status_code == 200 and patched.json()["name"] == "Renamed"
    from core.models import SenderInstance
    from core.people import decrypt_secret

    row = session.get(SenderInstance, created["id"])
    assert decrypt_secret(row.token_encrypted) == TOKEN
    session.commit()
    answer = client.delete(url, headers=headers["admin"])
    assert answer.status_code == 204 and answer.content == b""
    assert client.get(url, headers=headers["admin"]).status_code == 404


def test_list_is_paginated(client, session, account, headers):
    for name in ("a", "b", "c"):
        make_sender_instance(session, account, name)
    session.commit()
    page = client.get(base(account), params={"per_page": 2, "page": 2}, headers=headers["viewer"])
    assert page.json()["meta"] == {"count": 3, "page": 2, "per_page": 2}
    assert [i["name"] for i in page.json()["payload"]] == ["c"]


def test_another_accounts_instance_is_404_everywhere(client, session, account, headers):
    other = make_account(session, "Other shop")
    theirs = make_sender_instance(session, other, "secret-number")
    session.commit()
    url = f"{base(account)}/{theirs.id}"
    admin = headers["admin"]
    answers = [
        client.get(url, headers=admin),
        client.patch(url, json={"name": "x"}, headers=admin),
        client.delete(url, headers=admin),
        client.post(f"{url}/check", headers=admin),
        client.post(f"{url}/reset_circuit", headers=admin),
        client.post(f"{url}/register_webhook", headers=admin),
        client.get(base(other), headers=admin),
    ]
    assert [a.status_code for a in answers] == [404] * len(answers)
    assert all("secret-number" not in a.text for a in answers)


def test_check_asks_evolution_and_stores_the_state(client, account, headers, fake_evolution):
    fake = fake_evolution.add_instance("shop", token=TOKEN, state="connecting")
    created = client.post(
        base(account), json=body(base_url=fake_evolution.base_url), headers=headers["admin"]
    ).json()
    url = f"{base(account)}/{created['id']}"
    answer = client.post(f"{url}/check", headers=headers["admin"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "connecting" and answer.json()["error"] is None
    assert answer.json()["instance"]["state"] == "connecting"
    fake_evolution.set_token(fake.name, "changed-on-the-server")
    broken = client.post(f"{url}/check", headers=headers["admin"]).json()
    assert broken["state"] == "unreachable" and broken["error"]
    assert TOKEN not in str(broken)


def test_typing_presence_is_set_and_shown(client, account, headers):
    created = client.post(
        base(account),
        json=body(typing_min_seconds=1.5, typing_max_seconds=4),
        headers=headers["admin"],
    ).json()
    assert (created["typing_min_seconds"], created["typing_max_seconds"]) == (1.5, 4.0)
    url = f"{base(account)}/{created['id']}"
    off = client.patch(
        url, json={"typing_min_seconds": 0, "typing_max_seconds": 0}, headers=headers["admin"]
    )
    assert (off.json()["typing_min_seconds"], off.json()["typing_max_seconds"]) == (0.0, 0.0)


def test_a_server_not_activated_is_shown_with_the_page_to_activate_it(
    client, account, headers, fake_evolution
):
    fake_evolution.add_instance("shop", token=TOKEN)
    created = client.post(
        base(account), json=body(base_url=fake_evolution.base_url), headers=headers["admin"]
    ).json()
    url = f"{base(account)}/{created['id']}"
    gate = fake_evolution.fail(Fault.LICENSE_REQUIRED)

    answer = client.post(f"{url}/check", headers=headers["admin"]).json()

    register_url = f"{fake_evolution.base_url}/manager/login"
    assert answer["state"] == "not_activated" and "LICENSE_REQUIRED" in answer["error"]
    assert answer["instance"]["activation_url"] == register_url
    assert answer["instance"]["state"] == "not_activated"
    gate.clear()
    again = client.post(f"{url}/check", headers=headers["admin"]).json()
    assert again["state"] == "open" and again["instance"]["activation_url"] is None


def test_a_check_that_sees_the_server_answer_again_closes_its_circuit(
    client, session, account, headers, fake_evolution
):
    fake_evolution.add_instance("shop", token=TOKEN)
    created = client.post(
        base(account), json=body(base_url=fake_evolution.base_url), headers=headers["admin"]
    ).json()
    from core.sending._outcome_rules import stop_instance

    assert stop_instance(session, created["id"], "502 Bad Gateway", utcnow(), CircuitCause.SERVER)
    session.commit()
    shown = client.get(f"{base(account)}/{created['id']}", headers=headers["viewer"]).json()
    assert shown["circuit"] == "open" and shown["circuit_cause"] == "server"
    assert shown["next_check_at"] is not None

    answer = client.post(f"{base(account)}/{created['id']}/check", headers=headers["admin"])

    assert answer.json()["instance"]["circuit"] == "closed"
    assert answer.json()["instance"]["next_check_at"] is None


def test_reset_circuit(client, session, account, headers):
    instance = make_sender_instance(session, account, "main", circuit="open", circuit_reason="401")
    session.commit()
    answer = client.post(f"{base(account)}/{instance.id}/reset_circuit", headers=headers["admin"])
    assert answer.status_code == 200
    assert answer.json()["circuit"] == "closed" and answer.json()["circuit_reason"] is None


# -- the real thing: uvicorn + the fake Evolution server -----------------------------------------


@pytest.fixture
def live_api(engine, monkeypatch) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("PUBLIC_API_URL", url)
    reset_settings_cache()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def test_a_created_instance_registers_its_webhook_and_evolutions_deliveries_are_accepted(
    live_api, session, account, admin, fake_evolution
):
    token = make_api_token(session, admin)
    session.commit()
    fake_evolution.add_instance("shop", token=TOKEN)
    created = httpx.post(
        f"{live_api}{base(account)}",
        json=body(base_url=fake_evolution.base_url),
        headers={"api_access_token": token},
    )
    assert created.status_code == 201, created.text
    assert created.json()["webhook_url"] == f"{live_api}/webhooks/evolution/{created.json()['id']}"
    assert created.json()["webhook_registered_at"] is not None

    delivered = fake_evolution.deliver_webhook("shop", evo.connection_update("shop", "close"))
    assert delivered.status_code == 200, delivered.text
    state = httpx.get(
        f"{live_api}{base(account)}/{created.json()['id']}", headers={"api_access_token": token}
    ).json()["state"]
    assert state == "close"
    # Without the registered header, Evolution's delivery would be refused.
    forged = httpx.post(
        created.json()["webhook_url"], json=evo.connection_update("shop", "open"), timeout=10
    )
    assert forged.status_code == 401
