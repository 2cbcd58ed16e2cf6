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
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

LOCALE_DIR = Path(__file__).resolve().parents[2] / "locale"
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


def N_plural(singular: str, plural: str) -> tuple[str, str]:
    """`N_` for a message with plural forms: marks both for extraction; `ngettext` them where shown."""
    return singular, plural


# -- messages with parameters (domain errors, import reasons, stored notifications) ---------------
#
# A message is a constant English template ("a {status} campaign cannot send tests") and params.
# English is `format_message`, the reader's language `localize`. A param value is one of:
#   - user data (a column name, a phone number, a title): shown as it is, never translated;
#   - a `Term`, a word of our vocabulary: translated with the sentence;
#   - another message, as `entry()` makes it ("{phone}: {problem}"): rendered in the same language;
#   - a list of these: shown as "a, b, c".
# An `entry` is plain JSON, so a stored message (ImportBatch.errors, notifications) keeps its
# template, params and the names of its Term params ("terms") and renders later in any language.


class Term(str):
    """A parameter value that is a word of our own vocabulary (a status, a role, an action).

    `localize` translates it with the message; any other parameter (a column name, a phone number,
    a campaign title) is user data and is shown as it is, never run through the catalog. Mark the
    word for extraction too (core/vocabulary.py, or `N_` where the words are defined).
    """

    __slots__ = ()


def entry(template: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A message as plain JSON data: to store, or to pass as a param of another message."""
    params = dict(params or {})
    return {"template": template, "params": params, "terms": term_names(params)}


def term_names(params: Mapping[str, Any] | None) -> list[str]:
    """The names of the parameters that are `Term`s, to store beside params saved as JSON (where
    a `Term` becomes a plain string) and hand back to `localize(..., terms=...)`."""
    return [name for name, value in (params or {}).items() if _is_term(value)]


def _is_term(value: Any) -> bool:
    if isinstance(value, Term):
        return True
    return (
        isinstance(value, list | tuple) and bool(value) and all(isinstance(v, Term) for v in value)
    )


def _is_entry(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("template"), str)


def _shown(value: Any, localizing: bool, term: bool) -> Any:
    if type(value) in _PLAIN and not (localizing and term):  # most params: no work to do
        return value
    if _is_entry(value):
        if localizing:
            return localize_entry(value)
        return format_message(value["template"], value.get("params"))
    if isinstance(value, list | tuple):  # a list reads as "a, b, c" in every language
        return ", ".join(str(_shown(v, localizing, term or isinstance(v, Term))) for v in value)
    if localizing and term and isinstance(value, str) and value:  # `_("")` is the header
        return _(value)
    return value


_PLAIN = frozenset({str, int, float, bool, type(None)})


def format_message(template: str, params: Mapping[str, Any] | None = None) -> str:
    """The English text of a message: the template with its parameters filled in."""
    if not params:
        return template
    values = {name: _shown(value, False, False) for name, value in params.items()}
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError):  # a bad template must not hide its error
        return f"{template} {values}"


def localize(
    template: str, params: Mapping[str, Any] | None = None, terms: Iterable[str] = ()
) -> str:
    """`template` translated into the current language, with `params` filled in.

    Parameters that are `Term`s (or whose names are listed in `terms`, for params read back from
    JSON) are translated too; the others are user data and stay as they are. A translation whose
    placeholders do not fit the params falls back to the English text rather than failing.
    """
    translated = _(template) if template else template
    if not params:
        return translated
    terms = set(terms)
    values = {
        name: _shown(value, True, name in terms or _is_term(value))
        for name, value in params.items()
    }
    try:
        return translated.format(**values)
    except (KeyError, IndexError, ValueError):
        return format_message(template, params)


def localize_entry(entry: Mapping[str, Any], english: str = "message") -> str:
    """A stored message (as `entry()` made it, read back from JSON) in the current language; an
    entry saved before it had a template shows its English `entry[english]`."""
    template = entry.get("template")
    if not template:
        return str(entry.get(english) or "")
    return localize(template, entry.get("params"), entry.get("terms") or ())


def localize_error(error: BaseException) -> str:
    """The message of a domain error (or any exception) in the current language."""
    if getattr(error, "joined", False):  # ValidationError.several(..., joined=True)
        return "; ".join(localize_entry(detail) for detail in error.details)
    template = getattr(error, "template", None)
    if isinstance(template, str) and template:
        return localize(template, getattr(error, "params", None))
    return _(str(error))
