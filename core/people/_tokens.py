"""API tokens: minting (one path for the UI and the operator's CLI), listing, revoking, and finding
the user a presented token acts as.

A token is shown once, when it is minted; only its SHA-256 digest and a short prefix (to tell
tokens apart in lists) are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from core.base import Conflict, NotFound, ValidationError, utcnow
from core.models import Account, ApiToken, Membership, Role, User
from core.people import _audit as audit
from core.people._access import Actor, require
from core.people._accounts import memberships
from core.people._security import new_token, token_digest
from core.people._users import account_member

MAX_NAME_LENGTH = 100  # ApiToken.name's column
PREFIX_LENGTH = 12  # "wac_" and 8 random characters: enough to tell tokens apart, not to guess one
# Once a minute is precise enough to see which tokens are in use, and spares every API read a write
# (on SQLite, writes queue behind one another).
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenRow:
    id: int
    name: str
    prefix: str
    username: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


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


def create_token(
    session: Session, actor: Actor | None, name: str, user_id: int | None = None
) -> str:
    """A new API token acting as user `user_id` (default: the actor's user), with that user's role.

    Returned once; only its digest is kept. `actor` is an admin of an account the user belongs to
    (the UI), or None for the operator (the CLI), who may mint for any user and must name them.
    A name over MAX_NAME_LENGTH characters and a deactivated user are refused. The audit trail gets
    the token's id and prefix: in the actor's account, or — the operator acting in no account — once
    in each account the user belongs to, by "cli", since the token opens every one of them.
    """
    if actor is not None:
        require(actor, "tokens.manage")
    user = _token_user(session, actor, user_id)
    if not user.is_active:
        raise Conflict("{username} is deactivated", username=user.username)
    name = (name or "").strip()
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            "the token name must have at most {count} characters", "name", count=MAX_NAME_LENGTH
        )
    if actor is not None:
        recorders = [actor]
    else:
        recorders = [
            Actor.system(membership.account_id, "cli")
            for membership in memberships(session, user.id)
        ]
    if not recorders:
        # Such a token would open nothing, and no account's trail would show it was made.
        raise Conflict("{username} belongs to no account yet", username=user.username)
    token = new_token()
    row = ApiToken(
        user_id=user.id, name=name, token_hash=token_digest(token), prefix=token[:PREFIX_LENGTH]
    )
    session.add(row)
    session.flush()
    for recorder in recorders:
        audit.record_audit(
            session,
            recorder,
            "token.create",
            "api_token",
            row.id,
            {"name": name, "prefix": row.prefix, "username": user.username},
        )
    return token


def _token_user(session: Session, actor: Actor | None, user_id: int | None) -> User:
    if user_id is None:
        if actor is None or actor.user_id is None:
            raise ValidationError("choose the user the token acts as", "user_id")
        user_id = actor.user_id
    if actor is not None:
        return account_member(session, actor, user_id)[0]
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user {id} does not exist", id=user_id)
    return user


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


def user_for_token(session: Session, token: str) -> User | None:
    """The active user an API token belongs to, or None when it is unknown or revoked."""
    if not token:
        return None
    found = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_digest(token))
    ).one_or_none()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or not user.is_active:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > TOKEN_USE_RESOLUTION:
        row.last_used_at = now
    return user


@dataclass(frozen=True)
class TokenActor:
    """What an API request's token gives in the account it names (`account_actor_for_token`)."""

    actor: Actor
    account: Account
    use_due: bool  # its last use is to be recorded (`user_for_token` in a writing session)


def account_actor_for_token(session: Session, token: str, account_id: int) -> TokenActor | None:
    """`user_for_token` and `actor_and_account` in one query, without writing: the API's every
    request. None when the token is unknown or revoked or its user inactive; NotFound when the
    user is not a member of the account (as for a missing account)."""
    if not token:
        return None
    found = session.execute(
        _TOKEN_ACTOR, {"digest": token_digest(token), "account_id": account_id}
    ).one_or_none()
    if found is None or found.revoked_at is not None or not found.is_active:
        return None
    if found.role is None or found.Account is None:
        raise NotFound("account {id} does not exist", id=account_id)
    last_used = found.last_used_at
    return TokenActor(
        Actor(found.user_id, account_id, Role(found.role), found.username),
        found.Account,
        use_due=last_used is None or utcnow() - last_used > TOKEN_USE_RESOLUTION,
    )


# Built once and bound per request: building it costs about as much as running it.
_TOKEN_ACTOR = (
    select(
        ApiToken.revoked_at,
        ApiToken.last_used_at,
        User.id.label("user_id"),
        User.username,
        User.is_active,
        Membership.role,
        Account,
    )
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(
        Membership,
        and_(Membership.user_id == User.id, Membership.account_id == bindparam("account_id")),
    )
    .outerjoin(Account, Account.id == Membership.account_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)
