"""Who a campaign reaches: the audience criteria, and the preview of who they select."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.common import Id, Scalar


class Audience(BaseModel):
    """Who receives it. Every key present narrows the audience; at least one of contact_ids,
    labels or custom_attributes must select someone. Opted-out contacts are never in it."""

    model_config = ConfigDict(extra="forbid")

    contact_ids: list[Id] | None = Field(default=None, max_length=100_000)
    labels: list[str] | None = None
    labels_match: Literal["any", "all"] | None = None
    exclude_labels: list[str] | None = None
    custom_attributes: dict[str, Scalar | list[Scalar]] | None = None


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
