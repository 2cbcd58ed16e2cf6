"""An instance's name is checked and percent-encoded in every URL built from it (issue 16, item 7).

A name such as `x?a=1#` made the worker call `/instance/connectionState/x?a=1`, and `..` reached
other routes of the server. Over real HTTP against the fake Evolution server, which decodes path
parameters as Express does.
"""

from __future__ import annotations

import pytest

from core.messaging import EvolutionClient, EvolutionError
from tests.builders import make_api_token

TOKEN = "evo-token-for-names-123"
BAD_NAMES = ["x?a=1#", "..", ".", "a/b", "a#b", "a%2Fb", "a..b", ".hidden", "a\\b", "a\nb", " "]
GOOD_NAMES = ["shop", "Vendas SP", "loja_1.2-b", "São Paulo"]


@pytest.fixture
def admin_headers(session, admin) -> dict[str, str]:
    token = make_api_token(session, admin)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def _create(client, account, headers, name: str):
    body = {
        "name": "Number",
        "base_url": "http://127.0.0.1:9",
        "instance_name": name,
        "token": TOKEN,
    }
    return client.post(
        f"/api/v1/accounts/{account.id}/whatsapp_api_instances", json=body, headers=headers
    )


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_name_that_could_change_the_url_is_422_naming_instance_name(
    client, account, admin_headers, name
):
    answer = _create(client, account, admin_headers, name)

    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "instance_name"


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_names_evolution_allows_are_accepted(client, account, admin_headers, name):
    answer = _create(client, account, admin_headers, name)
    assert answer.status_code == 201, answer.text
    assert answer.json()["instance_name"] == name


@pytest.mark.parametrize("name", ["x?a=1#", "x#", "x/../x", "..", "%78"])
def test_a_stored_name_never_reaches_another_instance_or_route(fake_evolution, name):
    """Names stored before the check: the client encodes them, so the server sees the whole name."""
    fake_evolution.add_instance("x", token=TOKEN)
    with EvolutionClient(fake_evolution.base_url, name, TOKEN) as client:
        with pytest.raises(EvolutionError) as refused:
            client.connection_state()
        sent = client.send_text("5511999990000", "hello")

    assert refused.value.http_status == 404
    assert not sent.ok
    assert fake_evolution.requests(instance="x") == []
    assert fake_evolution.sends() == []
    assert {r.instance for r in fake_evolution.requests()} == {name}


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_a_name_with_spaces_or_accents_sends_to_its_own_instance(fake_evolution, name):
    fake_evolution.add_instance(name, token=TOKEN)
    with EvolutionClient(fake_evolution.base_url, name, TOKEN) as client:
        assert client.connection_state() == "open"
        assert client.send_text("5511999990000", "hello").ok
        client.register_webhook("http://127.0.0.1:9/webhooks/evolution/1")

    assert [r.route for r in fake_evolution.requests(instance=name)] == [
        "connectionState",
        "sendText",
        "set",
    ]
