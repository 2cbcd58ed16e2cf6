"""Every row of an account is reached through its account: one look-up for all of them."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlalchemy.orm import Session

from core.base import NotFound
from core.i18n import N_, Term
from core.people._access import Actor

# What each kind of row is called when it is missing (words of our vocabulary, translated).
THINGS = (N_("campaign"), N_("contact"), N_("import"), N_("WhatsApp number"), N_("notification"))


class AccountOwned(Protocol):
    account_id: Any


Row = TypeVar("Row", bound=AccountOwned)


def load_owned(session: Session, actor: Actor, model: type[Row], row_id: int, thing: str) -> Row:
    """The actor's account's row of `model` with this id, or NotFound.

    A row of another account is as missing as one that does not exist: nobody learns that an id
    is taken elsewhere. `thing` is how the message names it (one of THINGS).
    """
    row = session.get(model, row_id)
    if row is None or row.account_id != actor.account_id:
        raise NotFound("{thing} {id} does not exist", thing=Term(thing), id=row_id)
    return row
