"""Time in the statistics' SQL, on SQLite and PostgreSQL alike, and the zone figures are shown in.

Times are bucketed in SQL as whole epoch seconds (UTC); Python then rolls the buckets into the
account's local hours and days, since SQLite knows no time zones.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, ColumnElement, Integer, cast, func
from sqlalchemy.orm import Session

from core.models import Account
from core.people import Actor, require


def epoch_seconds(column: Any, dialect: str) -> ColumnElement[int]:
    """Whole seconds since 1970 (UTC) of a stored time, as an integer SQL expression."""
    if dialect == "sqlite":  # SQLite stores naive UTC text
        if sqlite3.sqlite_version_info >= (3, 38):
            return func.unixepoch(column)  # about twice as fast as strftime('%s')
        return cast(func.strftime("%s", column), Integer)
    # A timestamptz gives the UTC epoch whatever the session's zone; floor: whole seconds, as above.
    return cast(func.floor(func.extract("epoch", column)), BigInteger)


def time_bucket(column: Any, seconds: int, dialect: str) -> ColumnElement[int]:
    """Start (epoch seconds, UTC) of the `seconds`-wide bucket the time falls in."""
    return (epoch_seconds(column, dialect) // seconds) * seconds


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def from_epoch(seconds: int | float) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def zone_of(session: Session, account_id: int) -> tzinfo:
    """The account's timezone; UTC when its name is unknown here, so a page still draws."""
    account = session.get(Account, account_id)
    try:
        return ZoneInfo(account.timezone if account else "UTC")
    except (KeyError, ValueError):
        return UTC


def account_zone(session: Session, actor: Actor) -> tzinfo:
    """The timezone the actor's account reads its statistics in (local days, hours, times)."""
    require(actor, "stats.read")
    return zone_of(session, actor.account_id)
