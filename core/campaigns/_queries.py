"""Reading campaigns: one by id, the list, their JSON, and the numbers they may send through."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.base import NotFound, PermissionDenied, ValidationError
from core.campaigns._statuses import allowed_actions
from core.models import (
    Account,
    Campaign,
    CampaignStatus,
    SenderInstance,
)
from core.people import Actor, load_owned, require


def get(session: Session, actor: Actor, campaign_id: int) -> Campaign:
    require(actor, "campaigns.read")
    return load_owned(session, actor, Campaign, campaign_id, "campaign")


def list_campaigns(
    session: Session,
    actor: Actor,
    status: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> tuple[list[Campaign], int]:
    require(actor, "campaigns.read")
    if page < 1:
        raise ValidationError("page starts at 1", "page")
    if not 1 <= per_page <= 100:
        raise ValidationError("per_page must be between 1 and 100", "per_page")
    scope = [Campaign.account_id == actor.account_id]
    if status:
        if status not in set(CampaignStatus):
            raise ValidationError(
                "unknown status {status!r} (use {choices})",
                "status",
                status=status,
                choices=", ".join(CampaignStatus),
            )
        scope.append(Campaign.status == status)
    total = session.scalar(select(func.count()).select_from(Campaign).where(*scope)) or 0
    rows = session.scalars(
        select(Campaign)
        .where(*scope)
        .order_by(Campaign.created_at.desc(), Campaign.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(rows), total


def _iso(value: datetime | time | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def campaign_json(campaign: Campaign) -> dict[str, Any]:
    """The seed's fields plus what DESIGN.md adds; times in UTC ISO 8601."""
    return {
        "id": campaign.id,
        "account_id": campaign.account_id,
        "title": campaign.title,
        "message": campaign.message,
        "audience": campaign.audience,
        "scheduled_at": _iso(campaign.scheduled_at),
        "status": str(campaign.status),
        "multimedia": campaign.multimedia,
        "delivery_stats": campaign.delivery_stats or {},
        "sender_id": campaign.sender_id,
        "instance_ids": sorted(instance.id for instance in campaign.instances),
        "window_start": _iso(campaign.window_start),
        "window_end": _iso(campaign.window_end),
        "window_days": campaign.window_days,
        "allowed_actions": sorted(allowed_actions(campaign.status)),
        "started_at": _iso(campaign.started_at),
        "completed_at": _iso(campaign.completed_at),
        "error_message": campaign.error_message,
        "paused_by": campaign.pause_cause if campaign.status == CampaignStatus.PAUSED else None,
        "deliver_in_recipient_timezone": bool(campaign.deliver_in_recipient_timezone),
        "auto_retry_hours": campaign.auto_retry_hours,
        "auto_retry_limit": campaign.auto_retry_limit if campaign.auto_retry_hours else None,
        "auto_retries_done": campaign.auto_retries_done or 0,
        "auto_retry_at": _iso(campaign.auto_retry_at),
        "track_links": bool(campaign.track_links),
        "variants": campaign.variants,
        "ab_test": campaign.ab_test,
        "holdout_share": campaign.holdout_share,
        "ab_winner": campaign.ab_winner,
        "ab_decided_at": _iso(campaign.ab_decided_at),
        "ab_decision": campaign.ab_decision,
        "created_at": _iso(campaign.created_at),
        "updated_at": _iso(campaign.updated_at),
    }


def sender_instances(session: Session, actor: Actor) -> list[SenderInstance]:
    """The account's active WhatsApp numbers a campaign may send through."""
    require(actor, "campaigns.read")
    return list(
        session.scalars(
            select(SenderInstance)
            .where(SenderInstance.account_id == actor.account_id, SenderInstance.is_active)
            .order_by(SenderInstance.name)
        )
    )


def load_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("account {id} does not exist", id=account_id)
    return account


def require_campaigns_enabled(account: Account) -> None:
    if not account.campaigns_enabled:
        raise PermissionDenied("campaigns are turned off for this account")


def instance_ids_of(campaign: Campaign | None) -> list[int]:
    return [instance.id for instance in campaign.instances] if campaign else []
