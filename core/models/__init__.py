"""The data model (DESIGN.md § Data). Import models from here."""

from core.models.accounts import (
    DEFAULT_OPT_OUT_KEYWORDS,
    Account,
    ApiToken,
    LoginThrottle,
    Membership,
    User,
    UserSession,
)
from core.models.base import Base
from core.models.campaigns import (
    Campaign,
    CampaignRecipient,
    MediaFile,
    TrackedLink,
    campaign_instances,
)
from core.models.chatwoot import DEFAULT_SYNC_MINUTES, ChatwootLink, ChatwootMirror
from core.models.contacts import Contact, ImportBatch, Label, contact_labels
from core.models.enums import (
    AbMetric,
    ApiVersion,
    CampaignStatus,
    Circuit,
    CircuitCause,
    MediaType,
    PauseCause,
    RecipientStatus,
    Role,
    WhatsAppStatus,
)
from core.models.instances import HealthSample, InstanceSend, SenderInstance, WorkerHeartbeat
from core.models.ops import AuditLog, Notification, WebhookEventCount

__all__ = [
    "AbMetric",
    "DEFAULT_OPT_OUT_KEYWORDS",
    "DEFAULT_SYNC_MINUTES",
    "ChatwootLink",
    "ChatwootMirror",
    "Account",
    "ApiToken",
    "ApiVersion",
    "AuditLog",
    "Base",
    "Campaign",
    "CampaignRecipient",
    "CampaignStatus",
    "Circuit",
    "CircuitCause",
    "Contact",
    "HealthSample",
    "ImportBatch",
    "InstanceSend",
    "Label",
    "LoginThrottle",
    "MediaFile",
    "MediaType",
    "Membership",
    "Notification",
    "PauseCause",
    "RecipientStatus",
    "Role",
    "SenderInstance",
    "TrackedLink",
    "User",
    "UserSession",
    "WebhookEventCount",
    "WhatsAppStatus",
    "WorkerHeartbeat",
    "campaign_instances",
    "contact_labels",
]
