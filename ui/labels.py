"""Status and role names as the UI shows them, translated. Values stay English in the database,
the API and the logs; pages show `status_label(campaign.status)` instead of the raw value.
"""

from __future__ import annotations

from enum import StrEnum

from core.i18n import N_, _, format_number, ngettext
from core.models import CampaignStatus, Circuit, MediaType, RecipientStatus, Role, WhatsAppStatus

CAMPAIGN_STATUS = {
    CampaignStatus.DRAFT: N_("Draft"),
    CampaignStatus.PENDING: N_("Scheduled"),
    CampaignStatus.RUNNING: N_("Running"),
    CampaignStatus.PAUSED: N_("Paused"),
    CampaignStatus.COMPLETED: N_("Completed"),
    CampaignStatus.CANCELLED: N_("Cancelled"),
    CampaignStatus.FAILED: N_("Failed"),
}
RECIPIENT_STATUS = {
    RecipientStatus.PENDING: N_("Queued"),
    RecipientStatus.SENDING: N_("Sending"),
    RecipientStatus.SENT: N_("Sent"),
    RecipientStatus.DELIVERED: N_("Delivered"),
    RecipientStatus.READ: N_("Read"),
    RecipientStatus.FAILED: N_("Failed"),
    RecipientStatus.UNKNOWN: N_("Unknown (may have been sent)"),
    RecipientStatus.SKIPPED: N_("Skipped"),
    RecipientStatus.HELD_OUT: N_("Held out (never sent)"),
    RecipientStatus.AWAITING_WINNER: N_("Waiting for the A/B winner"),
}
WHATSAPP_STATUS = {
    WhatsAppStatus.UNKNOWN: N_("Not checked"),
    WhatsAppStatus.EXISTS: N_("On WhatsApp"),
    WhatsAppStatus.NOT_ON_WHATSAPP: N_("Not on WhatsApp"),
}
CIRCUIT = {
    Circuit.CLOSED: N_("Healthy"),
    Circuit.OPEN: N_("Stopped (needs attention)"),
}
ROLE = {
    Role.ADMIN: N_("Admin"),
    Role.MANAGER: N_("Manager"),
    Role.VIEWER: N_("Viewer"),
}
# Pages also translate a raw role value in running text (`_(actor.role)`): "admin" -> "administrador".
ROLE_VALUES = (N_("admin"), N_("manager"), N_("viewer"))
MEDIA_TYPE = {
    MediaType.IMAGE: N_("Image"),
    MediaType.VIDEO: N_("Video"),
    MediaType.DOCUMENT: N_("Document"),
    MediaType.AUDIO: N_("Audio"),
}
# Connection states Evolution reports for an instance (`connection.update`, connectionState).
CONNECTION_STATE = {
    "open": N_("Connected"),
    "connecting": N_("Connecting"),
    "close": N_("Disconnected"),
    "closed": N_("Disconnected"),
    "refused": N_("Refused"),
    "not_activated": N_("Not activated"),
    "unreachable": N_("Unreachable"),
}

# Why a recipient failed (CampaignRecipient.error_kind, core.outcome.Outcome values and the
# worker's own); stats group by it, falling back to the status when it is empty.
ERROR_KIND = {
    "not_on_whatsapp": N_("Not on WhatsApp"),
    "rejected": N_("Rejected by WhatsApp (bad data)"),
    "instance_down": N_("WhatsApp number stopped"),
    "retry": N_("Temporary error (retried)"),
    "retries_exhausted": N_("Temporary error on every attempt"),
    "whatsapp_error": N_("WhatsApp reported an error"),
    "unknown": N_("Timed out (may have been sent)"),
    "worker_lost": N_("Worker stopped while sending"),
}

_BY_ENUM: dict[type[StrEnum], dict] = {
    CampaignStatus: CAMPAIGN_STATUS,
    RecipientStatus: RECIPIENT_STATUS,
    WhatsAppStatus: WHATSAPP_STATUS,
    Circuit: CIRCUIT,
    Role: ROLE,
    MediaType: MEDIA_TYPE,
}
# A plain string is looked up in this order (a campaign's `pending` is "Scheduled"; pass a
# RecipientStatus, or use recipient_status_label, for a recipient's "Queued").
_PLAIN_ORDER = (CAMPAIGN_STATUS, RECIPIENT_STATUS, WHATSAPP_STATUS, ROLE, MEDIA_TYPE, CIRCUIT)


def status_label(status: StrEnum | str | None) -> str:
    """The translated name of a status, role or type value; an unknown value is shown as is."""
    if status is None:
        return "—"
    names = _BY_ENUM.get(type(status))
    if names is not None:
        return _(names[status])
    for names in _PLAIN_ORDER:
        if status in names:
            return _(names[status])
    return str(status)


def campaign_status_label(status: str) -> str:
    return _(CAMPAIGN_STATUS.get(status, status))


def recipient_status_label(status: str) -> str:
    return _(RECIPIENT_STATUS.get(status, status))


def connection_label(state: str | None) -> str:
    if not state:
        return _("Unknown")
    return _(CONNECTION_STATE.get(state, state))


def error_kind_label(kind: str | None) -> str:
    """A failure reason for charts and tables; a status value (no kind recorded) reads as status."""
    if kind in ERROR_KIND:
        return _(ERROR_KIND[kind])
    return status_label(kind) if kind else _("Unknown")


def role_label(role: str) -> str:
    return _(ROLE.get(role, role))


def count_label(n: int, what: str) -> str:
    """`3 recipients`, `1 contact`, `1.234 contatos`: a count of one of the nouns pages count most
    (`recipient`, `contact`, `campaign`, `message`), with the language's plural and separators."""
    number = format_number(n)
    if what == "recipient":
        return ngettext("{n} recipient", "{n} recipients", n).format(n=number)
    if what == "contact":
        return ngettext("{n} contact", "{n} contacts", n).format(n=number)
    if what == "campaign":
        return ngettext("{n} campaign", "{n} campaigns", n).format(n=number)
    if what == "message":
        return ngettext("{n} message", "{n} messages", n).format(n=number)
    raise ValueError(f"no plural forms for {what!r}")


# app.py's navigation table translates its sections and titles with `_(title)`; they are marked
# here for extraction (app.py's PAGES stays plain literals, which its tests read with literal_eval).
# tests/test_i18n.py fails when a title there is missing from the catalogs.
NAVIGATION = (
    N_("Dashboard"),
    N_("Campaigns"),
    N_("New campaign"),
    N_("Campaign"),
    N_("Notifications"),
    N_("Contacts"),
    N_("Settings"),
    N_("WhatsApp numbers"),
    N_("Users"),
    N_("API tokens"),
    N_("Account"),
    N_("Audit log"),
    N_("My profile"),
)
