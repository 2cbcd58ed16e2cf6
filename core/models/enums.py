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
    # Experiments (core.campaigns._variants): never sent, never failed, not work to do.
    HELD_OUT = "held_out"  # the holdout group: kept unsent on purpose, to compare against
    # The rest of an A/B audience: never claimed (claims pick `pending` only) until the winner
    # is decided, which makes them `pending` with the winner's text.
    AWAITING_WINNER = "awaiting_winner"


class AbMetric(StrEnum):
    """What an A/B test's winner is chosen by: the rate among the test recipients sent."""

    READ = "read"
    REPLY = "reply"
    CLICK = "click"


class WhatsAppStatus(StrEnum):
    UNKNOWN = "unknown"
    EXISTS = "exists"
    NOT_ON_WHATSAPP = "not_on_whatsapp"


class Circuit(StrEnum):
    CLOSED = "closed"  # healthy: sends flow
    OPEN = "open"  # broken (server down, not activated, session closed, bad key): nothing is sent


class CircuitCause(StrEnum):
    """Why a number's circuit opened, which says who closes it again."""

    SERVER = "server"  # the server is not answering (5xx, proxy 502/503/504, refused, timeouts)
    LICENCE = "licence"  # Evolution 2.4 is not activated (503 LICENSE_REQUIRED)
    SESSION = "session"  # the WhatsApp session behind the instance closed (Connection Closed)
    CONFIG = "config"  # key refused, unknown instance, wrong URL, unreadable token: staff fix it

    @property
    def closes_by_itself(self) -> bool:
        """The worker's probe closes the circuit once `connectionState` answers `open`: for these
        causes that answer proves sends work again. A configuration problem waits for staff."""
        return self is not CircuitCause.CONFIG


class PauseCause(StrEnum):
    """Who paused a campaign: only a circuit's pause is lifted by the system."""

    STAFF = "staff"
    CIRCUIT = (
        "circuit"  # its number broke; it resumes once none of the numbers that paused it is down
    )


class ApiVersion(StrEnum):
    V2 = "v2"
    V1 = "v1"


class MediaType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    DOCUMENT = "document"
    AUDIO = "audio"
