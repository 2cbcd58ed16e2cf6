"""Sentences the worker and the services store for people to read later.

A notification, the reason a campaign stopped, an import's summary: each is stored twice. Its
English text goes in the row's text column (`Notification.title`, `Campaign.error_message`, ...):
the REST API and the account's notification webhook send that as it is. Beside it, a JSON column
(`title_text`, `error_text`, ...) keeps the same sentence as a message — a template and its params,
`core.i18n.entry` — so a page can say it in the reader's language (`localized`). Rows written before
the JSON columns existed have only the English, and pages show that.

Every template lives here, marked for extraction, and `text()` accepts no other: a stored sentence
is never built at run time, and tests/test_stored_text.py checks each one is translated. Params are
user data or technical details shown as they are (a campaign's title, a number's name, an HTTP
error), numbers, or other messages (translated with the sentence, e.g. a domain error's message).
A stored value may also be a list of messages, read as "a, b, c".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.base._errors import DomainError
from core.i18n import N_, N_plural, _, entry, format_message, localize_entry, ngettext

StoredText = dict[str, Any] | list[dict[str, Any]]

# -- notifications ---------------------------------------------------------------------------------

# The title of each kind of notification (Notification.kind). Bodies are other messages below.
NOTIFICATION_TITLES = {
    "campaign_completed": N_("Campaign '{title}' completed"),
    "campaign_failed": N_("Campaign “{title}” could not start"),
    "campaign_paused": N_("Campaign '{title}' was paused"),
    "campaign_resumed": N_("Campaign '{title}' resumed"),
    "campaign_retrying": N_("Campaign '{title}' is retrying its failed recipients"),
    "campaign_ab_decided": N_("Campaign '{title}': variant {variant} won the A/B test"),
    "instance_down": N_("WhatsApp number '{name}' stopped sending"),
    "instance_up": N_("WhatsApp number '{name}' is connected again"),
    "instance_health_paused": N_("WhatsApp number '{name}' paused: its health is low"),
    "instance_health_resumed": N_("WhatsApp number '{name}' resumed: its health recovered"),
}
# {reason} is why the circuit opened: one of the messages below (SERVER_NOT_ANSWERING,
# NOT_ACTIVATED), or what the send path recorded (an HTTP status and the server's words, a
# transport error), a technical detail for whoever fixes the number, shown as it is.
INSTANCE_DOWN_BODY = N_(
    "{reason}. Fix it, then re-enable the number in Settings → WhatsApp numbers."
)
# ... when the worker closes the circuit by itself once the number answers (CircuitCause).
INSTANCE_DOWN_WAITING_BODY = N_(
    "{reason}. Nothing is sent through it meanwhile and no recipient is marked failed; "
    "the worker keeps checking it, and sending resumes by itself when it answers."
)
# Kept for notifications stored before campaigns resumed by themselves (migration 0004).
INSTANCE_UP_BODY = N_(
    "Its campaigns stay paused: re-enable the number in Settings → WhatsApp numbers, "
    "then resume them."
)
INSTANCE_BACK_BODY = N_("Sending has started again; the campaigns it paused resume by themselves.")
INSTANCE_UP_REENABLE_BODY = N_(
    "Re-enable the number in Settings → WhatsApp numbers: the campaigns it paused then "
    "resume by themselves."
)
# Why a number stopped, when it is not a technical detail. {url}: the server's base URL;
# {error}: what it answered ("502 Bad Gateway", "could not connect to the server"), as it is;
# {since}: the time of the first failure (HH:MM), in the account's timezone.
SERVER_NOT_ANSWERING = N_("the Evolution server at {url} is not answering ({error}) since {since}")
NOT_ACTIVATED = N_("activate this Evolution server (open {register_url})")
# A number's health (core.instances._health): {score} 0-100, {signal} one of HEALTH_SIGNALS.
HEALTH_PAUSED_BODY = N_(
    "Its health score fell to {score} of 100, mostly because of {signal}. Nothing is sent "
    "through it for now; it resumes by itself as its last day's signals improve."
)
HEALTH_RESUMED_BODY = N_("Its health score is back at {score} of 100: sending has started again.")
HEALTH_SIGNALS = {
    "not_on_whatsapp": N_("numbers that are not on WhatsApp"),
    "send_errors": N_("sends that failed"),
    "opt_outs": N_("contacts opting out"),
    "low_reads": N_("few messages being read"),
    "connection_drops": N_("the connection dropping"),
    "missing_receipts": N_("delivery receipts no longer arriving"),
    "unknown": N_("several signals together"),
}
CAMPAIGN_RESUMED_BODY = N_("Its WhatsApp numbers answer again; sending goes on where it stopped.")
# An automatic retry's notification: how many recipients are sent again.
AUTO_RETRY_BODY = N_plural(
    "{n} recipient whose send failed for a temporary reason is being sent again.",
    "{n} recipients whose sends failed for temporary reasons are being sent again.",
)
# An A/B decision's body (core.campaigns._ab_decision): {numbers} reads "A 42.0%, B 38.5%".
AB_WON_BY_RATE = N_(
    "It had the best rate over the test share ({numbers}); the rest of the audience gets it now."
)
AB_WON_TIE = N_(
    "The rates were within {points} points of each other ({numbers}), so the rule picked it "
    "(the highest weight, then the first); the rest of the audience gets it now."
)
AB_WON_LITTLE_DATA = N_(
    "Too few test messages went out to compare (each variant needs {minimum} sent), so the "
    "rule picked it (the highest weight, then the first); the rest of the audience gets it now."
)
AB_WON_MANUAL = N_("{user} picked it by hand ({numbers}); the rest of the audience gets it now.")
# A completed campaign's body: "300 sent, 2 failed", one part per recipient status that has any.
COUNTS = {
    "sent": N_plural("{n} sent", "{n} sent"),
    "delivered": N_plural("{n} delivered", "{n} delivered"),
    "read": N_plural("{n} read", "{n} read"),
    "failed": N_plural("{n} failed", "{n} failed"),
    "unknown": N_plural("{n} unknown", "{n} unknown"),
    "held_out": N_plural("{n} held out", "{n} held out"),  # the holdout group, never sent
}

# -- why a campaign stopped (Campaign.error_message, and the body of its notification) -------------

NO_NUMBER = N_("no WhatsApp number was chosen to send through")
INVALID_AUDIENCE = N_("the audience is not valid: {error}")  # {error}: the domain error's message
EMPTY_AUDIENCE = N_("the audience matches no contacts who can receive it")
NO_PUBLIC_URL = N_(
    "links cannot be tracked: PUBLIC_API_URL (the address where phones reach the API) is not set"
)
START_CRASHED = N_("could not start: {error}")  # {error}: the exception's class, for support
PAUSED_NUMBER_DOWN = N_("Paused: the WhatsApp number '{name}' is down ({reason})")
PAUSED_WAITING_FOR_NUMBER = N_(
    "Paused: the WhatsApp number '{name}' is down ({reason}). It resumes by itself when the "
    "number answers again."
)

# -- an import's summary (ImportBatch.message) -------------------------------------------------------

IMPORT_FORMAT = N_("{encoding}, {separated}")
IMPORT_FORMAT_COUNTRY = N_(
    "{encoding}, {separated}; numbers without a country code read as {country}"
)
SEPARATED = {
    ",": N_("comma-separated"),
    ";": N_("semicolon-separated"),
    "\t": N_("tab-separated"),
    "|": N_("pipe-separated"),
}

# -- a recipient's last error (CampaignRecipient.last_error) of our own making ----------------------
# Stored as plain English text: most last errors come from the server or the transport and are
# shown as they are; `recipient_error` translates exactly these sentences.

CAMPAIGN_CANCELLED = N_("campaign cancelled")
CONTACT_OPTED_OUT = N_("the contact opted out")
WORKER_LOST = N_("the worker sending this message stopped; it may have gone out")
WHATSAPP_DELIVERY_ERROR = N_("WhatsApp reported an error delivering the message")
RECIPIENT_ERRORS = frozenset(
    {CAMPAIGN_CANCELLED, CONTACT_OPTED_OUT, WORKER_LOST, WHATSAPP_DELIVERY_ERROR}
)

TEMPLATES: frozenset[str] = frozenset(
    {
        *NOTIFICATION_TITLES.values(),
        INSTANCE_DOWN_BODY,
        INSTANCE_DOWN_WAITING_BODY,
        INSTANCE_UP_BODY,
        INSTANCE_BACK_BODY,
        INSTANCE_UP_REENABLE_BODY,
        SERVER_NOT_ANSWERING,
        NOT_ACTIVATED,
        CAMPAIGN_RESUMED_BODY,
        AB_WON_BY_RATE,
        AB_WON_TIE,
        AB_WON_LITTLE_DATA,
        AB_WON_MANUAL,
        HEALTH_PAUSED_BODY,
        HEALTH_RESUMED_BODY,
        *HEALTH_SIGNALS.values(),
        NO_NUMBER,
        INVALID_AUDIENCE,
        EMPTY_AUDIENCE,
        NO_PUBLIC_URL,
        START_CRASHED,
        PAUSED_NUMBER_DOWN,
        PAUSED_WAITING_FOR_NUMBER,
        IMPORT_FORMAT,
        IMPORT_FORMAT_COUNTRY,
        *SEPARATED.values(),
    }
)


# -- building ----------------------------------------------------------------------------------------


def text(template: str, /, **params: Any) -> dict[str, Any]:
    """A stored message: one of this module's templates with its params (JSON-safe)."""
    if template not in TEMPLATES:
        raise ValueError(f"not a template of core.stored_text: {template!r}")
    return entry(template, {name: _plain(value) for name, value in params.items()})


# Every message with plural forms (`counted` accepts no other).
PLURAL_TEMPLATES: tuple[tuple[str, str], ...] = (*COUNTS.values(), AUTO_RETRY_BODY)


def counted(forms: tuple[str, str], n: int) -> dict[str, Any]:
    """A stored message with plural forms (one of PLURAL_TEMPLATES) for `n`."""
    if forms not in PLURAL_TEMPLATES:
        raise ValueError(f"not a plural template of core.stored_text: {forms!r}")
    singular, plural = forms
    return {"template": singular, "plural": plural, "params": {"n": int(n)}, "terms": []}


def counts(values: Mapping[str, int]) -> list[dict[str, Any]]:
    """A completed campaign's counts ("300 sent, 2 failed"), the statuses that have any."""
    parts = []
    for status, forms in COUNTS.items():
        n = int(values.get(status) or 0)
        if n:
            parts.append(counted(forms, n))
    return parts


def error_text(error: DomainError) -> dict[str, Any]:
    """A domain error's message as a stored message (its template is extracted where raised)."""
    return entry(error.template, {name: _plain(value) for name, value in error.params.items()})


def _plain(value: Any) -> Any:
    """The value as JSON keeps it (a `Term` is a str: `entry` lists it in the message's terms)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


# -- reading -----------------------------------------------------------------------------------------


def english(stored: StoredText) -> str:
    """The English text (what the text column holds)."""
    if isinstance(stored, list):
        return ", ".join(english(part) for part in stored)
    params = stored.get("params") or {}
    if "plural" in stored:
        n = params.get("n", 0)
        return format_message(stored["template"] if n == 1 else stored["plural"], params)
    return format_message(stored["template"], params)


def localized(stored: StoredText | None, fallback: str | None = None) -> str:
    """The message in the current language; `fallback` (the English column) for a row stored
    before messages were (None), or for a value this version cannot read."""
    if not stored:
        return fallback or ""
    try:
        return _localized(stored)
    except (AttributeError, KeyError, TypeError, ValueError):
        return fallback or ""


def _localized(stored: StoredText) -> str:
    if isinstance(stored, list):
        return ", ".join(_localized(part) for part in stored)
    template, params = stored["template"], stored.get("params") or {}
    if not isinstance(template, str) or not template:
        raise ValueError("not a stored message")
    template.format(**params)  # raises when the params do not fill it: the English is shown
    if "plural" in stored:
        chosen = ngettext(template, stored["plural"], int(params.get("n", 0)))
        return chosen.format(**params)
    return localize_entry(stored)


def recipient_error(last_error: str | None) -> str:
    """A recipient's last error for a page: ours in the reader's language, the rest as recorded."""
    if not last_error:
        return ""
    return _(last_error) if last_error in RECIPIENT_ERRORS else last_error
