"""A user's saved UI language and the account's default, for the UI's choice of language."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.i18n import LANGUAGES
from core.models import Account, User
from core.people._auth import (
    set_user_language as set_user_language,  # one implementation: validates, saves
)

__all__ = ["account_language", "saved_languages", "set_user_language", "user_language"]


def user_language(session: Session, user_id: int) -> str | None:
    """The language the user chose, or None when they never chose (or it is no longer offered)."""
    user = session.get(User, user_id)
    language = user.language if user is not None else None
    return language if language in LANGUAGES else None


def account_language(session: Session, account_id: int) -> str | None:
    """The account's default language (its settings), used when neither user nor browser decides."""
    account = session.get(Account, account_id)
    language = account.language if account is not None else None
    return language if language in LANGUAGES else None


def saved_languages(
    session: Session, user_id: int, account_id: int
) -> tuple[str | None, str | None]:
    """(the user's choice, the account's default) in one call."""
    return user_language(session, user_id), account_language(session, account_id)
