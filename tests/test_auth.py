"""Passwords, lock-out, browser sessions, the forced password change, single sign-on mapping."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import people
from core.base import ValidationError, reset_settings_cache, utcnow
from core.models import AuditLog, User, UserSession
from core.people import create_user

PASSWORD = "correct horse battery"


def test_passwords_are_stored_as_argon2_hashes_that_verify_only_the_right_password():
    stored = people.hash_password(PASSWORD)

    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert people.verify_password(stored, PASSWORD)
    assert not people.verify_password(stored, PASSWORD + " ")
    assert not people.verify_password(stored, "")
    assert not people.verify_password(None, PASSWORD)
    assert not people.verify_password("not-a-hash", PASSWORD)
    assert people.hash_password(PASSWORD) != stored  # salted


def test_login_with_the_right_password_starts_a_session_stored_only_as_a_digest(session, admin):
    user, token = people.login(session, "ana", PASSWORD)
    session.commit()

    assert user.id == admin.user_id
    stored = session.scalars(select(UserSession.token_hash)).all()
    assert stored == [people.token_digest(token)]
    assert token not in stored
    assert people.user_for_session(session, token).id == admin.user_id
    assert user.last_login_at is not None


@pytest.mark.parametrize(
    ("username", "password"),
    [("ana", "wrong password!"), ("nobody", PASSWORD), ("", ""), ("ANA", PASSWORD)],
)
def test_wrong_credentials_are_refused_with_one_message(session, admin, username, password):
    with pytest.raises(people.LoginFailed, match="wrong username or password"):
        people.login(session, username, password)
    assert session.scalar(select(UserSession.id)) is None


def test_a_deactivated_user_cannot_log_in_even_with_the_right_password(session, admin):
    session.get(User, admin.user_id).is_active = False
    session.commit()

    with pytest.raises(people.LoginFailed):
        people.login(session, "ana", PASSWORD)


def test_repeated_failures_lock_the_user_out_even_for_the_right_password(
    session, admin, monkeypatch
):
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "3")
    monkeypatch.setenv("LOGIN_LOCKOUT_MINUTES", "15")
    reset_settings_cache()
    now = utcnow()

    for _ in range(2):
        with pytest.raises(people.LoginFailed):
            people.login(session, "ana", "guess guess guess", now)
    people.login(session, "ana", PASSWORD, now)  # a success resets the count
    for _ in range(3):
        with pytest.raises(people.LoginFailed):
            people.login(session, "ana", "guess guess guess", now)
    session.commit()

    with pytest.raises(people.AccountLocked):
        people.login(session, "ana", PASSWORD, now + timedelta(minutes=14))
    user, _token = people.login(session, "ana", PASSWORD, now + timedelta(minutes=15, seconds=1))
    assert user.failed_logins == 0 and user.locked_until is None
    locked = session.scalars(select(AuditLog).where(AuditLog.action == "user.locked")).all()
    assert [(entry.object_id, entry.account_id) for entry in locked] == [
        (str(admin.user_id), admin.account_id)
    ]


def test_failures_below_the_limit_do_not_lock(session, admin, monkeypatch):
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "5")
    reset_settings_cache()
    for _ in range(4):
        with pytest.raises(people.LoginFailed):
            people.login(session, "ana", "guess guess guess")

    people.login(session, "ana", PASSWORD)


def test_sessions_expire_after_the_configured_time(session, admin, monkeypatch):
    monkeypatch.setenv("SESSION_TTL_MINUTES", "30")
    reset_settings_cache()
    now = utcnow()
    _user, token = people.login(session, "ana", PASSWORD, now)
    session.commit()

    assert people.user_for_session(session, token, now + timedelta(minutes=29)) is not None
    assert people.user_for_session(session, token, now + timedelta(minutes=30)) is None
    assert session.scalar(select(UserSession.id)) is None  # the dead session is gone


def test_logout_ends_only_that_session(session, admin):
    _u, first = people.login(session, "ana", PASSWORD)
    _u, second = people.login(session, "ana", PASSWORD)

    people.logout(session, first)

    assert people.user_for_session(session, first) is None
    assert people.user_for_session(session, second) is not None
    assert people.user_for_session(session, "wac_made-up") is None
    assert people.user_for_session(session, None) is None


def test_a_new_user_must_change_the_one_time_password_before_anything_else(session, account):
    create_user(
        session, "dora", "one-time-pass-123", account.id, "manager", must_change_password=True
    )
    _user, token = people.login(session, "dora", "one-time-pass-123")
    assert people.session_context(session, token).must_change_password

    with pytest.raises(ValidationError, match="different"):
        people.change_password(session, _user.id, "one-time-pass-123", "one-time-pass-123", token)
    with pytest.raises(ValidationError, match="at least 10"):
        people.change_password(session, _user.id, "one-time-pass-123", "short", token)
    with pytest.raises(ValidationError, match="current password is wrong"):
        people.change_password(session, _user.id, "not it at all", "a brand new secret", token)
    people.change_password(session, _user.id, "one-time-pass-123", "a brand new secret", token)

    assert not people.session_context(session, token).must_change_password
    with pytest.raises(people.LoginFailed):
        people.login(session, "dora", "one-time-pass-123")
    people.login(session, "dora", "a brand new secret")


def test_changing_the_password_ends_the_other_sessions(session, admin):
    _u, here = people.login(session, "ana", PASSWORD)
    _u, elsewhere = people.login(session, "ana", PASSWORD)

    people.change_password(session, admin.user_id, PASSWORD, "another good password", here)

    assert people.user_for_session(session, here) is not None
    assert people.user_for_session(session, elsewhere) is None
    changed = session.scalar(select(AuditLog).where(AuditLog.action == "user.password_changed"))
    assert changed.object_id == str(admin.user_id)


def test_sso_maps_a_known_email_to_its_user_and_refuses_unknown_ones(session, account):
    create_user(session, "eva", None, account.id, "viewer", email="Eva@Example.com")

    user, token = people.login_sso(session, "eva@EXAMPLE.com")
    assert user.username == "eva"
    assert people.user_for_session(session, token).id == user.id

    with pytest.raises(people.LoginFailed, match="no active user"):
        people.login_sso(session, "stranger@example.com")
    with pytest.raises(people.LoginFailed):
        people.login_sso(session, "")
    assert session.scalar(select(User).where(User.email == "stranger@example.com")) is None


def test_sso_refuses_a_deactivated_user(session, account):
    user = create_user(session, "eva", None, account.id, "viewer", email="eva@example.com")
    user.is_active = False

    with pytest.raises(people.LoginFailed):
        people.login_sso(session, "eva@example.com")


def test_a_user_without_password_cannot_log_in_with_a_password(session, account):
    create_user(session, "eva", None, account.id, "viewer", email="eva@example.com")

    with pytest.raises(people.LoginFailed):
        people.login(session, "eva", "")


def test_session_context_follows_the_chosen_account_and_the_current_role(session, admin):
    from core.models import Membership
    from tests.builders import make_account

    other = make_account(session, "Second client")
    session.add(Membership(user_id=admin.user_id, account_id=other.id, role="viewer"))
    _u, token = people.login(session, "ana", PASSWORD)

    first = people.session_context(session, token)
    chosen = people.session_context(session, token, other.id)
    assert {c.account_id for c in first.accounts} == {admin.account_id, other.id}
    assert (chosen.actor.account_id, chosen.actor.role) == (other.id, "viewer")
    assert (
        people.session_context(session, token, 999_999).actor.account_id == first.actor.account_id
    )


def test_language_is_saved_on_the_user(session, admin):
    people.set_user_language(session, admin.user_id, "pt_BR")
    assert session.get(User, admin.user_id).language == "pt_BR"
    with pytest.raises(ValidationError):
        people.set_user_language(session, admin.user_id, "fr")


@pytest.mark.parametrize("language", ["fr", "", None, ["pt_BR"]])
def test_an_unknown_language_is_refused_alike_for_a_user_and_an_account(session, admin, language):
    with pytest.raises(ValidationError) as for_user:
        people.set_user_language(session, admin.user_id, language)
    with pytest.raises(ValidationError) as for_account:
        people.update_account_settings(session, admin, {"language": language})

    template = "unknown language {language!r}: use one of {choices}"
    assert for_user.value.template == template and for_user.value.field == "language"
    assert for_account.value.details[0]["template"] == template
    assert for_account.value.details[0]["field"] == "language"
    for error in (for_user.value, for_account.value):
        assert "use one of en, es, pt_BR" in str(error)
    assert session.get(User, admin.user_id).language is None


def test_a_reactivated_user_logs_in_again_but_their_tokens_stay_revoked(session, admin, manager):
    token = people.create_token(session, admin, "script", manager.user_id)
    people.deactivate_user(session, admin, manager.user_id)
    with pytest.raises(people.LoginFailed):
        people.login(session, "bruno", PASSWORD)

    people.reactivate_user(session, admin, manager.user_id)

    user, _token = people.login(session, "bruno", PASSWORD)
    assert user.id == manager.user_id
    assert people.user_for_token(session, token) is None
    actions = session.scalars(select(AuditLog.action).where(AuditLog.object_type == "user"))
    assert {"user.deactivate", "user.reactivate"} <= set(actions)


def test_each_failed_login_is_in_the_audit_log(session, admin, monkeypatch):
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "5")
    reset_settings_cache()
    for _ in range(2):
        with pytest.raises(people.LoginFailed):
            people.login(session, "ana", "guess guess guess")
    with pytest.raises(people.LoginFailed):
        people.login(session, "nobody", "guess guess guess")  # in no account: logged outside
    failed = session.scalars(
        select(AuditLog).where(AuditLog.action == "user.login_failed").order_by(AuditLog.id)
    ).all()
    assert [(e.account_id, e.object_id, e.details["username"]) for e in failed] == [
        (admin.account_id, str(admin.user_id), "ana"),
        (admin.account_id, str(admin.user_id), "ana"),
        (None, None, "nobody"),
    ]
    assert not any(e.details["locked"] for e in failed)
    assert "guess" not in str([e.details for e in failed])  # never the password tried
