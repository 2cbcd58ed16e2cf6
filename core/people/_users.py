"""The users of an account, administered by its admins: inviting, roles, deactivating and
reactivating, resetting a forgotten password.

Every function checks the actor's role and is scoped to the actor's account; users and memberships
of other accounts are `NotFound`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.base import Conflict, NotFound, ValidationError, utcnow
from core.models import ApiToken, Membership, Role, User
from core.people import _audit as audit
from core.people._access import Actor, require
from core.people._accounts import create_user, parse_role
from core.people._auth import end_sessions
from core.people._security import hash_password


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


def account_member(session: Session, actor: Actor, user_id: int) -> tuple[User, Membership]:
    """The user and their membership in the actor's account; NotFound for anyone else."""
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
    user, membership = account_member(session, actor, user_id)
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
    user, membership = account_member(session, actor, user_id)
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
    user, _membership = account_member(session, actor, user_id)
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
    user, _membership = account_member(session, actor, user_id)
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
