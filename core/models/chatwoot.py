"""An account's link to its Chatwoot: where it is, the (encrypted) token, the contact sync's state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.base import utcnow
from core.models.base import Base, JSONType

DEFAULT_SYNC_MINUTES = 15


class ChatwootLink(Base):
    """One per account. The token is Fernet-encrypted and write-only everywhere."""

    __tablename__ = "chatwoot_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), unique=True
    )
    base_url: Mapped[str] = mapped_column(String(500))
    chatwoot_account_id: Mapped[int] = mapped_column(Integer)
    token_encrypted: Mapped[str] = mapped_column(Text)
    # Minutes between the worker's syncs; 0: the worker does not sync (Sync now still does).
    sync_every_minutes: Mapped[int] = mapped_column(Integer, default=DEFAULT_SYNC_MINUTES)
    next_sync_at: Mapped[datetime | None]
    # A sync in progress (compare-and-set, so the worker and "Sync now" never run two at once).
    sync_started_at: Mapped[datetime | None]
    # "Changed since" of the next incremental run: when the last good run started.
    synced_from: Mapped[datetime | None]
    last_full_sync_at: Mapped[datetime | None]
    # Chatwoot's contact count (meta.count) at the end of the last good run: fewer now than
    # that plus the contacts created since means some were deleted (see core.crm._sync).
    last_total: Mapped[int | None] = mapped_column(Integer)
    last_sync_at: Mapped[datetime | None]
    last_report: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ChatwootMirror(Base):
    """The outbox of sent messages to copy into Chatwoot: one row per recipient, so a message
    is posted at most once. `state`: queued → posting (committed before the POST) → done, or
    failed. A row left `posting` by a crash is checked in Chatwoot before any new POST."""

    __tablename__ = "chatwoot_mirror"
    __table_args__ = (
        Index("ix_chatwoot_mirror_state_next_attempt_at", "state", "next_attempt_at"),
    )

    recipient_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_recipients.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("sender_instances.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    chatwoot_contact_id: Mapped[int | None] = mapped_column(Integer)
    chatwoot_conversation_id: Mapped[int | None] = mapped_column(Integer)
    chatwoot_message_id: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
