"""Notifications to staff and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.base import utcnow
from core.models.base import Base, JSONType


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_account_id_created_at", "account_id", "created_at"),
        Index("ix_notifications_webhook_status_next", "webhook_status", "webhook_next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))  # campaign_completed, instance_down, ...
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text, default="")
    # The same title and body as messages (core.stored_text: template + params), for the UI to
    # say in the reader's language; the English above is what the API and the webhook send.
    # NULL on notifications written before they were stored this way.
    title_text: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    body_text: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="SET NULL"))
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("sender_instances.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    # Delivery to the account's notification webhook (none / pending / sent / failed).
    webhook_status: Mapped[str] = mapped_column(String(10), default="none")
    webhook_attempts: Mapped[int] = mapped_column(Integer, default=0)
    webhook_next_attempt_at: Mapped[datetime | None]


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_account_id_created_at", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(100))  # username, "cli" or "system"
    action: Mapped[str] = mapped_column(String(60))  # campaign.trigger, user.role_changed, ...
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(40))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEventCount(Base):
    """Evolution webhook deliveries received, per event type (added by the API engineer, issue 6).

    Kept in the database so /metrics is right whichever API process received the event.
    """

    __tablename__ = "webhook_event_counts"

    event: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_received_at: Mapped[datetime | None]
