"""WhatsApp numbers (Evolution API instances): their settings, state, allowance and health."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Pagination, Weekday


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
