"""Campaigns and their recipients."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.audience import Audience
from api.schemas.common import Finite, Id, Pagination, Weekday
from api.schemas.variants import AbTestIn, VariantIn


class Multimedia(BaseModel):
    """The seed's `{"type", "url", "filename"}`; or an uploaded file's `media_id`."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="image, video, document or audio", max_length=20)
    url: str | None = Field(default=None, max_length=2000)
    media_id: Id | None = None
    filename: str | None = Field(default=None, max_length=255)
    mimetype: str | None = Field(default=None, max_length=100)


class CampaignFields(BaseModel):
    # A campaign's JSON may be sent back as it came (id, delivery_stats...): those are ignored.
    model_config = ConfigDict(extra="ignore")

    title: str | None = Field(default=None, max_length=255)
    message: str | None = Field(default=None, max_length=65_536)
    audience: Audience | None = None
    scheduled_at: datetime | None = Field(
        default=None, description="ISO 8601; without an offset it is the account's local time"
    )
    status: Literal["draft", "pending"] | None = Field(
        default=None,
        description="`pending` (scheduled: the worker starts it at `scheduled_at`) or `draft`. "
        "When creating, leaving it out means `pending` if `scheduled_at` is given and `draft` "
        "otherwise; a change keeps the status unless it is sent.",
    )
    multimedia: Multimedia | None = None
    instance_ids: list[Id] | None = Field(default=None, max_length=50)
    window_start: str | None = Field(default=None, description="HH:MM, local time", max_length=8)
    window_end: str | None = Field(default=None, description="HH:MM, local time", max_length=8)
    window_days: list[Weekday] | None = Field(default=None, description="0=Monday … 6=Sunday")
    deliver_in_recipient_timezone: bool | None = Field(
        default=None,
        description="Deliver inside the send window of each recipient's own timezone: the "
        "contact attribute `timezone` when it names a zone, else the phone number's zone, else "
        "the account's",
    )
    auto_retry_hours: int | None = Field(
        default=None,
        strict=True,
        ge=0,
        le=72,
        description="Retry the recipients that failed for a temporary reason (429, 5xx, a "
        "connection that never went through) automatically this many hours after the campaign "
        "completes; empty or 0: off. Never retried: numbers not on WhatsApp, rejected "
        "requests (4xx), opt-outs, and `unknown` sends (they may have gone out).",
    )
    auto_retry_limit: int | None = Field(
        default=None,
        strict=True,
        ge=1,
        le=2,
        description="How many automatic retries at most (1 or 2)",
    )
    track_links: bool | None = Field(
        default=None,
        strict=True,
        description="Rewrite each http(s) link of the message, per recipient, to a short link "
        "on this API (`PUBLIC_API_URL/r/<code>`) that redirects to it and counts the click "
        "(needs PUBLIC_API_URL)",
    )
    variants: list[VariantIn] | None = Field(
        default=None,
        max_length=10,
        description="2-5 messages with weights; each recipient is assigned one when the "
        "campaign starts (the first one is also `message`/`multimedia`). Empty: one message",
    )
    ab_test: AbTestIn | None = Field(
        default=None,
        description="Send the variants to a test share first, then the winner to the rest",
    )
    holdout_share: Finite | None = Field(
        default=None,
        description="The fraction of the audience (up to 0.5) kept unsent, recorded `held_out`",
    )

    def data(self) -> dict[str, Any]:
        """Only the keys the client sent, in JSON form (ISO dates), as the campaign service takes."""
        return self.model_dump(mode="json", exclude_unset=True)


class CampaignCreate(CampaignFields):
    title: str = Field(max_length=255)


class CampaignUpdate(CampaignFields):
    pass


class DeliveryStats(BaseModel):
    model_config = ConfigDict(extra="allow")

    total: int = 0
    pending: int = 0
    sent: int = 0
    delivered: int = 0
    read: int = 0
    failed: int = 0
    unknown: int = 0
    clicked: int = Field(default=0, description="Recipients who clicked a tracked link")
    replied: int = Field(
        default=0, description="Recipients who answered within the account's reply window"
    )


class CampaignOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    title: str
    message: str
    audience: dict[str, Any]
    scheduled_at: datetime | None
    status: str
    multimedia: dict[str, Any] | None
    delivery_stats: DeliveryStats
    sender_id: int | None
    instance_ids: list[int]
    allowed_actions: list[str] = Field(
        description="What this status permits: trigger, pause, resume, cancel, retry_failed, "
        "edit, delete, duplicate, test_send (the caller's role is checked apart)"
    )
    error_message: str | None
    paused_by: Literal["staff", "circuit"] | None = Field(
        default=None,
        description="While paused: `staff`, or `circuit` — a WhatsApp number it sends through "
        "is down; it resumes by itself once none of the numbers that paused it is down",
    )
    deliver_in_recipient_timezone: bool = False
    auto_retry_hours: int | None = None
    auto_retry_limit: int | None = None
    auto_retries_done: int = 0
    auto_retry_at: datetime | None = Field(
        default=None, description="When the next automatic retry is due"
    )
    track_links: bool = False
    variants: list[dict[str, Any]] | None = None
    ab_test: dict[str, Any] | None = None
    holdout_share: float | None = None
    ab_winner: int | None = Field(default=None, description="The A/B winner's index, once decided")
    ab_decided_at: datetime | None = None
    ab_decision: dict[str, Any] | None = Field(
        default=None, description="How it was decided, by whom, and the numbers"
    )
    created_at: datetime
    updated_at: datetime


class CampaignList(BaseModel):
    payload: list[CampaignOut]
    meta: Pagination


class RecipientOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    phone: str
    name: str | None
    status: str
    attempts: int
    error_kind: str | None
    last_error: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    failed_at: datetime | None
    clicked_at: datetime | None = Field(default=None, description="First click on a tracked link")
    variant: int | None = Field(
        default=None,
        description="Its variant (0 for A); null without variants, when held out "
        "or while it waits for the A/B winner",
    )


class RecipientList(BaseModel):
    payload: list[RecipientOut]
    meta: Pagination
