"""An account's administration: its users and roles, API tokens, and settings.

Every function checks the actor's role and is scoped to the actor's account; users, tokens and
memberships of other accounts are `NotFound`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.base import Conflict, NotFound, ValidationError, utcnow
from core.i18n import LANGUAGES
from core.models import Account, ApiToken, Membership, Role, User
from core.people import _audit as audit
from core.people._access import Actor, require
from core.people._accounts import create_user, parse_role, validate_country, validate_timezone
from core.people._auth import end_sessions
from core.people._security import hash_password, new_token, token_digest

MAX_CONFIRM_ABOVE = 1_000_000
MAX_KEYWORD_LENGTH = 40


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    email: str | None
    role: Role
    is_active: bool
    must_change_password: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    prefix: str
    username: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class AccountSettings:
    name: str
    timezone: str
    default_country: str | None
    language: str
    opt_out_keywords: list[str]
    notification_webhook_url: str | None
    campaigns_enabled: bool
    confirm_above_recipients: int


# -- users -----------------------------------------------------------------------------------------


def list_users(session: Session, actor: Actor) -> list[UserRow]:
    require(actor, "users.manage")
    rows = session.execute(
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.account_id == actor.account_id)
        .order_by(User.username)
    )
    return [
        UserRow(
            id=user.id,
            username=user.username,
            email=user.email,
            role=Role(role),
            is_active=user.is_active,
            must_change_password=user.must_change_password,
            locked_until=user.locked_until,
            last_login_at=user.last_login_at,
            created_at=user.created_at,
        )
        for user, role in rows
    ]


def one_time_password() -> str:
    return secrets.token_urlsafe(12)


def invite_user(
    session: Session, actor: Actor, username: str, role: Role | str, email: str | None = None
) -> tuple[User, str]:
    """Create a user in the actor's account with a one-time password (returned once); the user
    must choose their own at the first login. SSO-only users simply never use it."""
    require(actor, "users.manage")
    username = (username or "").strip()
    email = (email or "").strip().lower() or None
    if email and "@" not in email:
        raise ValidationError("{email!r} is not an e-mail address", "email", email=email)
    if email and session.scalar(select(User.id).where(func.lower(User.email) == email)):
        raise ValidationError("another user already has the e-mail {email}", "email", email=email)
    password = one_time_password()
    user = create_user(
        session,
        username,
        password,
        actor.account_id,
        role,
        email=email,
        must_change_password=True,
        actor=actor,
    )
    return user, password


def _member(session: Session, actor: Actor, user_id: int) -> tuple[User, Membership]:
    membership = session.scalar(
        select(Membership).where(
            Membership.user_id == user_id, Membership.account_id == actor.account_id
        )
    )
    user = session.get(User, user_id) if membership else None
    if membership is None or user is None:
        raise NotFound("user {id} does not exist", id=user_id)
    return user, membership


def _active_admins(session: Session, account_id: int) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Membership)
            .join(User, User.id == Membership.user_id)
            .where(
                Membership.account_id == account_id,
                Membership.role == Role.ADMIN,
                User.is_active.is_(True),
            )
        )
        or 0
    )


def _refuse_last_admin(session: Session, actor: Actor, user: User, membership: Membership) -> None:
    if (
        membership.role == Role.ADMIN
        and user.is_active
        and _active_admins(session, actor.account_id) <= 1
    ):
        raise Conflict(
            "{username} is the last admin of this account: make someone else admin first",
            username=user.username,
        )


def change_role(session: Session, actor: Actor, user_id: int, role: Role | str) -> None:
    require(actor, "users.manage")
    role = parse_role(role) if isinstance(role, str) else role
    user, membership = _member(session, actor, user_id)
    if Role(membership.role) == role:
        return
    if role != Role.ADMIN:
        _refuse_last_admin(session, actor, user, membership)
    old = membership.role
    membership.role = role
    audit.record_audit(
        session,
        actor,
        "user.role_changed",
        "user",
        user.id,
        {"username": user.username, "from": str(old), "to": str(role)},
    )
    session.flush()


def deactivate_user(session: Session, actor: Actor, user_id: int) -> None:
    """Take a user's access to this account away at once: browser sessions end, API tokens are
    revoked. A user who also belongs to other accounts only loses the membership in this one."""
    require(actor, "users.manage")
    user, membership = _member(session, actor, user_id)
    if user.id == actor.user_id:
        raise Conflict("you cannot deactivate yourself")
    _refuse_last_admin(session, actor, user, membership)
    other_accounts = session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.user_id == user.id, Membership.account_id != actor.account_id)
    )
    if other_accounts:
        session.delete(membership)
        detail = {"username": user.username, "membership_removed": True}
    else:
        user.is_active = False
        end_sessions(session, user.id)
        session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        detail = {"username": user.username}
    audit.record_audit(session, actor, "user.deactivate", "user", user.id, detail)
    session.flush()


def reactivate_user(session: Session, actor: Actor, user_id: int) -> None:
    require(actor, "users.manage")
    user, _membership = _member(session, actor, user_id)
    if user.is_active:
        return
    user.is_active = True
    audit.record_audit(
        session, actor, "user.reactivate", "user", user.id, {"username": user.username}
    )
    session.flush()


def reset_password(session: Session, actor: Actor, user_id: int) -> str:
    """A new one-time password (returned once) for a user who forgot theirs; also unlocks."""
    require(actor, "users.manage")
    user, _membership = _member(session, actor, user_id)
    if session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.user_id == user.id, Membership.account_id != actor.account_id)
    ):
        # The password opens the user's other accounts too; their admins did not agree to this.
        raise Conflict("this user belongs to other accounts too: the operator resets it")
    password = one_time_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None
    end_sessions(session, user.id)
    audit.record_audit(
        session, actor, "user.password_reset", "user", user.id, {"username": user.username}
    )
    session.flush()
    return password


# -- API tokens ------------------------------------------------------------------------------------


def list_tokens(session: Session, actor: Actor) -> list[TokenRow]:
    require(actor, "tokens.manage")
    rows = session.execute(
        select(ApiToken, User.username)
        .join(User, User.id == ApiToken.user_id)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.account_id == actor.account_id)
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc())
    )
    return [
        TokenRow(
            id=token.id,
            name=token.name,
            prefix=token.prefix,
            username=username,
            created_at=token.created_at,
            last_used_at=token.last_used_at,
            revoked_at=token.revoked_at,
        )
        for token, username in rows
    ]


def create_token(session: Session, actor: Actor, name: str, user_id: int | None = None) -> str:
    """A new API token for `user_id` (default: the actor). Returned once; only its digest is kept."""
    require(actor, "tokens.manage")
    if user_id is None:
        if actor.user_id is None:
            raise ValidationError("choose the user the token acts as", "user_id")
        user_id = actor.user_id
    user, _membership = _member(session, actor, user_id)
    if not user.is_active:
        raise Conflict("{username} is deactivated", username=user.username)
    name = (name or "").strip()
    if len(name) > 100:
        raise ValidationError("the token name must have at most 100 characters", "name")
    token = new_token()
    row = ApiToken(user_id=user.id, name=name, token_hash=token_digest(token), prefix=token[:12])
    session.add(row)
    session.flush()
    audit.record_audit(
        session,
        actor,
        "token.create",
        "api_token",
        row.id,
        {"name": name, "prefix": row.prefix, "username": user.username},
    )
    return token


def revoke_token(session: Session, actor: Actor, token_id: int) -> None:
    require(actor, "tokens.manage")
    row = session.scalar(
        select(ApiToken)
        .join(Membership, Membership.user_id == ApiToken.user_id)
        .where(ApiToken.id == token_id, Membership.account_id == actor.account_id)
    )
    if row is None:
        raise NotFound("token {id} does not exist", id=token_id)
    if row.revoked_at is not None:
        return
    row.revoked_at = utcnow()
    audit.record_audit(
        session,
        actor,
        "token.revoke",
        "api_token",
        row.id,
        {"name": row.name, "prefix": row.prefix},
    )
    session.flush()


# -- account settings ------------------------------------------------------------------------------


def account_settings(session: Session, actor: Actor) -> AccountSettings:
    require(actor, "settings.manage")
    account = _account(session, actor)
    return AccountSettings(
        name=account.name,
        timezone=account.timezone,
        default_country=account.default_country,
        language=account.language,
        opt_out_keywords=list(account.opt_out_keywords or []),
        notification_webhook_url=account.notification_webhook_url,
        campaigns_enabled=account.campaigns_enabled,
        confirm_above_recipients=account.confirm_above_recipients,
    )


def update_account_settings(session: Session, actor: Actor, changes: dict[str, Any]) -> Account:
    """Validate every field first (all problems reported at once); write nothing unless all pass."""
    require(actor, "settings.manage")
    account = _account(session, actor)
    unknown = set(changes) - set(AccountSettings.__dataclass_fields__)
    if unknown:
        raise ValidationError("unknown setting(s): {names}", names=", ".join(sorted(unknown)))
    clean: dict[str, Any] = {}
    problems: list[dict[str, Any]] = []
    for field, value in changes.items():
        try:
            clean[field] = _VALIDATORS[field](value)
        except ValidationError as error:
            problems.append(error.detail(field))
    if problems:
        raise ValidationError.several(problems, joined=True)
    changed = {k: v for k, v in clean.items() if getattr(account, k) != v}
    for field, value in changed.items():
        setattr(account, field, value)
    if changed:
        # The webhook URL may carry a secret in its path or query: record that it changed only.
        details = {
            k: ("(changed)" if k == "notification_webhook_url" else v) for k, v in changed.items()
        }
        audit.record_audit(
            session, actor, "account.settings_changed", "account", account.id, details
        )
    session.flush()
    return account


def _account(session: Session, actor: Actor) -> Account:
    account = session.get(Account, actor.account_id)
    if account is None:
        raise NotFound("account {id} does not exist", id=actor.account_id)
    return account


def _name(value: Any) -> str:
    name = str(value or "").strip()
    if not name:
        raise ValidationError("the account name must not be empty", "name")
    if len(name) > 200:
        raise ValidationError("the account name must have at most 200 characters", "name")
    return name


def _language(value: Any) -> str:
    if value not in LANGUAGES:
        raise ValidationError(
            "unknown language {value!r}: use one of {choices}",
            "language",
            value=value,
            choices=", ".join(LANGUAGES),
        )
    return str(value)


def _keywords(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.replace("\n", ",").split(",")
    if not isinstance(value, list | tuple):
        raise ValidationError("opt-out keywords must be a list of words", "opt_out_keywords")
    keywords: list[str] = []
    for raw in value:
        word = " ".join(str(raw).split()).upper()
        if not word:
            continue
        if len(word) > MAX_KEYWORD_LENGTH:
            raise ValidationError(
                "opt-out keyword {word!r} is longer than {count} characters",
                "opt_out_keywords",
                word=word,
                count=MAX_KEYWORD_LENGTH,
            )
        if word not in keywords:
            keywords.append(word)
    if not keywords:
        # Without a keyword nobody could opt out by replying; that would break the law in places.
        raise ValidationError(
            "keep at least one opt-out keyword (such as STOP)", "opt_out_keywords"
        )
    return keywords


def _webhook_url(value: Any) -> str | None:
    url = str(value or "").strip()
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValidationError(
            "the notification webhook URL must start with http:// or https:// and name a host",
            "notification_webhook_url",
        )
    if len(url) > 500:
        raise ValidationError(
            "the notification webhook URL must have at most 500 characters",
            "notification_webhook_url",
        )
    return url


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("campaigns_enabled must be true or false", "campaigns_enabled")
    return value


def _confirm_above(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(
            "confirm_above_recipients must be a whole number", "confirm_above_recipients"
        )
    try:
        number = int(value)
    except ValueError:
        raise ValidationError(
            "confirm_above_recipients must be a whole number", "confirm_above_recipients"
        ) from None
    if not 0 <= number <= MAX_CONFIRM_ABOVE:
        raise ValidationError(
            "confirm_above_recipients must be between 0 and {limit}",
            "confirm_above_recipients",
            limit=MAX_CONFIRM_ABOVE,
        )
    return number


_VALIDATORS = {
    "name": _name,
    "timezone": lambda v: validate_timezone(str(v or "").strip()),
    "default_country": validate_country,
    "language": _language,
    "opt_out_keywords": _keywords,
    "notification_webhook_url": _webhook_url,
    "campaigns_enabled": _flag,
    "confirm_above_recipients": _confirm_above,
}
