"""A campaign's `delivery_stats`: a cached summary, always recomputed from its recipient rows."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import Campaign, CampaignRecipient, RecipientStatus
from core.people import Actor, require

STAT_KEYS = [status.value for status in RecipientStatus]
# Recipients the campaign is to send to: all but the holdout group, which is kept unsent.
TARGETED_KEYS = [key for key in STAT_KEYS if key != RecipientStatus.HELD_OUT]
CLICKED = "clicked"  # recipients who clicked a tracked link, whatever their status
REPLIED = "replied"  # recipients who answered within the reply window (core.tracking)


def campaign_counts(session: Session, campaign_id: int) -> dict[str, int]:
    """Recipients per status (tests excluded), with `total` (the targeted: all but the
    held-out, who are never sent) — every status key present — and
    `clicked` and `replied` (recipients who clicked a tracked link, who answered in time)."""
    rows = session.execute(
        select(
            CampaignRecipient.status,
            func.count(),
            func.count(CampaignRecipient.clicked_at),
            func.count(CampaignRecipient.replied_at),
        )
        .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.is_test.is_(False))
        .group_by(CampaignRecipient.status)
    ).all()
    counts = dict.fromkeys(STAT_KEYS, 0)
    counts.update({status: count for status, count, _clicked, _replied in rows})
    counts["total"] = sum(counts[key] for key in TARGETED_KEYS)
    counts[CLICKED] = sum(clicked for _status, _count, clicked, _replied in rows)
    counts[REPLIED] = sum(replied for _status, _count, _clicked, replied in rows)
    return counts


def recipient_counts(
    session: Session, actor: Actor, campaign_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    """`campaign_counts` of several of the actor's campaigns in one query (for lists)."""
    require(actor, "campaigns.read")
    counts = {
        campaign_id: dict.fromkeys([*STAT_KEYS, CLICKED, REPLIED], 0)
        for campaign_id in campaign_ids
    }
    if counts:
        rows = session.execute(
            select(
                CampaignRecipient.campaign_id,
                CampaignRecipient.status,
                func.count(),
                func.count(CampaignRecipient.clicked_at),
                func.count(CampaignRecipient.replied_at),
            )
            .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
            .where(
                Campaign.account_id == actor.account_id,
                CampaignRecipient.campaign_id.in_(list(counts)),
                CampaignRecipient.is_test.is_(False),
            )
            .group_by(CampaignRecipient.campaign_id, CampaignRecipient.status)
        ).all()
        for campaign_id, status, count, clicked, replied in rows:
            counts[campaign_id][status] = count
            counts[campaign_id][CLICKED] += clicked
            counts[campaign_id][REPLIED] += replied
    for row in counts.values():
        row["total"] = sum(row[key] for key in TARGETED_KEYS)
    return counts


def refresh_delivery_stats(session: Session, campaign_id: int) -> dict[str, Any]:
    """Recompute the cached `delivery_stats` of a campaign from its recipients."""
    counts = campaign_counts(session, campaign_id)
    campaign = session.get(Campaign, campaign_id)
    if campaign is not None:
        campaign.delivery_stats = counts
    return counts
