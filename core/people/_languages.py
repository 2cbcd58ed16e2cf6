"""Languages people choose: the one check of a language against those the UI offers
(`core.i18n.LANGUAGES`), a user's saved choice and the account's default.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.base import NotFound, ValidationError
from core.i18n import LANGUAGES
from core.models import Account, User


def validate_language(value: Any) -> str:
    """The language code if the UI offers it; else a ValidationError on "language" listing them."""
    if not isinstance(value, str) or value not in LANGUAGES:
        raise ValidationError(
            "unknown language {language!r}: use one of {choices}",
            "language",
            language=value,
            choices=", ".join(LANGUAGES),
        )
    return value


def set_user_language(session: Session, user_id: int, language: str) -> None:
    """Save the user's choice of UI language (the sidebar picker, the profile page)."""
    language = validate_language(language)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user does not exist")
    user.language = language
    session.flush()


def _offered(language: str | None) -> str | None:
    """A stored language, or None when it is no longer offered."""
    return language if language in LANGUAGES else None


def user_language(session: Session, user_id: int) -> str | None:
    """The language the user chose, or None when they never chose (or it is no longer offered)."""
    user = session.get(User, user_id)
    return _offered(user.language if user is not None else None)


def account_language(session: Session, account_id: int) -> str | None:
    """The account's default language (its settings), used when neither user nor browser decides."""
    account = session.get(Account, account_id)
    return _offered(account.language if account is not None else None)


def saved_languages(
    session: Session, user_id: int, account_id: int
) -> tuple[str | None, str | None]:
    """(the user's choice, the account's default) in one call."""
    return user_language(session, user_id), account_language(session, account_id)
