"""Languages: gettext catalogs, messages kept as template + params, dates and numbers per language.

The lowest layer: it imports nothing else of core. `_` and `ngettext` translate into the
current thread's language; `Term` marks our own words inside a sentence; `localize_error`
shows a domain error in the reader's language.
"""

from core.i18n._catalogs import (
    DEFAULT_LANGUAGE,
    DOMAIN,
    LANGUAGES,
    LOCALE_DIR,
    N_,
    N_plural,
    Term,
    _,
    current_language,
    entry,
    format_message,
    localize_entry,
    localize_error,
    ngettext,
    normalize_language,
    reload_catalogs,
    set_language,
    set_language_fallback,
)
from core.i18n._formatting import (
    MISSING,
    babel_locale,
    format_date,
    format_datetime,
    format_duration,
    format_number,
    format_percent,
    format_time,
    to_local,
)

__all__ = [
    "DEFAULT_LANGUAGE",
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "MISSING",
    "N_",
    "N_plural",
    "Term",
    "_",
    "babel_locale",
    "current_language",
    "entry",
    "format_date",
    "format_datetime",
    "format_duration",
    "format_message",
    "format_number",
    "format_percent",
    "format_time",
    "localize_entry",
    "localize_error",
    "ngettext",
    "normalize_language",
    "reload_catalogs",
    "set_language",
    "set_language_fallback",
    "to_local",
]
