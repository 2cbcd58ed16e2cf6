"""Telling staff: notifications stored in the app, and delivered to the account's webhook URL.

Other packages call `notify` inside their transaction; the worker delivers the webhooks.
"""

from core.notifications._notifications import (
    WEBHOOK_BACKOFF_MAX,
    WEBHOOK_MAX_ATTEMPTS,
    WebhookReport,
    body_of,
    deliver_pending_webhooks,
    latest_id,
    list_notifications,
    mark_all_read,
    mark_read,
    newer_than,
    notify,
    title_of,
    unread_count,
)

__all__ = [
    "WEBHOOK_BACKOFF_MAX",
    "WEBHOOK_MAX_ATTEMPTS",
    "WebhookReport",
    "body_of",
    "deliver_pending_webhooks",
    "latest_id",
    "list_notifications",
    "mark_all_read",
    "mark_read",
    "newer_than",
    "notify",
    "title_of",
    "unread_count",
]
