"""Status values, named once."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # users, credentials, settings, and everything a manager does
    MANAGER = "manager"  # contacts, campaigns, trigger
    VIEWER = "viewer"  # read only


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    PENDING = "pending"  # scheduled
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"  # could not run at all


class RecipientStatus(StrEnum):
    PENDING = "pending"  # queued (also: waiting to retry, when next_attempt_at is set)
    SENDING = "sending"  # claimed by a worker; the HTTP call may be under way
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNKNOWN = "unknown"  # may have gone out; never resent automatically
    SKIPPED = "skipped"  # left out after freezing (opted out, campaign cancelled)


class WhatsAppStatus(StrEnum):
    UNKNOWN = "unknown"
    EXISTS = "exists"
    NOT_ON_WHATSAPP = "not_on_whatsapp"


class Circuit(StrEnum):
    CLOSED = "closed"  # healthy: sends flow
    OPEN = "open"  # broken (bad key, unknown instance, session closed): nothing is sent


class ApiVersion(StrEnum):
    V2 = "v2"
    V1 = "v1"


class MediaType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"
    AUDIO = "audio"
