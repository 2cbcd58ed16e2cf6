"""Tenants, people, their roles and their API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.base import utcnow
from core.models.base import Base

DEFAULT_OPT_OUT_KEYWORDS = ["STOP", "SAIR", "BAJA", "PARAR", "CANCELAR", "UNSUBSCRIBE"]


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    default_country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166 for local numbers
    language: Mapped[str] = mapped_column(String(8), default="en")
    campaigns_enabled: Mapped[bool] = mapped_column(Boolean, default=True)  # the seed's flag
    opt_out_keywords: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: list(DEFAULT_OPT_OUT_KEYWORDS)
    )
    notification_webhook_url: Mapped[str | None] = mapped_column(String(500))
    confirm_above_recipients: Mapped[int] = mapped_column(Integer, default=1000)
    # An inbound message this many days after a send counts as a reply to that campaign.
    reply_window_days: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    # Bumped by every write to the account's contacts or their labels, in that write's
    # transaction (core.contacts): caches of the contacts (the audience) compare it.
    contacts_revision: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="account", cascade="all, delete-orphan", passive_deletes=True
    )


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))  # argon2; None: SSO only
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(8))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    # The country this person last chose for an import's local numbers: offered next time.
    import_country: Mapped[str | None] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="memberships")
    account: Mapped[Account] = relationship(back_populates="memberships")


class ApiToken(Base):
    """Stored as a SHA-256 digest: the token itself is shown once, at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # to tell tokens apart in lists
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed logins under a username nobody has, counted like a user's own (`User.failed_logins`),
    so a made-up name locks out exactly like a real one and the answers never tell them apart."""

    __tablename__ = "login_throttles"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class UserSession(Base):
    """A logged-in browser session; expires, and dies on logout or deactivation."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
