"""Counting failed logins and locking a username out, in single SQL statements.

A count read into Python and written back loses updates when guesses arrive in parallel (30 at
once ended at 2 on PostgreSQL): each failure is one guarded `UPDATE … SET failed = failed + 1`,
and the failure that reaches the limit sets the lock in that same statement. A username nobody has
is counted in `login_throttles` the same way, so it locks out exactly like a real one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Update, case, delete, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.base import as_utc
from core.models import LoginThrottle, User
from core.models.base import UTCDateTime

USERNAME_LENGTH = 100  # login_throttles.username; longer made-up names are counted by their start
_FORGET_AFTER = timedelta(days=1)  # a made-up username's count is forgotten after a quiet day


def current_lock(
    session: Session, user: User | None, username: str, now: datetime
) -> datetime | None:
    """When the lock on this username ends, if it is locked now."""
    if user is not None:
        until = user.locked_until
    else:
        until = session.scalar(
            select(LoginThrottle.locked_until).where(
                LoginThrottle.username == username[:USERNAME_LENGTH]
            )
        )
    return as_utc(until) if until is not None and as_utc(until) > now else None


def count_failure(
    session: Session,
    user: User | None,
    username: str,
    now: datetime,
    max_failures: int,
    lockout_minutes: int,
) -> tuple[bool, datetime | None]:
    """Count one failed login; (whether this failure set the lock, when the lock ends if locked).

    A username that another request locked meanwhile is not counted again: the guard in the
    UPDATE sees the committed lock (PostgreSQL re-checks it after waiting for the row).
    """
    if user is not None:
        statement = _guarded_increment(
            update(User).where(User.id == user.id),
            User,
            now,
            max_failures,
            lockout_minutes,
        )
    else:
        key = username[:USERNAME_LENGTH]
        session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.updated_at < now - _FORGET_AFTER,
                or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
            )
        )
        insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
        session.execute(
            insert(LoginThrottle)
            .values(username=key, failed_logins=0, updated_at=now)
            .on_conflict_do_nothing(index_elements=["username"])
        )
        statement = _guarded_increment(
            update(LoginThrottle).where(LoginThrottle.username == key),
            LoginThrottle,
            now,
            max_failures,
            lockout_minutes,
        ).values(updated_at=now)
    row = session.execute(statement.execution_options(synchronize_session=False)).one_or_none()
    if user is not None:
        session.expire(user, ["failed_logins", "locked_until"])
    if row is None:  # locked by a parallel guess since we looked
        return False, current_lock(session, user, username, now)
    failed, until = row
    locked_now = bool(max_failures) and failed == 0
    return locked_now, as_utc(until) if locked_now and until is not None else None


def _guarded_increment(
    statement: Update, model: Any, now: datetime, max_failures: int, lockout_minutes: int
) -> Update:
    not_locked = or_(model.locked_until.is_(None), model.locked_until <= now)
    statement = statement.where(not_locked).returning(model.failed_logins, model.locked_until)
    if not max_failures:  # lock-out switched off: only count
        return statement.values(failed_logins=model.failed_logins + 1)
    reached = model.failed_logins + 1 >= max_failures
    lock_end = literal(now + timedelta(minutes=lockout_minutes), UTCDateTime())
    # Both right-hand sides read the row as it was: the limit resets the count and sets the lock.
    return statement.values(
        failed_logins=case((reached, 0), else_=model.failed_logins + 1),
        locked_until=case((reached, lock_end), else_=model.locked_until),
    )
