"""Secrets at rest: Fernet encryption, key rotation (old keys still read), re-encryption."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import people
from core.base import reset_settings_cache
from core.cli import main
from core.models import SenderInstance
from core.people import rotate_secrets

EVOLUTION_TOKEN = "B6D711FCDE4D4FD5936544120E713976"


def use_keys(monkeypatch, current: str, previous: str = "") -> None:
    monkeypatch.setenv("SECRET_KEY", current)
    monkeypatch.setenv("SECRET_KEY_PREVIOUS", previous)
    reset_settings_cache()


def add_instance(session, account, token=EVOLUTION_TOKEN, webhook_secret="whsec-123456789"):
    instance = SenderInstance(
        account_id=account.id,
        name=f"number-{token[:4]}",
        base_url="http://evolution.local",
        instance_name="shop",
        token_encrypted=people.encrypt_secret(token),
        webhook_secret_encrypted=people.encrypt_secret(webhook_secret),
    )
    session.add(instance)
    session.commit()
    return instance


def test_a_secret_round_trips_and_is_not_stored_in_clear(monkeypatch):
    use_keys(monkeypatch, "key-one")
    stored = people.encrypt_secret(EVOLUTION_TOKEN)

    assert EVOLUTION_TOKEN not in stored
    assert people.decrypt_secret(stored) == EVOLUTION_TOKEN
    assert people.encrypt_secret(EVOLUTION_TOKEN) != stored  # a fresh IV each time


def test_after_rotation_old_secrets_still_read_and_new_ones_use_the_new_key(monkeypatch):
    use_keys(monkeypatch, "key-one")
    old = people.encrypt_secret(EVOLUTION_TOKEN)

    use_keys(monkeypatch, "key-two", "key-one")
    assert people.decrypt_secret(old) == EVOLUTION_TOKEN
    new = people.encrypt_secret("fresh")

    use_keys(monkeypatch, "key-two")
    assert people.decrypt_secret(new) == "fresh"
    with pytest.raises(people.SecretUnreadable) as caught:
        people.decrypt_secret(old)
    assert EVOLUTION_TOKEN not in str(caught.value)


def test_a_wrong_key_cannot_read_and_says_so_without_the_secret(monkeypatch):
    use_keys(monkeypatch, "key-one")
    stored = people.encrypt_secret(EVOLUTION_TOKEN)
    use_keys(monkeypatch, "someone-else")

    with pytest.raises(people.SecretUnreadable, match="SECRET_KEY_PREVIOUS"):
        people.decrypt_secret(stored)


def test_rotate_secrets_reencrypts_every_instance_secret_under_the_current_key(
    session, account, monkeypatch
):
    use_keys(monkeypatch, "key-one")
    instance = add_instance(session, account)
    use_keys(monkeypatch, "key-two", "key-one")

    report = rotate_secrets(session)
    session.commit()

    assert (report.reencrypted, report.unreadable) == (2, [])
    use_keys(monkeypatch, "key-two")  # the old key can now be dropped
    session.refresh(instance)
    assert people.decrypt_secret(instance.token_encrypted) == EVOLUTION_TOKEN
    assert people.decrypt_secret(instance.webhook_secret_encrypted) == "whsec-123456789"


def test_the_rotate_secrets_command_reports_unreadable_secrets_and_keeps_them(
    session, account, monkeypatch, capsys
):
    use_keys(monkeypatch, "key-one")
    readable = add_instance(session, account)
    use_keys(monkeypatch, "lost-key")
    lost = add_instance(session, account, token="C" * 32)
    lost_stored = lost.token_encrypted
    use_keys(monkeypatch, "key-two", "key-one")

    code = main(["rotate-secrets"])

    out, err = capsys.readouterr()
    assert code == 1
    assert "re-encrypted 2 secret(s)" in out
    assert f"sender_instances {lost.id} token_encrypted" in err
    assert EVOLUTION_TOKEN not in out + err and "C" * 32 not in out + err
    session.expire_all()
    assert session.get(SenderInstance, lost.id).token_encrypted == lost_stored
    use_keys(monkeypatch, "key-two")
    assert people.decrypt_secret(session.get(SenderInstance, readable.id).token_encrypted) == (
        EVOLUTION_TOKEN
    )


def test_the_rotate_secrets_command_succeeds_on_an_empty_database(engine, capsys):
    assert main(["rotate-secrets"]) == 0
    assert "re-encrypted 0" in capsys.readouterr().out


def test_instance_tokens_never_appear_in_the_database_in_clear(session, account, monkeypatch):
    use_keys(monkeypatch, "key-one")
    add_instance(session, account)

    rows = session.execute(select(SenderInstance.__table__)).mappings().all()
    assert rows and EVOLUTION_TOKEN not in repr([dict(r) for r in rows])
