"""A campaign's tracked links: `GET …/whatsapp_api_campaigns/{campaign_id}/links`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.deps import CampaignsCtx
from api.errors import ERROR_RESPONSES
from api.schemas import CampaignLinksOut
from core import tracking

router = APIRouter(
    prefix="/api/v1/accounts/{account_id}/whatsapp_api_campaigns",
    tags=["campaigns"],
    responses=ERROR_RESPONSES,
)


@router.get(
    "/{campaign_id}/links",
    response_model=CampaignLinksOut,
    summary="The campaign's tracked links, the most clicked first, and its clicks over time",
)
def campaign_links(
    ctx: CampaignsCtx,
    campaign_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="The campaign's id")],
    limit: Annotated[int, Query(ge=1, le=100, description="At most this many links")] = 20,
) -> dict[str, Any]:
    """Readable by every role that may see the campaign. Link-preview fetches are counted apart
    (`previews`), never as clicks. A campaign that tracks no links answers empty lists."""
    overview = tracking.campaign_overview(ctx.session, ctx.actor, campaign_id)
    links = tracking.link_stats(ctx.session, ctx.actor, campaign_id, limit=limit)
    series = tracking.campaign_clicks_over_time(ctx.session, ctx.actor, campaign_id)
    return {
        "campaign_id": campaign_id,
        "track_links": overview.track_links,
        "clicked": series.people,
        "clicks": series.clicks,
        "links": [
            {
                "url": link.url,
                "recipients": link.recipients,
                "clicked_by": link.clicked_by,
                "clicks": link.clicks,
                "previews": link.previews,
            }
            for link in links
        ],
        "over_time": {
            "bucket": series.bucket,
            "timezone": str(series.timezone),
            "points": [
                {"start": point.start, "people": point.people, "clicks": point.clicks}
                for point in series.points
            ],
            "unplaced_clicks": series.unplaced,
        },
    }
