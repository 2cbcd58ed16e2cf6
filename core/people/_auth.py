"""Logging in: passwords, lock-out, browser sessions, single sign-on, changing one's password.

A browser session is a random token kept by the browser's Streamlit session and stored here only as
a digest with an expiry, so logout, deactivation and expiry take effect on the very next page run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.base import DomainError, NotFound, ValidationError, as_utc, get_settings, utcnow
from core.i18n import N_
from core.models import Account, Membership, Role, User, UserSession
from core.people import _audit as audit
from core.people._access import Actor
from core.people._accounts import memberships, validate_password
from core.people._security import hash_password, new_token, token_digest, verify_password

# Verified against when the username is unknown, so a wrong username costs as long as a wrong password.
_REHASH = PasswordHasher()  # same parameters as _security's hasher


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against when the username is unknown, so that answer takes as long as a
    wrong password (made on the first login, not when the module is imported)."""
    return hash_password("no-such-user-dummy-password")


class LoginFailed(DomainError):
    """Wrong credentials, unknown user, deactivated user: one message, so none of them is revealed."""

    def __init__(self, message: str = N_("wrong username or password"), **params: Any) -> None:
        super().__init__(message, **params)


class AccountLocked(LoginFailed):
    def __init__(self, until: datetime) -> None:
        super().__init__(N_("too many failed attempts: try again in a few minutes"))
        self.until = until


@dataclass(frozen=True)
class AccountChoice:
    account_id: int
    name: str
    role: Role


@dataclass(frozen=True)
class SessionContext:
    """Everything the UI needs for one page run, read once from the database."""

    user_id: int
    username: str
    language: str
    must_change_password: bool
    accounts: list[AccountChoice]
    actor: Actor
    campaigns_enabled: bool
    account_name: str
    account_timezone: str


def authenticate(
    session: Session, username: str, password: str, now: datetime | None = None
) -> User:
    """The user whose password this is, or LoginFailed; counts failures and locks the user out.

    After `LOGIN_MAX_FAILURES` wrong passwords in a row the user is locked for
    `LOGIN_LOCKOUT_MINUTES`; while locked even the right password is refused.
    """
    now = now or utcnow()
    settings = get_settings()
    username = (username or "").strip()
    user = session.scalar(select(User).where(User.username == username)) if username else None
    if user is None:
        verify_password(_dummy_hash(), password or "")
        raise LoginFailed()
    if user.locked_until is not None and as_utc(user.locked_until) > now:
        raise AccountLocked(as_utc(user.locked_until))
    if not verify_password(user.password_hash, password or ""):
        _count_failure(
            session, user, now, settings.login_max_failures, settings.login_lockout_minutes
        )
        raise LoginFailed()
    if not user.is_active:
        raise LoginFailed()
    if _REHASH.check_needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    session.flush()
    return user


def _count_failure(
    session: Session, user: User, now: datetime, max_failures: int, lockout_minutes: int
) -> None:
    user.failed_logins = (user.failed_logins or 0) + 1
    # Each wrong password is in the audit log of the user's accounts, so admins see guessing
    # before the lock-out (an unknown username belongs to no account: only the log file has it).
    for membership in memberships(session, user.id):
        audit.record_audit(
            session,
            Actor.system(membership.account_id),
            "user.login_failed",
            "user",
            user.id,
            {"username": user.username, "failures": user.failed_logins},
        )
    if max_failures and user.failed_logins >= max_failures:
        user.locked_until = now + timedelta(minutes=lockout_minutes)
        user.failed_logins = 0
        for membership in memberships(session, user.id):
            audit.record_audit(
                session,
                Actor.system(membership.account_id),
                "user.locked",
                "user",
                user.id,
                {"username": user.username, "minutes": lockout_minutes},
            )
    session.flush()


def start_session(session: Session, user: User, now: datetime | None = None) -> str:
    """A new browser session token for `user` (returned once; stored as a digest)."""
    now = now or utcnow()
    session.execute(
        delete(UserSession).where(UserSession.user_id == user.id, UserSession.expires_at <= now)
    )
    token = new_token()
    session.add(
        UserSession(
            user_id=user.id,
            token_hash=token_digest(token),
            created_at=now,
            expires_at=now + timedelta(minutes=get_settings().session_ttl_minutes),
        )
    )
    session.flush()
    return token


def login(
    session: Session, username: str, password: str, now: datetime | None = None
) -> tuple[User, str]:
    user = authenticate(session, username, password, now)
    if not memberships(session, user.id):
        raise LoginFailed("this user belongs to no account yet: ask an administrator")
    return user, start_session(session, user, now)


def login_sso(session: Session, email: str | None, now: datetime | None = None) -> tuple[User, str]:
    """Map a single-sign-on identity to an existing user by e-mail; unknown e-mails are refused."""
    email = (email or "").strip().lower()
    if not email:
        raise LoginFailed("the identity provider sent no e-mail address")
    user = session.scalar(select(User).where(func.lower(User.email) == email))
    if user is None or not user.is_active or not memberships(session, user.id):
        raise LoginFailed(
            "no active user has the e-mail {email}: ask an administrator to add you", email=email
        )
    now = now or utcnow()
    user.last_login_at = now
    return user, start_session(session, user, now)


def user_for_session(
    session: Session, token: str | None, now: datetime | None = None
) -> User | None:
    """The active user of a live session token; None when unknown, expired, or deactivated."""
    if not token:
        return None
    now = now or utcnow()
    row = session.scalar(select(UserSession).where(UserSession.token_hash == token_digest(token)))
    if row is None:
        return None
    if as_utc(row.expires_at) <= now:
        session.delete(row)
        session.flush()
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    return user


def logout(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(UserSession).where(UserSession.token_hash == token_digest(token)))
        session.flush()


def end_sessions(session: Session, user_id: int, keep_token: str | None = None) -> int:
    """End every browser session of a user (all but `keep_token`); returns how many ended."""
    query = delete(UserSession).where(UserSession.user_id == user_id)
    if keep_token:
        query = query.where(UserSession.token_hash != token_digest(keep_token))
    return session.execute(query).rowcount or 0


def change_password(
    session: Session,
    user_id: int,
    current_password: str,
    new_password: str,
    keep_token: str | None = None,
) -> None:
    """Change one's own password; the user's other sessions end, so a thief's session dies too."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotFound("user does not exist")
    if not verify_password(user.password_hash, current_password or ""):
        raise ValidationError("the current password is wrong", "current_password")
    validate_password(new_password or "")
    if new_password == current_password:
        raise ValidationError("choose a password different from the current one", "new_password")
    if new_password.strip().lower() == user.username.lower():
        raise ValidationError("the password must not be the username", "new_password")
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    end_sessions(session, user.id, keep_token)
    for membership in memberships(session, user.id):
        audit.record_audit(
            session,
            Actor(user.id, membership.account_id, Role(membership.role), user.username),
            "user.password_changed",
            "user",
            user.id,
        )
    session.flush()


def account_choices(session: Session, user_id: int) -> list[AccountChoice]:
    rows = session.execute(
        select(Membership.account_id, Account.name, Membership.role)
        .join(Account, Account.id == Membership.account_id)
        .where(Membership.user_id == user_id)
        .order_by(Account.name, Account.id)
    )
    return [AccountChoice(account_id, name, Role(role)) for account_id, name, role in rows]


def session_context(
    session: Session, token: str | None, account_id: int | None = None, now: datetime | None = None
) -> SessionContext | None:
    """Who is logged in with `token` and acting in which account (the chosen one if still a
    member, else the first); None when the session is no longer valid."""
    user = user_for_session(session, token, now)
    if user is None:
        return None
    choices = account_choices(session, user.id)
    if not choices:
        return None
    chosen = next((choice for choice in choices if choice.account_id == account_id), choices[0])
    account = session.get(Account, chosen.account_id)
    assert account is not None
    return SessionContext(
        user_id=user.id,
        username=user.username,
        language=user.language or account.language or "en",
        must_change_password=user.must_change_password,
        accounts=choices,
        actor=Actor(user.id, chosen.account_id, chosen.role, user.username),
        campaigns_enabled=account.campaigns_enabled,
        account_name=account.name,
        account_timezone=account.timezone,
    )
