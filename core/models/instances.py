"""Sender instances (one Evolution instance = one WhatsApp number) and the worker's bookkeeping."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.base import utcnow
from core.models.base import Base, JSONType
from core.models.enums import ApiVersion, Circuit


class SenderInstance(Base):
    __tablename__ = "sender_instances"
    __table_args__ = (
        UniqueConstraint("account_id", "name"),
        Index("ix_sender_instances_lease", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    base_url: Mapped[str] = mapped_column(String(500))
    instance_name: Mapped[str] = mapped_column(String(200))
    token_encrypted: Mapped[str] = mapped_column(Text)  # Fernet; write-only everywhere
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    api_version: Mapped[str] = mapped_column(String(4), default=ApiVersion.V2)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Pacing and limits.
    rate_per_minute: Mapped[int] = mapped_column(Integer, default=12)
    extra_delay_max_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    window_start: Mapped[time | None] = mapped_column(Time)  # local time of the account
    window_end: Mapped[time | None] = mapped_column(Time)
    window_days: Mapped[list[int] | None] = mapped_column(JSONType)  # 0=Monday; None: every day
    next_send_at: Mapped[datetime | None]  # persisted so a restart does not burst
    # Typing presence: each send shows "typing…" for a random time in this range (0: off).
    # Chatwoot (core.crm): the inbox this number belongs to there, and who copies campaign
    # messages into it: nobody (off), we do (ours), or Evolution's own integration (evolution).
    chatwoot_inbox_id: Mapped[int | None] = mapped_column(Integer)
    chatwoot_mirror: Mapped[str] = mapped_column(String(10), default="off", server_default="off")
    chatwoot_mirror_since: Mapped[datetime | None]  # sends from then on are mirrored
    chatwoot_mirror_error: Mapped[str | None] = mapped_column(String(500))  # the last failure
    chatwoot_mirror_error_at: Mapped[datetime | None]
    typing_min_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    typing_max_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # Long pauses: after every `long_pause_every` sends (NULL: never) a random pause of
    # [min, max] minutes on top of pacing; the count since the last one survives a restart.
    long_pause_every: Mapped[int | None] = mapped_column(Integer)
    long_pause_min_minutes: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    long_pause_max_minutes: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    sends_since_long_pause: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Warm-up (core.instances._warmup): NULL or "off", a preset name, or a list of daily
    # allowances, day 1 first. The number's age counts from `number_since` (staff enter it) or
    # else from its first send through this tool.
    warmup: Mapped[Any] = mapped_column(JSONType, nullable=True)
    number_since: Mapped[date | None] = mapped_column(Date)
    first_sent_at: Mapped[datetime | None]
    # Health (core.instances._health): the last score 0-100 and its explanation, when it was
    # scored, and since when the number is paused for it (NULL: not paused).
    health_score: Mapped[int | None] = mapped_column(Integer)
    health_details: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    health_checked_at: Mapped[datetime | None]
    health_paused_at: Mapped[datetime | None]
    # The warm-up's position, kept (core.instances._warmup_days): the ladder step (0 = day 1)
    # in force on local day `warmup_step_on`, judged once a day from the number's health, and
    # that judgement ({"verdict": advanced|held|stepped_back, "score", "day"}). NULL: not
    # judged yet, the step is the number's age.
    warmup_step: Mapped[int | None] = mapped_column(Integer)
    warmup_step_on: Mapped[date | None] = mapped_column(Date)
    warmup_judgement: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Health.
    state: Mapped[str] = mapped_column(String(20), default="unknown")  # open/connecting/close/...
    state_checked_at: Mapped[datetime | None]
    circuit: Mapped[str] = mapped_column(String(10), default=Circuit.CLOSED)
    circuit_cause: Mapped[str | None] = mapped_column(String(10))  # CircuitCause while open
    circuit_reason: Mapped[str | None] = mapped_column(String(500))  # English (API, webhook)
    # circuit_reason as a message (core.stored_text) the UI translates; NULL for technical ones.
    circuit_reason_text: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    circuit_opened_at: Mapped[datetime | None]
    # Evolution 2.4's page where the server is activated, while it answers LICENSE_REQUIRED.
    activation_url: Mapped[str | None] = mapped_column(String(500))
    # The breaker (kept here so a restart or a lease moving on does not forget it): recipients
    # whose sends failed server-side in a row, {recipient id: failures}, since the first.
    failure_streak: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failure_streak_recipients: Mapped[dict[str, int] | None] = mapped_column(JSONType)
    failure_streak_started_at: Mapped[datetime | None]
    # The worker's connection checks: when the next is due, and how many failed in a row while
    # the circuit is open (its backoff).
    next_check_at: Mapped[datetime | None]
    check_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    webhook_registered_at: Mapped[datetime | None]
    webhook_error: Mapped[str | None] = mapped_column(String(500))
    # Ownership: the one worker allowed to send through this instance.
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InstanceSend(Base):
    """One row per HTTP send attempt: the record pacing, windows and daily caps count from."""

    __tablename__ = "instance_sends"
    __table_args__ = (Index("ix_instance_sends_instance_id_sent_at", "instance_id", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("sender_instances.id", ondelete="CASCADE"))
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign_recipients.id", ondelete="SET NULL")
    )
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)


class HealthSample(Base):
    """A number's health score at a moment: its history (core.instances._health_history)."""

    __tablename__ = "instance_health_samples"
    __table_args__ = (Index("ix_instance_health_samples_instance_at", "instance_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("sender_instances.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    score: Mapped[int] = mapped_column(Integer)
    worst: Mapped[str | None] = mapped_column(String(40))  # the signal that cost the most
    paused: Mapped[bool] = mapped_column(Boolean, default=False)


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
