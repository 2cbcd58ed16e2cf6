"""The lock-out counts every failed login exactly once, even in parallel, and answers the same for
a real and a made-up username (issue 16, items 5 and 10)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core import people
from core.base import reset_settings_cache, utcnow
from core.models import AuditLog, LoginThrottle, Role, User
from core.people import _auth
from tests.builders import make_account, make_actor

PASSWORD = "correct horse battery"
GUESSES = 30


def _limits(monkeypatch: pytest.MonkeyPatch, failures: int, minutes: int = 15) -> None:
    monkeypatch.setenv("LOGIN_MAX_FAILURES", str(failures))
    monkeypatch.setenv("LOGIN_LOCKOUT_MINUTES", str(minutes))
    reset_settings_cache()


def _guess_in_parallel(engine: Engine, username: str, guesses: int) -> list[str]:
    """`guesses` wrong passwords at once, each in its own session and thread; the errors' names."""

    def guess(_: int) -> str:
        with Session(engine) as session:
            try:
                people.login(session, username, "wrong guess, wrong guess")
            except people.LoginFailed as error:
                session.commit()  # as the login page does: the failure count is kept
                return type(error).__name__
        return "LoggedIn"

    with ThreadPoolExecutor(max_workers=guesses) as pool:
        return list(pool.map(guess, range(guesses)))


@pytest.fixture
def pg_user(pg_engine: Engine) -> int:
    with Session(pg_engine) as session:
        account = make_account(session, "Loja")
        actor = make_actor(session, account, Role.ADMIN, "ana")
        session.commit()
        return actor.user_id


def test_parallel_wrong_passwords_are_all_counted_on_postgresql(pg_engine, pg_user, monkeypatch):
    _limits(monkeypatch, failures=1000)

    answers = _guess_in_parallel(pg_engine, "ana", GUESSES)

    assert answers == ["LoginFailed"] * GUESSES
    with Session(pg_engine) as session:
        assert session.get(User, pg_user).failed_logins == GUESSES
        failed = session.scalars(select(AuditLog).where(AuditLog.action == "user.login_failed"))
        assert len(failed.all()) == GUESSES


def test_parallel_wrong_passwords_lock_the_user_once_on_postgresql(pg_engine, pg_user, monkeypatch):
    _limits(monkeypatch, failures=5)

    answers = _guess_in_parallel(pg_engine, "ana", GUESSES)

    assert answers.count("LoginFailed") == 5  # the fifth one set the lock
    assert answers.count("AccountLocked") == GUESSES - 5
    with Session(pg_engine) as session:
        user = session.get(User, pg_user)
        assert user.failed_logins == 0 and user.locked_until is not None
        locks = session.scalars(select(AuditLog).where(AuditLog.action == "user.locked")).all()
        assert len(locks) == 1


def test_parallel_guesses_at_a_made_up_username_lock_it_once_on_postgresql(
    pg_engine, pg_user, monkeypatch
):
    _limits(monkeypatch, failures=5)

    answers = _guess_in_parallel(pg_engine, "nobody", GUESSES)

    assert answers.count("LoginFailed") == 5
    assert answers.count("AccountLocked") == GUESSES - 5
    with Session(pg_engine) as session:
        throttle = session.get(LoginThrottle, "nobody")
        assert throttle.failed_logins == 0 and throttle.locked_until is not None


def _answers(session: Session, username: str, attempts: int, now) -> list[str]:
    said = []
    for _ in range(attempts):
        try:
            people.login(session, username, "wrong guess, wrong guess", now)
        except people.LoginFailed as error:
            said.append(f"{type(error).__name__}: {error}")
    session.commit()
    return said


def test_a_made_up_username_locks_out_and_answers_exactly_like_a_real_one(
    session, admin, monkeypatch
):
    _limits(monkeypatch, failures=3)
    now = utcnow()

    real = _answers(session, "ana", 5, now)
    made_up = _answers(session, "nobody-at-all", 5, now)

    assert real == made_up
    assert (
        real
        == ["LoginFailed: wrong username or password"] * 3
        + ["AccountLocked: too many failed attempts: try again in a few minutes"] * 2
    )
    # Both locks end alike, too.
    later = now + timedelta(minutes=15, seconds=1)
    assert _answers(session, "ana", 1, later) == _answers(session, "nobody-at-all", 1, later)


def test_every_answer_verifies_one_password_hash_locked_or_not_known_or_not(
    session, admin, monkeypatch
):
    _limits(monkeypatch, failures=2)
    verified: list[str] = []
    real_verify = _auth.verify_password

    def counting_verify(stored, password):
        verified.append(stored)
        return real_verify(stored, password)

    monkeypatch.setattr(_auth, "verify_password", counting_verify)
    now = utcnow()
    for username in ("ana", "nobody-at-all"):
        for attempt in range(4):  # two to lock, then two while locked (the right password too)
            verified.clear()
            password = PASSWORD if attempt == 3 else "wrong guess, wrong guess"
            with pytest.raises(people.LoginFailed):
                people.login(session, username, password, now)
            assert len(verified) == 1, (username, attempt)
            assert verified[0].startswith("$argon2id$")


def test_failed_logins_and_lock_outs_are_in_the_audit_trail(session, admin, monkeypatch):
    _limits(monkeypatch, failures=2)
    now = utcnow()
    _answers(session, "ana", 3, now)
    _answers(session, "nobody-at-all", 2, now)

    def entries(account_id):
        rows = session.scalars(
            select(AuditLog)
            .where(
                AuditLog.account_id.is_(None)
                if account_id is None
                else AuditLog.account_id == account_id,
                AuditLog.action.startswith("user.lo"),
            )
            .order_by(AuditLog.id)
        )
        return [(row.action, row.details["username"], row.details.get("locked")) for row in rows]

    assert entries(admin.account_id) == [
        ("user.login_failed", "ana", False),
        ("user.login_failed", "ana", False),
        ("user.locked", "ana", None),
        ("user.login_failed", "ana", True),
    ]
    assert entries(None) == [
        ("user.login_failed", "nobody-at-all", False),
        ("user.login_failed", "nobody-at-all", False),
        ("user.locked", "nobody-at-all", None),
    ]
    trail, _total = people.list_audit_entries(session, admin)
    assert "nobody-at-all" not in {entry.details.get("username") for entry in trail}


def test_a_made_up_username_quiet_for_a_day_is_forgotten(session, admin, monkeypatch):
    _limits(monkeypatch, failures=5)
    now = utcnow()
    _answers(session, "nobody-at-all", 2, now)
    _answers(session, "someone-else", 1, now + timedelta(days=1, minutes=1))

    assert session.get(LoginThrottle, "nobody-at-all") is None
    assert session.get(LoginThrottle, "someone-else").failed_logins == 1
