"""The revision of an account's contacts: one counter, bumped by every write to them.

Each write bumps it in its own transaction, as its last statement (a row lock on the account on
PostgreSQL, taken after the contacts' rows: the same order everywhere, so writers never
deadlock). It moves in commit order, which timestamps do not: a cache of the contacts that
compares it never serves an audience from before a committed write.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from core.models import Account

_BUMP = (
    update(Account)
    .where(Account.id == bindparam("p_account"))
    .values(contacts_revision=Account.contacts_revision + 1)
)


def bump_contacts_revision(session: Session | Connection, account_id: int) -> None:
    session.execute(
        _BUMP, {"p_account": account_id}, execution_options={"synchronize_session": False}
    )


def contacts_revision(session: Session, account_id: int) -> int:
    return session.scalar(select(Account.contacts_revision).where(Account.id == account_id)) or 0
