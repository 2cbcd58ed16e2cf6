"""Writing a draft or scheduled campaign: create, change, duplicate, delete."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import insert
from sqlalchemy.orm import Session

from core.base import Conflict, utcnow
from core.campaigns._lifecycle import edit
from core.campaigns._queries import get, instance_ids_of, load_account, require_campaigns_enabled
from core.campaigns._statuses import DELETABLE, EDITABLE
from core.campaigns._validation import clean_fields
from core.i18n import Term
from core.models import (
    Campaign,
    CampaignStatus,
    campaign_instances,
)
from core.people import Actor, record_audit, require


def _set_instances(session: Session, campaign: Campaign, instance_ids: Iterable[int]) -> None:
    session.execute(
        sql_delete(campaign_instances).where(campaign_instances.c.campaign_id == campaign.id)
    )
    rows = [{"campaign_id": campaign.id, "instance_id": i} for i in instance_ids]
    if rows:
        session.execute(insert(campaign_instances), rows)
    session.expire(campaign, ["instances"])


def create(
    session: Session, actor: Actor, data: Mapping[str, Any], now: datetime | None = None
) -> Campaign:
    require(actor, "campaigns.write")
    account = load_account(session, actor.account_id)
    require_campaigns_enabled(account)
    now = now or utcnow()
    values, instance_ids = clean_fields(session, actor, account, data, None, now)
    campaign = Campaign(account_id=account.id, sender_id=actor.user_id, **values)
    session.add(campaign)
    session.flush()
    _set_instances(session, campaign, instance_ids or [])
    record_audit(
        session, actor, "campaign.create", "campaign", campaign.id, {"title": campaign.title}
    )
    return campaign


def update(
    session: Session,
    actor: Actor,
    campaign_id: int,
    data: Mapping[str, Any],
    now: datetime | None = None,
) -> Campaign:
    """Change a draft or scheduled campaign; a campaign that started meanwhile is a Conflict."""
    require(actor, "campaigns.write")
    campaign = get(session, actor, campaign_id)
    account = load_account(session, actor.account_id)
    require_campaigns_enabled(account)
    if campaign.status not in EDITABLE:
        raise Conflict("a {status} campaign can no longer be edited", status=Term(campaign.status))
    now = now or utcnow()
    values, instance_ids = clean_fields(session, actor, account, data, campaign, now)
    changed = sorted(set(values) | ({"instance_ids"} if instance_ids is not None else set()))
    if not edit(session, campaign_id, values, now):
        raise Conflict(
            "the campaign started or changed state meanwhile; it can no longer be edited"
        )
    if instance_ids is not None:
        _set_instances(session, campaign, instance_ids)
    session.refresh(campaign)
    record_audit(session, actor, "campaign.update", "campaign", campaign.id, {"fields": changed})
    return campaign


def delete(session: Session, actor: Actor, campaign_id: int) -> None:
    require(actor, "campaigns.write")
    campaign = get(session, actor, campaign_id)
    title = campaign.title
    result = session.execute(
        sql_delete(Campaign).where(Campaign.id == campaign_id, Campaign.status.in_(DELETABLE)),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount != 1:
        raise Conflict("a running campaign cannot be deleted: pause or cancel it first")
    session.expunge(campaign)
    record_audit(session, actor, "campaign.delete", "campaign", campaign_id, {"title": title})


def duplicate(session: Session, actor: Actor, campaign_id: int) -> Campaign:
    """A new draft with the same content, audience, media, numbers, window and automatic
    retries; no schedule."""
    require(actor, "campaigns.write")
    source = get(session, actor, campaign_id)
    require_campaigns_enabled(load_account(session, actor.account_id))
    copy = Campaign(
        account_id=source.account_id,
        title=f"{source.title} (copy)"[:255],
        message=source.message,
        audience=dict(source.audience or {}),
        multimedia=dict(source.multimedia) if source.multimedia else None,
        status=CampaignStatus.DRAFT,
        scheduled_at=None,
        sender_id=actor.user_id,
        window_start=source.window_start,
        window_end=source.window_end,
        window_days=list(source.window_days) if source.window_days is not None else None,
        auto_retry_hours=source.auto_retry_hours,
        deliver_in_recipient_timezone=source.deliver_in_recipient_timezone,
        auto_retry_limit=source.auto_retry_limit or 1,
        track_links=bool(source.track_links),
        variants=[dict(v) for v in source.variants] if source.variants else None,
        ab_test=dict(source.ab_test) if source.ab_test else None,
        holdout_share=source.holdout_share,
    )
    session.add(copy)
    session.flush()
    _set_instances(session, copy, instance_ids_of(source))
    record_audit(
        session, actor, "campaign.create", "campaign", copy.id, {"duplicated_from": source.id}
    )
    return copy
