"""Accounts, users and their memberships: creating and finding them, and the checks of their fields
(timezone, country, password, role) that the CLI, UI and API share."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.base import NotFound, ValidationError
from core.models import Account, Membership, Role, User
from core.people import _audit as audit
from core.people._access import Actor, require
from core.people._countries import country_for_timezone
from core.people._security import hash_password

USERNAME = re.compile(r"^[A-Za-z0-9_.@+-]{2,100}$")
MIN_PASSWORD_LENGTH = 10


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            "unknown timezone {name!r} (use an IANA name such as America/Sao_Paulo)",
            "timezone",
            name=name,
        ) from None
    return name


def validate_country(code: str | None) -> str | None:
    if not code:
        return None
    code = code.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(
            "unknown country code {code!r} (use two letters, such as BR or MX)",
            "default_country",
            code=code,
        )
    return code


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            "password must have at least {count} characters", "password", count=MIN_PASSWORD_LENGTH
        )
    return password


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise ValidationError(
            "unknown role {value!r}: use admin, manager or viewer", "role", value=value
        ) from None


def create_account(
    session: Session, name: str, timezone: str = "UTC", default_country: str | None = None
) -> Account:
    """A new account; without a `default_country`, its timezone's country (none for UTC)."""
    name = name.strip()
    if not name:
        raise ValidationError("account name must not be empty", "name")
    account = Account(
        name=name,
        timezone=validate_timezone(timezone),
        default_country=validate_country(default_country) or country_for_timezone(timezone),
    )
    session.add(account)
    session.flush()
    return account


def get_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("account {id} does not exist", id=account_id)
    return account


def get_user_by_username(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound("user {username!r} does not exist", username=username)
    return user


def create_user(
    session: Session,
    username: str,
    password: str | None,
    account_id: int,
    role: Role | str,
    email: str | None = None,
    must_change_password: bool = False,
    actor: Actor | None = None,
) -> User:
    """Create a user with a membership in `account_id`. `actor` None means the operator's CLI."""
    if actor is not None:
        require(actor, "users.manage")
    role = parse_role(role) if isinstance(role, str) else role
    get_account(session, account_id)
    if not USERNAME.match(username):
        raise ValidationError("username must be 2-100 letters, digits or _ . @ + -", "username")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise ValidationError(
            "username {username!r} is already taken", "username", username=username
        )
    user = User(
        username=username,
        email=(email or None) and email.strip().lower(),
        password_hash=hash_password(validate_password(password)) if password else None,
        must_change_password=must_change_password,
    )
    session.add(user)
    session.flush()
    session.add(Membership(user_id=user.id, account_id=account_id, role=role))
    session.flush()
    audit.record_audit(
        session,
        actor or Actor.system(account_id, "cli"),
        "user.create",
        "user",
        user.id,
        {"username": username, "role": str(role)},
    )
    return user


def memberships(session: Session, user_id: int) -> list[Membership]:
    return list(
        session.scalars(
            select(Membership).where(Membership.user_id == user_id).order_by(Membership.account_id)
        )
    )


def actor_for(session: Session, user: User, account_id: int) -> Actor:
    return actor_and_account(session, user, account_id)[0]


def actor_and_account(session: Session, user: User, account_id: int) -> tuple[Actor, Account]:
    """The user acting in the account, and the account, in one query (the API's every request)."""
    found = session.execute(
        select(Membership.role, Account)
        .join(Account, Account.id == Membership.account_id)
        .where(Membership.user_id == user.id, Membership.account_id == account_id)
    ).first()
    if found is None or not user.is_active:
        raise NotFound("account {id} does not exist", id=account_id)
    role, account = found
    return Actor(user.id, account_id, Role(role), user.username), account
