"""Translation of UI text (gettext catalogs under locale/, compiled by `python -m core i18n`).

The language is per script run, not per process: `set_language` stores it in a ContextVar at the
top of every Streamlit run (app.py), and the page that `st.navigation(...).run()` executes runs in
the same thread and context, so it sees it. A fragment rerun (`@st.fragment(run_every=...)`)
executes only the fragment, in a fresh script thread where app.py did not run; for that case the
UI registers a fallback (`set_language_fallback`) that reads the session's choice. Outside the UI
(API, worker, CLI) nothing is set and text stays English.
"""

from __future__ import annotations

import gettext
import threading
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DOMAIN = "messages"
DEFAULT_LANGUAGE = "en"
LANGUAGES = {"en": "English", "es": "Español", "pt_BR": "Português (Brasil)"}

_current: ContextVar[str | None] = ContextVar("language", default=None)
_fallback: Callable[[], str | None] | None = None
_catalogs: dict[str, gettext.NullTranslations] = {}
_catalogs_lock = threading.Lock()


def _catalog(language: str) -> gettext.NullTranslations:
    catalog = _catalogs.get(language)
    if catalog is None:
        with _catalogs_lock:
            catalog = _catalogs.get(language)
            if catalog is None:
                catalog = _load(language)
                _catalogs[language] = catalog
    return catalog


def _load(language: str) -> gettext.NullTranslations:
    if language == DEFAULT_LANGUAGE:
        return gettext.NullTranslations()  # msgids are English
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    try:
        with path.open("rb") as file:
            return gettext.GNUTranslations(file)
    except OSError:
        return gettext.NullTranslations()


def reload_catalogs() -> None:
    """Forget the loaded catalogs (after `python -m core i18n compile`, or in tests)."""
    with _catalogs_lock:
        _catalogs.clear()


def normalize_language(tag: str | None) -> str | None:
    """Our language for a language tag (`es-419`, `pt_PT`, `en-US`, `pt_BR`...); None if unsupported.

    Every Spanish goes to our Latin American Spanish and every Portuguese to Brazilian Portuguese:
    closer than falling back to English.
    """
    if not tag:
        return None
    tag = tag.strip().replace("_", "-")
    if not tag:
        return None
    primary = tag.split("-")[0].lower()
    return {"en": "en", "es": "es", "pt": "pt_BR"}.get(primary)


def set_language(language: str | None) -> str:
    """Use `language` (a supported code or any language tag) for the rest of this run; returns it."""
    chosen = language if language in LANGUAGES else normalize_language(language)
    chosen = chosen or DEFAULT_LANGUAGE
    _current.set(chosen)
    return chosen


def set_language_fallback(fallback: Callable[[], str | None] | None) -> None:
    """Where to find the language when this thread's run did not set one (fragment reruns)."""
    global _fallback
    _fallback = fallback


def current_language() -> str:
    language = _current.get()
    if language is None and _fallback is not None:
        try:
            language = _fallback()
        except Exception:  # a broken fallback must never break rendering
            language = None
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def _(message: str) -> str:
    return _catalog(current_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _catalog(current_language()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a string for extraction without translating it now (module-level tables, options);
    translate it with `_()` where it is shown."""
    return message
