"""Sender instances: validation, write-only secrets, access, webhook registration, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import select

from core import instances
from core.base import NotFound, PermissionDenied, ValidationError, reset_settings_cache
from core.cli import main as cli_main
from core.instances._instances import TOKEN_MASK
from core.models import AuditLog, SenderInstance
from core.people import decrypt_secret
from tests.builders import make_account, make_actor
from tests.fake_evolution import FakeEvolution, Fault
from tests.worker_harness import ROOT


def _data(fake: FakeEvolution, **overrides):
    inst = fake.add_instance()
    data = {
        "name": "Sales line",
        "base_url": fake.base_url,
        "instance_name": inst.name,
        "token": inst.token,
    }
    data.update(overrides)
    return data


@pytest.fixture
def public_url(monkeypatch):
    monkeypatch.setenv("PUBLIC_API_URL", "https://campaigns.example.com/")
    reset_settings_cache()


def test_create_encrypts_the_token_and_never_shows_it(session, admin, fake_evolution):
    data = _data(fake_evolution)
    instance = instances.create_instance(session, admin, data)
    assert instance.token_encrypted != data["token"]
    assert decrypt_secret(instance.token_encrypted) == data["token"]
    shown = instances.instance_json(instance)
    assert data["token"] not in json.dumps(shown)
    assert shown["token"] == TOKEN_MASK
    assert "webhook_secret" not in json.dumps(shown)
    assert shown["rate_per_minute"] == 12 and shown["api_version"] == "v2"
    entry = session.scalar(select(AuditLog).where(AuditLog.action == "instance.create"))
    assert entry is not None and data["token"] not in json.dumps(entry.details)


@pytest.mark.parametrize(
    "field,value",
    [
        ("base_url", "ftp://evo"),
        ("base_url", "evo.example.com"),
        ("rate_per_minute", 0),
        ("rate_per_minute", 61),
        ("api_version", "v3"),
        ("daily_cap", -1),
        ("window_start", "25:00"),
        ("window_days", [7]),
        ("name", ""),
        ("token", ""),
    ],
)
def test_bad_fields_are_refused_naming_the_field(session, admin, fake_evolution, field, value):
    with pytest.raises(ValidationError) as error:
        instances.create_instance(session, admin, _data(fake_evolution, **{field: value}))
    assert error.value.field == field or field in str(error.value)


def test_names_are_unique_per_account(session, admin, fake_evolution):
    instances.create_instance(session, admin, _data(fake_evolution))
    with pytest.raises(ValidationError):
        instances.create_instance(session, admin, _data(fake_evolution))


def test_update_keeps_the_token_unless_a_new_one_is_given(session, admin, fake_evolution):
    data = _data(fake_evolution)
    instance = instances.create_instance(session, admin, data)
    instances.update_instance(
        session, admin, instance.id, {"rate_per_minute": 20, "token": "", "window_days": [0, 1]}
    )
    assert decrypt_secret(instance.token_encrypted) == data["token"]
    assert instance.rate_per_minute == 20 and instance.window_days == [0, 1]
    instances.update_instance(session, admin, instance.id, {"token": "new-token"})
    assert decrypt_secret(instance.token_encrypted) == "new-token"


def test_roles_and_accounts(session, account, admin, manager, viewer, fake_evolution):
    instance = instances.create_instance(session, admin, _data(fake_evolution))
    with pytest.raises(PermissionDenied):
        instances.create_instance(session, manager, _data(fake_evolution, name="x"))
    with pytest.raises(PermissionDenied):
        instances.update_instance(session, viewer, instance.id, {"rate_per_minute": 5})
    assert [i.id for i in instances.list_instances(session, viewer)] == [instance.id]
    other = make_account(session, "Other")
    stranger = make_actor(session, other, "admin", "olga")
    with pytest.raises(NotFound):
        instances.get_instance(session, stranger, instance.id)
    assert instances.list_instances(session, stranger) == []


def test_saving_registers_the_webhook_with_the_secret_header(
    session, admin, fake_evolution, public_url
):
    data = _data(fake_evolution)
    instance = instances.create_instance(session, admin, data)
    config = fake_evolution.instance(data["instance_name"]).webhook["webhook"]
    assert config["url"] == f"https://campaigns.example.com/webhooks/evolution/{instance.id}"
    assert set(config["events"]) == {"MESSAGES_UPDATE", "MESSAGES_UPSERT", "CONNECTION_UPDATE"}
    secret = config["headers"]["x-webhook-token"]
    assert decrypt_secret(instance.webhook_secret_encrypted) == secret
    assert instance.webhook_registered_at is not None and instance.webhook_error is None


def test_v1_instances_get_the_flat_webhook_body(session, admin, fake_evolution, public_url):
    inst = fake_evolution.add_instance("old", api_version="v1")
    instance = instances.create_instance(
        session,
        admin,
        {
            "name": "Old",
            "base_url": fake_evolution.base_url,
            "instance_name": "old",
            "token": inst.token,
            "api_version": "v1",
        },
    )
    assert fake_evolution.instance("old").webhook["url"].endswith(f"/{instance.id}")


def test_a_failed_registration_is_recorded_not_raised(session, admin, fake_evolution, public_url):
    fake_evolution.fail(Fault.SERVER_ERROR, routes=["set"], times=1)
    instance = instances.create_instance(session, admin, _data(fake_evolution))
    assert instance.webhook_registered_at is None and instance.webhook_error
    assert instances.register_webhook(session, admin, instance.id) is True
    assert instance.webhook_error is None


def test_a_server_not_activated_is_recognised_when_registering_the_webhook(
    session, admin, fake_evolution, public_url
):
    fake_evolution.fail(Fault.LICENSE_REQUIRED)
    instance = instances.create_instance(session, admin, _data(fake_evolution))

    register_url = f"{fake_evolution.base_url}/manager/login"
    assert instance.webhook_registered_at is None
    assert instance.webhook_error == f"activate this Evolution server (open {register_url})"
    assert instance.activation_url == register_url and instance.state == "not_activated"
    # The worker checks it at once, and stops sending through it (tests/test_worker_outages).
    assert instance.next_check_at is not None and instance.circuit == "closed"
    assert instances.instance_json(instance)["activation_url"] == register_url


def test_without_public_url_nothing_is_registered(session, admin, fake_evolution):
    data = _data(fake_evolution)
    instance = instances.create_instance(session, admin, data)
    assert fake_evolution.instance(data["instance_name"]).webhook is None
    assert "PUBLIC_API_URL" in instance.webhook_error


def test_check_reads_the_connection_state(session, admin, fake_evolution):
    data = _data(fake_evolution)
    instance = instances.create_instance(session, admin, data)
    assert instances.check_instance(session, admin, instance.id).state == "open"
    fake_evolution.set_state(data["instance_name"], "close")
    assert instances.check_instance(session, admin, instance.id).state == "close"
    assert instance.state == "close" and instance.state_checked_at is not None
    fake_evolution.set_token(data["instance_name"], "changed")
    check = instances.check_instance(session, admin, instance.id)
    assert check.state == "unreachable" and "401" in check.error
    assert data["token"] not in check.error


def test_reset_circuit_re_enables_the_number(session, admin, fake_evolution):
    instance = instances.create_instance(session, admin, _data(fake_evolution))
    instance.circuit, instance.circuit_reason = "open", "401: refused"
    instances.reset_circuit(session, admin, instance.id)
    assert instance.circuit == "closed" and instance.circuit_reason is None
    assert session.scalar(select(AuditLog).where(AuditLog.action == "instance.reset_circuit"))


def test_delete(session, admin, fake_evolution):
    instance = instances.create_instance(session, admin, _data(fake_evolution))
    instances.delete_instance(session, admin, instance.id)
    assert session.get(SenderInstance, instance.id) is None


def test_cli_add_instance_prints_the_new_id(session, account, fake_evolution, capsys):
    inst = fake_evolution.add_instance("cli")
    session.commit()
    code = cli_main(
        [
            "add-instance",
            "--account",
            str(account.id),
            "--name",
            "CLI line",
            "--base-url",
            fake_evolution.base_url,
            "--instance-name",
            "cli",
            "--token",
            inst.token,
            "--rate-per-minute",
            "20",
        ]
    )
    out = capsys.readouterr().out.strip()
    assert code == 0 and out.isdigit()
    session.expire_all()
    created = session.get(SenderInstance, int(out))
    assert created.name == "CLI line" and created.rate_per_minute == 20
    assert decrypt_secret(created.token_encrypted) == inst.token


def test_cli_refuses_bad_input_with_a_message(session, account):
    session.commit()
    result = subprocess.run(
        [sys.executable, "-m", "core", "add-instance", "--account", str(account.id),
         "--name", "x", "--base-url", "nope", "--instance-name", "x", "--token", "t"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "base_url" in result.stderr
