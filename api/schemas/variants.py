"""A campaign's experiment: its variants, its A/B test and holdout, and their statistics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Finite


class VariantIn(BaseModel):
    """One message of a campaign with variants (checked by the domain: 422 names the field)."""

    model_config = ConfigDict(extra="forbid")

    message: str | None = Field(default=None, max_length=65_536, description="A template")
    multimedia: dict[str, Any] | None = Field(
        default=None, description="As the campaign's `multimedia`; each variant its own"
    )
    weight: int | None = Field(
        default=None, strict=True, description="A positive whole number (default 1): its share"
    )


class AbTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    test_share: Finite | None = Field(
        default=None, description="The fraction of the audience sent first (0 < x < 1)"
    )
    decide_after_minutes: int | None = Field(
        default=None,
        strict=True,
        description="How long after the test share finished sending the winner is decided",
    )
    metric: str | None = Field(
        default=None, max_length=16, description="read, reply or click (click needs track_links)"
    )


class WinnerPick(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variant: int = Field(strict=True, description="The variant's index: 0 for A, 1 for B...")


class VariantStatsOut(BaseModel):
    variant: int | None = Field(description="0 for A...; null: the holdout group")
    label: str = Field(description="A, B...; empty for the holdout group")
    weight: int
    recipients: int
    sent: int = Field(description="Went out: sent, delivered or read")
    delivered: int
    read: int
    replied: int
    clicked: int
    failed: int
    opted_out: int = Field(description="Opted out after this campaign's message reached them")


class AbStateOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    stage: str = Field(
        description="not_started, testing, waiting (until `due_at`), decided, or stopped "
        "(cancelled or failed before a winner)"
    )
    metric: str
    test_share: float
    decide_after_minutes: int
    due_at: datetime | None
    winner: int | None
    decided_at: datetime | None
    decision: dict[str, Any] | None = Field(
        description="how (auto, tie, too_little_data, manual), by, metric, per-variant numbers"
    )
    min_sent_per_variant: int
    tie_points: float
    waiting: int = Field(default=0, description="Recipients waiting for the winner")


class VariantsOut(BaseModel):
    variants: list[VariantStatsOut]
    ab_test: AbStateOut | None
