"""Stored secrets never reach a new address, and outbound URLs never reach metadata services
(issue 16, item 6).

An admin who may edit a number must not be able to read its Evolution token or webhook secret by
pointing the number at a server of their own, nor use the tool to reach the host's cloud
metadata service. Over real HTTP against two fake Evolution servers.
"""

from __future__ import annotations

import pytest

from core import campaigns, instances, people
from core.base import ValidationError, reset_settings_cache
from core.messaging import EvolutionClient, EvolutionError, Outcome
from core.models import CircuitCause, SenderInstance
from core.people import decrypt_secret
from tests.builders import make_api_token
from tests.fake_evolution import FakeEvolution

OLD_TOKEN = "evo-old-token-0123456789"
NEW_TOKEN = "evo-new-token-9876543210"
METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data",
    "http://[fe80::1]:8080",
    "http://100.100.100.200",
    "http://[fd00:ec2::254]",
    "http://[::ffff:169.254.169.254]",
    "http://0.0.0.0:8080",
]


@pytest.fixture
def admin_headers(session, admin) -> dict[str, str]:
    token = make_api_token(session, admin)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def public_api(monkeypatch) -> None:
    """Webhook registration on: every save sends the webhook secret to the number's server."""
    monkeypatch.setenv("PUBLIC_API_URL", "http://127.0.0.1:9")
    reset_settings_cache()


def _url(account, instance_id=None) -> str:
    url = f"/api/v1/accounts/{account.id}/whatsapp_api_instances"
    return url if instance_id is None else f"{url}/{instance_id}"


def _webhook_secrets(fake: FakeEvolution) -> list[str]:
    return [r.body["webhook"]["headers"]["x-webhook-token"] for r in fake.requests(route="set")]


@pytest.fixture
def created(client, account, admin_headers, fake_evolution, public_api) -> dict:
    fake_evolution.add_instance("shop", token=OLD_TOKEN)
    body = {
        "name": "Main number",
        "base_url": fake_evolution.base_url,
        "instance_name": "shop",
        "token": OLD_TOKEN,
    }
    answer = client.post(_url(account), json=body, headers=admin_headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


@pytest.mark.parametrize(
    ("field", "value"), [("base_url", "http://127.0.0.1:1"), ("instance_name", "other")]
)
@pytest.mark.parametrize("token", [None, ""])
def test_changing_the_address_without_the_token_is_422_naming_token_and_changes_nothing(
    client, session, account, admin_headers, created, field, value, token
):
    change = {field: value} | ({} if token is None else {"token": token})
    answer = client.patch(_url(account, created["id"]), json=change, headers=admin_headers)

    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "token"
    assert field in answer.json()["errors"][0]["message"]
    session.expire_all()
    assert getattr(session.get(SenderInstance, created["id"]), field) == created[field]


def test_the_same_address_saved_again_needs_no_token(client, account, admin_headers, created):
    same = {"base_url": created["base_url"], "instance_name": "shop", "name": "Renamed"}
    answer = client.patch(_url(account, created["id"]), json=same, headers=admin_headers)
    assert answer.status_code == 200, answer.text


def test_the_old_token_and_webhook_secret_never_reach_a_new_address(
    client, session, account, admin_headers, created, fake_evolution
):
    old_secret = _webhook_secrets(fake_evolution)[-1]
    url = _url(account, created["id"])
    with FakeEvolution() as theirs:
        theirs.add_instance("shop", token=NEW_TOKEN)
        moved = {"base_url": theirs.base_url}
        assert client.patch(url, json=moved, headers=admin_headers).status_code == 422
        assert client.post(f"{url}/check", headers=admin_headers).status_code == 200
        assert theirs.apikeys() == []  # the refused change did not move the number

        answer = client.patch(url, json=moved | {"token": NEW_TOKEN}, headers=admin_headers)
        assert answer.status_code == 200, answer.text
        check = client.post(f"{url}/check", headers=admin_headers)
        assert check.json()["state"] == "open"
        client.post(f"{url}/register_webhook", headers=admin_headers)

        assert theirs.apikeys() and set(theirs.apikeys()) == {NEW_TOKEN}
        assert OLD_TOKEN not in str([r.body for r in theirs.requests()])
        new_secrets = _webhook_secrets(theirs)
        assert new_secrets and old_secret not in new_secrets
    session.expire_all()
    row = session.get(SenderInstance, created["id"])
    assert decrypt_secret(row.webhook_secret_encrypted) == new_secrets[-1]


@pytest.mark.parametrize("url", METADATA_URLS)
def test_base_urls_at_metadata_or_link_local_addresses_are_refused(
    client, account, admin_headers, url
):
    body = {"name": "N", "base_url": url, "instance_name": "shop", "token": OLD_TOKEN}
    answer = client.post(_url(account), json=body, headers=admin_headers)

    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "base_url"
    assert "not allowed" in answer.json()["errors"][0]["message"]


@pytest.mark.parametrize("url", METADATA_URLS[:3])
def test_media_and_notification_webhook_urls_at_metadata_addresses_are_refused(
    session, account, admin, url
):
    with pytest.raises(ValidationError) as refused:
        campaigns.validate_multimedia(session, account.id, {"type": "image", "url": url + "/a.png"})
    assert refused.value.field == "multimedia.url"
    with pytest.raises(ValidationError) as refused:
        people.update_account_settings(session, admin, {"notification_webhook_url": url})
    assert refused.value.field == "notification_webhook_url"


def test_loopback_and_private_networks_are_allowed_unless_the_operator_forbids_them(
    session, account, admin, monkeypatch
):
    def add(url: str) -> str:
        fields = {"name": url, "instance_name": "shop", "token": OLD_TOKEN, "base_url": url}
        return instances.create_instance(session, admin, fields).base_url

    nearby = ("http://127.0.0.1:8080", "http://localhost:8080", "http://10.1.2.3")
    assert [add(url) for url in nearby] == list(nearby)

    monkeypatch.setenv("OUTBOUND_ALLOW_PRIVATE", "false")
    reset_settings_cache()
    for url in nearby:
        with pytest.raises(ValidationError, match="OUTBOUND_ALLOW_PRIVATE") as refused:
            add(url + "/again")
        assert refused.value.field == "base_url"
    assert add("http://93.184.215.14") == "http://93.184.215.14"


def test_the_client_judges_the_address_again_before_the_token_goes_out(fake_evolution, monkeypatch):
    """A name that resolved to an allowed address at saving may resolve elsewhere later."""
    fake_evolution.add_instance("shop", token=OLD_TOKEN)
    client = EvolutionClient(f"http://localhost:{fake_evolution.port}", "shop", OLD_TOKEN)
    monkeypatch.setenv("OUTBOUND_ALLOW_PRIVATE", "false")  # localhost is now forbidden
    reset_settings_cache()

    with pytest.raises(EvolutionError) as refused:
        client.connection_state()
    result = client.send_text("5511999990000", "hi")

    assert refused.value.outcome is Outcome.INSTANCE_DOWN
    assert refused.value.result.trouble is CircuitCause.CONFIG
    assert result.outcome is Outcome.INSTANCE_DOWN and "OUTBOUND_ALLOW_PRIVATE" in result.error
    assert fake_evolution.apikeys() == []
    client.close()


def test_the_numbers_page_asks_for_the_token_again_when_the_address_changes(
    session, admin, fake_evolution
):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    fake_evolution.add_instance("shop", token=OLD_TOKEN)
    number = instances.create_instance(
        session,
        admin,
        {"name": "Shop", "base_url": fake_evolution.base_url, "instance_name": "shop",
         "token": OLD_TOKEN},
    )  # fmt: skip
    session.commit()
    view = Path(__file__).resolve().parent.parent / "views" / "instances.py"

    def edit(values: dict[str, str]) -> AppTest:
        at = AppTest.from_file(str(view), default_timeout=30)
        at.session_state["actor"] = admin
        at.run()
        for label, value in values.items():  # the number's edit form comes before "add"
            next(w for w in at.text_input if w.label == label).input(value)
        next(b for b in at.button if b.label == "Save").click().run()
        assert not at.exception
        return at

    refused = edit({"Evolution server URL": "http://127.0.0.1:1"})
    assert any("token" in error.value for error in refused.error)
    session.expire_all()
    assert session.get(SenderInstance, number.id).base_url == fake_evolution.base_url
    session.commit()

    edit({"Evolution server URL": "http://127.0.0.1:1", "API key (token)": NEW_TOKEN})
    session.expire_all()
    row = session.get(SenderInstance, number.id)
    assert row.base_url == "http://127.0.0.1:1" and decrypt_secret(row.token_encrypted) == NEW_TOKEN
