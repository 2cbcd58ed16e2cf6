"""The account's Chatwoot connection, its check and its sync reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ChatwootIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str | None = Field(default=None, max_length=500, description="https://chatwoot...")
    chatwoot_account_id: int | None = Field(default=None, description="The account's id there")
    token: str | None = Field(
        default=None,
        max_length=500,
        description="An access token (a user's or an agent bot's). Write-only: never returned; "
        "blank or absent keeps the stored one",
    )
    sync_every_minutes: int | None = Field(
        default=None, description="Minutes between the worker's syncs; 0: off (default 15)"
    )

    def data(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class ChatwootSyncReportOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    mode: str = Field(description="full or incremental")
    created: int
    updated: int
    unchanged: int
    rejected: int
    unlinked: int = Field(description="Contacts deleted in Chatwoot, unlinked here (kept)")
    skipped: int = Field(default=0, description="Chatwoot contacts without a phone")
    errors: list[dict[str, Any]] = Field(
        default_factory=list, description="Rejected contacts (at most 1000) and why"
    )


class ChatwootOut(BaseModel):
    base_url: str
    chatwoot_account_id: int
    token: str = Field(description="Always a mask: the token is write-only")
    sync_every_minutes: int
    last_sync_at: datetime | None
    next_sync_at: datetime | None
    last_error: str | None
    syncing: bool
    last_report: ChatwootSyncReportOut | None


class ChatwootInboxOut(BaseModel):
    id: int
    name: str
    channel_type: str


class ChatwootCheckOut(BaseModel):
    ok: bool
    account_name: str | None
    inboxes: list[ChatwootInboxOut]
    error: str | None = Field(description="Chatwoot's answer when it failed (never the token)")
