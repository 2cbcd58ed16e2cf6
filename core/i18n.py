"""Translation of UI text (gettext catalogs under locale/)."""

from __future__ import annotations

import gettext
from contextvars import ContextVar
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
LANGUAGES = {"en": "English", "es": "Español", "pt_BR": "Português (Brasil)"}
_current: ContextVar[str] = ContextVar("language", default="en")


def _catalog(language: str) -> gettext.NullTranslations:
    return gettext.translation("messages", LOCALE_DIR, languages=[language], fallback=True)


def set_language(language: str) -> None:
    _current.set(language if language in LANGUAGES else "en")


def current_language() -> str:
    return _current.get()


def _(message: str) -> str:
    return _catalog(_current.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _catalog(_current.get()).ngettext(singular, plural, n)
