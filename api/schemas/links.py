"""A campaign's tracked links: the most clicked, and the clicks over time."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class LinkOut(BaseModel):
    url: str = Field(description="The original address the short links redirect to")
    recipients: int = Field(description="Recipients who were sent this link")
    clicked_by: int = Field(description="Of them, the people who clicked it")
    clicks: int = Field(description="Every click on it, repeat clicks included")
    previews: int = Field(description="Fetches by link-preview bots: not counted as clicks")


class ClickPointOut(BaseModel):
    start: datetime = Field(description="Start of the hour or day, in the account's timezone")
    people: int = Field(description="Recipients whose first click falls in it")
    clicks: int = Field(description="Clicks known to fall in it: each link's first and last")


class ClicksOverTime(BaseModel):
    bucket: Literal["hour", "day"] = Field(
        description="`day` when the clicks span more than three days, else `hour`"
    )
    timezone: str = Field(description="The account's timezone, the buckets' local time")
    points: list[ClickPointOut] = Field(description="Only hours or days with clicks, oldest first")
    unplaced_clicks: int = Field(
        description="Clicks counted in `clicks` with no known time: per recipient and link only "
        "the first and last click times are kept"
    )


class CampaignLinksOut(BaseModel):
    campaign_id: int
    track_links: bool
    clicked: int = Field(description="Recipients who clicked any tracked link")
    clicks: int = Field(description="Every click on the campaign's links (previews left out)")
    links: list[LinkOut] = Field(description="The most clicked first (by people, then address)")
    over_time: ClicksOverTime
