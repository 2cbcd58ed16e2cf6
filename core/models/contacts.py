"""Contacts, their labels, and the imports that brought them in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.base import utcnow
from core.models.base import Base, JSONType
from core.models.enums import WhatsAppStatus

contact_labels = Table(
    "contact_labels",
    Base.metadata,
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("label_id", ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("account_id", "phone"),
        Index("ix_contacts_account_id_name", "account_id", "name"),
        # The audience cache's version query (core/audience.py): count, max(updated_at) and
        # max(id) per account, each answered from an index instead of a table scan.
        Index("ix_contacts_account_id_updated_at", "account_id", "updated_at"),
        Index("ix_contacts_account_id_id", "account_id", "id"),
        # The Chatwoot contact this one is synced from (core.crm); NULL: not linked.
        UniqueConstraint("account_id", "chatwoot_contact_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(20))  # E.164, with the leading +
    name: Mapped[str | None] = mapped_column(String(200))
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    opted_out_at: Mapped[datetime | None]
    whatsapp_status: Mapped[str] = mapped_column(String(20), default=WhatsAppStatus.UNKNOWN)
    chatwoot_contact_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    labels: Mapped[list[Label]] = relationship(secondary=contact_labels, lazy="selectin")

    @property
    def label_names(self) -> list[str]:
        return sorted(label.name for label in self.labels)


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))  # trimmed, lower-case


class ImportBatch(Base):
    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(20), default="running")  # running/done/refused
    created_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    unchanged_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    merged_count: Mapped[int] = mapped_column(Integer, default=0)  # duplicates inside the file
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # The file's header (as column names), so the rejected rows can be downloaded as a CSV.
    columns: Mapped[list[str] | None] = mapped_column(JSONType)
    message: Mapped[str | None] = mapped_column(String(500))
    # message as a message (core.stored_text) the UI translates; NULL on older rows.
    message_text: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
