"""Contacts and contact imports."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Pagination


class ContactCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(max_length=40, description="E.164, or local to the account's country")
    name: str | None = Field(default=None, max_length=200)
    labels: list[str] = Field(default_factory=list, max_length=100)
    custom_attributes: dict[str, Any] = Field(default_factory=dict)


class ContactUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str | None = Field(default=None, max_length=40)
    name: str | None = Field(default=None, max_length=200)
    labels: list[str] | None = Field(default=None, max_length=100)
    custom_attributes: dict[str, Any] | None = None
    opted_out: bool | None = None


class ContactOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    phone: str
    name: str | None
    labels: list[str]
    custom_attributes: dict[str, Any]
    opted_out: bool
    chatwoot_contact_id: int | None = Field(
        default=None, description="The Chatwoot contact it is synced from (null: not linked)"
    )


class ContactList(BaseModel):
    payload: list[ContactOut]
    meta: Pagination


class ImportRowError(BaseModel):
    model_config = ConfigDict(extra="allow")

    row: int | None
    reason: str


class ImportReport(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    filename: str
    status: str
    created: int
    updated: int
    unchanged: int
    rejected: int
    errors: list[ImportRowError]
