"""Campaigns, the instances they send through, their frozen recipients and uploaded media."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    Time,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.base import utcnow
from core.models.base import Base, JSONType
from core.models.enums import CampaignStatus, RecipientStatus
from core.models.instances import SenderInstance

campaign_instances = Table(
    "campaign_instances",
    Base.metadata,
    Column("campaign_id", ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "instance_id",
        ForeignKey("sender_instances.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
)


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_account_id_status", "account_id", "status"),
        Index("ix_campaigns_status_scheduled_at", "status", "scheduled_at"),
        Index("ix_campaigns_auto_retry_at", "auto_retry_at"),
        # The campaign list's order: a page is read from the index, not sorted from all rows.
        Index("ix_campaigns_account_id_created_at", "account_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    # The seed's fields.
    title: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)  # a template: {{first_name|there}}
    audience: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    scheduled_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default=CampaignStatus.DRAFT)
    multimedia: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    delivery_stats: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # derived
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # What DESIGN.md adds.
    window_start: Mapped[time | None] = mapped_column(Time)  # overrides the instances' window
    window_end: Mapped[time | None] = mapped_column(Time)
    window_days: Mapped[list[int] | None] = mapped_column(JSONType)
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    error_message: Mapped[str | None] = mapped_column(Text)
    # error_message as a message (core.stored_text) the UI translates; NULL on older rows.
    error_text: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # While paused: who paused it (PauseCause) and, for a circuit, the numbers that did.
    pause_cause: Mapped[str | None] = mapped_column(String(16))
    paused_instance_ids: Mapped[list[int] | None] = mapped_column(JSONType)
    # "Retry failed recipients automatically after N hours" (None: off), up to `limit` times;
    # only failures of a temporary kind are retried. `auto_retry_at`: when the next one is due.
    auto_retry_hours: Mapped[int | None] = mapped_column(Integer)
    # Deliver inside the send window of each recipient's own timezone (CampaignRecipient.timezone).
    deliver_in_recipient_timezone: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    auto_retry_limit: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    auto_retries_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    auto_retry_at: Mapped[datetime | None]
    # Each http(s) link rewritten per recipient to a short link of ours that counts the click.
    track_links: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # Experiments (core.campaigns._variants). `variants`: 2-5 {"message", "multimedia", "weight"}
    # (NULL: the single message above; with variants, message/multimedia mirror variant 0).
    variants: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    # {"test_share", "decide_after_minutes", "metric"}: the variants go to a test share first.
    ab_test: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    holdout_share: Mapped[float | None] = mapped_column(Float)  # kept unsent (0-0.5)
    # The A/B decision, set once by a compare-and-set (core.campaigns._ab_decision).
    ab_winner: Mapped[int | None] = mapped_column(Integer)
    ab_decided_at: Mapped[datetime | None]
    ab_decision: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    instances: Mapped[list[SenderInstance]] = relationship(
        secondary=campaign_instances, lazy="selectin"
    )


class CampaignRecipient(Base):
    """One contact of a started campaign. The recipients are the truth; stats derive from them."""

    __tablename__ = "campaign_recipients"
    __table_args__ = (
        UniqueConstraint("campaign_id", "contact_id"),
        Index("ix_campaign_recipients_campaign_id_status", "campaign_id", "status"),
        Index("ix_campaign_recipients_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_campaign_recipients_provider_message_id", "provider_message_id"),
        Index("ix_campaign_recipients_instance_id_sent_at", "instance_id", "sent_at"),
        # A reply finds the latest campaign that reached its sender (core.tracking._replies).
        Index("ix_campaign_recipients_contact_id_sent_at", "contact_id", "sent_at"),
        # Stats (issue 7): sends of a campaign in a time range, with their status, read from the
        # index alone (dashboard totals, per-hour volume, heat-map; bench/dashboard.py).
        Index(
            "ix_campaign_recipients_campaign_id_is_test_sent_at_status",
            "campaign_id",
            "is_test",
            "sent_at",
            "status",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)  # "send a test": not in stats
    phone: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(200))
    rendered_text: Mapped[str] = mapped_column(Text)  # exactly what was (or will be) sent
    status: Mapped[str] = mapped_column(String(16), default=RecipientStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    error_kind: Mapped[str | None] = mapped_column(String(32))
    http_status: Mapped[int | None] = mapped_column(Integer)
    provider_message_id: Mapped[str | None] = mapped_column(String(100))
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("sender_instances.id", ondelete="SET NULL")
    )
    # The recipient's own timezone, when its campaign delivers in each recipient's local time.
    timezone: Mapped[str | None] = mapped_column(String(64))
    # Worker (issue 5): how many parts of a multi-part message already went out (audio campaigns
    # send the text, then the audio); a retry resumes after them instead of resending the text.
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    # The first reply within the account's reply window after this send (once per recipient).
    replied_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]  # first click on any of its tracked links
    # Index into Campaign.variants (A=0); NULL without variants, for the held-out and for the
    # rest of an A/B audience until the winner is decided.
    variant: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrackedLink(Base):
    """One link of one recipient's message: `code` is the unguessable part of its short link."""

    __tablename__ = "tracked_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    recipient_id: Mapped[int] = mapped_column(
        ForeignKey("campaign_recipients.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(Text)
    clicks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    first_clicked_at: Mapped[datetime | None]
    last_clicked_at: Mapped[datetime | None]
    previews: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # bot fetches


class MediaFile(Base):
    """An uploaded attachment, kept in the database so every worker can read it."""

    __tablename__ = "media_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    mimetype: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
