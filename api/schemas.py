"""Request and response bodies. Requests accept the seed's JSON shapes as they are; the domain
validates meaning (and answers 422 naming the field); responses are what `core.*_json` give."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Ids are database integers: anything outside 1..2^31-1 cannot exist, and is refused here
# rather than overflowing a driver.
# Strict: `true` is not the id 1, nor "3" the weekday 3 (JSON has numbers for that).
Id = Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)]
Weekday = Annotated[int, Field(ge=0, le=6, strict=True)]
# An attribute condition's value: Infinity and NaN are refused (JSON has neither; dumped for the
# domain they would silently become null).
Finite = Annotated[float, Field(allow_inf_nan=False)]
Scalar = bool | int | Finite | str | None


class Pagination(BaseModel):
    count: int = Field(description="Rows matching, over all pages")
    page: int
    per_page: int


# -- campaigns ------------------------------------------------------------------------------------


class Audience(BaseModel):
    """Who receives it. Every key present narrows the audience; at least one of contact_ids,
    labels or custom_attributes must select someone. Opted-out contacts are never in it."""

    model_config = ConfigDict(extra="forbid")

    contact_ids: list[Id] | None = Field(default=None, max_length=100_000)
    labels: list[str] | None = None
    labels_match: Literal["any", "all"] | None = None
    exclude_labels: list[str] | None = None
    custom_attributes: dict[str, Scalar | list[Scalar]] | None = None


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
    created_at: datetime
    updated_at: datetime


class CampaignList(BaseModel):
    payload: list[CampaignOut]
    meta: Pagination


class AudienceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audience: Audience


class AudienceContact(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    phone: str
    name: str | None


class AudiencePreviewOut(BaseModel):
    count: int
    sample: list[AudienceContact]
    excluded: int = Field(0, description="Matched, but opted out or not on WhatsApp")


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


class RecipientList(BaseModel):
    payload: list[RecipientOut]
    meta: Pagination


# -- contacts -------------------------------------------------------------------------------------


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


# -- instances ------------------------------------------------------------------------------------


class InstanceFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=100)
    base_url: str | None = Field(default=None, max_length=500)
    instance_name: str | None = Field(default=None, max_length=200)
    token: str | None = Field(
        default=None, max_length=500, description="Write-only: never returned"
    )
    api_version: Literal["v2", "v1"] | None = None
    is_active: bool | None = None
    chatwoot_inbox_id: int | None = Field(
        default=None, ge=0, le=2**31 - 1, description="The Chatwoot inbox of this number"
    )
    chatwoot_mirror: Literal["off", "ours", "evolution"] | None = Field(
        default=None,
        description="Who copies campaign messages into Chatwoot: nobody, this tool, or "
        "Evolution's own Chatwoot integration (then this tool posts nothing)",
    )
    rate_per_minute: int | None = Field(default=None, ge=1, le=60)
    extra_delay_max_seconds: float | None = Field(default=None, ge=0, le=3600)
    typing_min_seconds: float | None = Field(
        default=None,
        ge=0,
        le=30,
        description="Typing presence: each send shows “typing…” for a random time between "
        "these two (Evolution's `delay`); both 0: off",
    )
    typing_max_seconds: float | None = Field(default=None, ge=0, le=30)
    daily_cap: int | None = Field(default=None, ge=1, le=1_000_000)
    window_start: str | None = Field(default=None, max_length=8)
    window_end: str | None = Field(default=None, max_length=8)
    window_days: list[Weekday] | None = None
    long_pause_every: int | None = Field(
        default=None,
        ge=0,
        le=100_000,
        description="After every N sends pause for a random time between "
        "long_pause_min_minutes and long_pause_max_minutes; null or 0: never",
    )
    long_pause_min_minutes: float | None = Field(default=None, ge=0, le=240)
    long_pause_max_minutes: float | None = Field(default=None, ge=0, le=240)
    warmup: Literal["off", "new_number", "established"] | list[int] | None = Field(
        default=None,
        description="Warm-up ladder of daily allowances by the number's age: off, a preset "
        "(new_number, established) or a custom list, day 1 first",
    )
    number_since: date | None = Field(
        default=None,
        description="The day the number came into use; else its age counts from its first "
        "send here",
    )

    def data(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)


class InstanceCreate(InstanceFields):
    name: str = Field(max_length=100)
    base_url: str = Field(max_length=500)
    instance_name: str = Field(max_length=200)
    token: str = Field(max_length=500, description="Write-only: never returned")


class InstanceUpdate(InstanceFields):
    pass


class InstanceOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    name: str
    base_url: str
    instance_name: str
    api_version: str
    rate_per_minute: int
    typing_min_seconds: float = 0.0
    typing_max_seconds: float = 0.0
    long_pause_every: int | None = None
    long_pause_min_minutes: float = 0.0
    long_pause_max_minutes: float = 0.0
    warmup: str | list[int] = "off"
    number_since: date | None = None
    allowance_today: dict[str, Any] | None = Field(
        default=None,
        description="Read-only. Today's sends allowed by the warm-up ladder (`warmup`) and the "
        "daily cap (`limit`, the lower; null: no limit), `sent_today`, `left`, `age_days` "
        "(day 1 is the first) and `resets_at` (the account's next midnight)",
    )
    health: dict[str, Any] | None = Field(
        default=None,
        description="Read-only. The number's health: `score` 0-100 (null: not scored yet), "
        "`effective_rate_per_minute` (the rate lowered by falling health), `paused` and "
        "`paused_at` (below the threshold), `checked_at`, and `details`: `penalties` per "
        "signal, their `rates`, `worst` and `judged` (false: too few sends to judge)",
    )
    state: str = Field(
        description="Last known connection: open, connecting, close, refused, not_activated "
        "(Evolution 2.4's licence gate) or unreachable"
    )
    circuit: str = Field(description="`closed`: sending; `open`: nothing is sent through it")
    circuit_cause: Literal["server", "licence", "session", "config"] | None = Field(
        default=None,
        description="Why the circuit is open. server, licence, session: it closes by itself "
        "once the worker's check sees the number answer; config: staff fix it and re-enable it",
    )
    circuit_reason: str | None = None
    activation_url: str | None = Field(
        default=None,
        description="Evolution 2.4 not activated: open this page to activate the server",
    )
    next_check_at: datetime | None = Field(
        default=None, description="While the circuit is open: the worker's next check"
    )
    chatwoot_inbox_id: int | None = None
    chatwoot_mirror: Literal["off", "ours", "evolution"] = "off"
    chatwoot_mirror_error: str | None = Field(
        default=None, description="The last failure copying a message into Chatwoot (outage)"
    )


class InstanceCheckOut(BaseModel):
    state: str = Field(description="open, connecting, close, refused, or unreachable")
    error: str | None = Field(description="Why the server could not say (never a secret)")
    instance: InstanceOut


class InstanceList(BaseModel):
    payload: list[InstanceOut]
    meta: Pagination


# -- Chatwoot -------------------------------------------------------------------------------------


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
