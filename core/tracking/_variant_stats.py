"""A campaign's experiment for its page and the API: each variant's funnel, the holdout group,
and where its A/B test stands (testing, waiting until a time, decided)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from core import campaigns
from core.models import CampaignRecipient, CampaignStatus, Contact, RecipientStatus
from core.people import Actor
from core.tracking._campaign_stats import owned_campaign
from core.tracking._status_groups import REACHED_DELIVERED, REACHED_SENT


@dataclass(frozen=True)
class VariantStats:
    variant: int | None  # None: the holdout group
    weight: int
    recipients: int  # assigned so far (the rest of an A/B audience joins the winner later)
    sent: int  # went out: sent, delivered or read
    delivered: int
    read: int
    replied: int
    clicked: int
    failed: int
    opted_out: int  # the contact opted out after this campaign's message reached them

    @property
    def label(self) -> str:
        return campaigns.variant_letter(self.variant) if self.variant is not None else ""

    def rate(self, count: int) -> float | None:
        return count / self.sent if self.sent else None


@dataclass(frozen=True)
class AbState:
    # "not_started", "testing" (the test share is sending), "waiting" (until due_at), "decided",
    # "stopped" (cancelled or failed before a winner)
    stage: str
    metric: str
    test_share: float
    decide_after_minutes: int
    due_at: datetime | None  # while waiting
    winner: int | None
    decided_at: datetime | None
    decision: dict[str, Any] | None  # how, by, numbers (see core.campaigns._ab_decision)
    waiting: int = 0  # recipients waiting for the winner
    min_sent_per_variant: int = campaigns.MIN_SENT_PER_VARIANT
    tie_points: float = campaigns.TIE_POINTS


def _if(condition: Any) -> Any:
    return func.sum(case((condition, 1), else_=0))


def variant_stats(session: Session, actor: Actor, campaign_id: int) -> list[VariantStats]:
    """One row per variant (A, B, ...), then the holdout group when it has anyone; empty for a
    campaign without variants or holdout. One grouped query."""
    campaign = owned_campaign(session, actor, campaign_id)
    weights = [int(v.get("weight") or 1) for v in campaign.variants or []]
    if not weights and not campaign.holdout_share:
        return []
    status = CampaignRecipient.status
    opted_out_after = and_(
        Contact.opted_out_at.is_not(None),
        CampaignRecipient.sent_at.is_not(None),
        Contact.opted_out_at >= CampaignRecipient.sent_at,
    )
    rows = session.execute(
        select(
            CampaignRecipient.variant,
            status,
            func.count(),
            _if(status.in_(REACHED_SENT)),
            _if(status.in_(REACHED_DELIVERED)),
            _if(status == RecipientStatus.READ),
            func.count(CampaignRecipient.replied_at),
            func.count(CampaignRecipient.clicked_at),
            _if(status == RecipientStatus.FAILED),
            _if(opted_out_after),
        )
        .outerjoin(Contact, Contact.id == CampaignRecipient.contact_id)
        .where(
            CampaignRecipient.campaign_id == campaign_id,
            CampaignRecipient.is_test.is_(False),
            (CampaignRecipient.variant.is_not(None)) | (status == RecipientStatus.HELD_OUT),
        )
        .group_by(CampaignRecipient.variant, status)
    ).all()
    found: dict[int | None, list[int]] = {}
    for variant, row_status, *numbers in rows:
        key = None if row_status == RecipientStatus.HELD_OUT else int(variant)
        totals = found.setdefault(key, [0] * 8)
        found[key] = [a + int(b or 0) for a, b in zip(totals, numbers, strict=True)]
    result = [
        VariantStats(index, weight, *found.get(index, [0] * 8))
        for index, weight in enumerate(weights)
    ]
    if None in found:
        result.append(VariantStats(None, 0, *found[None]))
    return result


def ab_state(session: Session, actor: Actor, campaign_id: int) -> AbState | None:
    """Where the campaign's A/B test stands; None without one."""
    campaign = owned_campaign(session, actor, campaign_id)
    test = campaign.ab_test
    if not test:
        return None
    if campaign.ab_winner is not None:
        stage, due = "decided", None
    elif campaign.started_at is None:
        stage, due = "not_started", None
    elif campaign.status in (CampaignStatus.CANCELLED, CampaignStatus.FAILED):
        stage, due = "stopped", None  # ended before a winner: nobody else will be sent
    else:
        due = campaigns.decision_due_at(session, campaign)
        stage = "waiting" if due is not None else "testing"
    return AbState(
        stage=stage,
        metric=test["metric"],
        test_share=float(test["test_share"]),
        decide_after_minutes=int(test["decide_after_minutes"]),
        due_at=due,
        winner=campaign.ab_winner,
        decided_at=campaign.ab_decided_at,
        decision=campaign.ab_decision,
        waiting=session.scalar(
            select(func.count())
            .select_from(CampaignRecipient)
            .where(
                CampaignRecipient.campaign_id == campaign_id,
                CampaignRecipient.status == RecipientStatus.AWAITING_WINNER,
            )
        )
        or 0,
    )
