"""What staff do to a campaign: edit it (and schedule or unschedule it), trigger, pause, resume,
cancel, retry its failed recipients. Each checks the actor's role and audits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.base import Conflict, stored_text, utcnow
from core.campaigns._lifecycle._compare_and_set import (
    NO_SYNC,
    PAUSED_BY_STAFF,
    UNPAUSED,
    UNPAUSED_KEEPING_ERROR,
    compare_and_set,
)
from core.campaigns._lifecycle._system import start
from core.campaigns._queries import get, load_account, require_campaigns_enabled
from core.campaigns._recipients import (
    count_retryable,
    requeue_retryable,
    skip_campaign_queue,
)
from core.campaigns._statuses import EDITABLE, TRANSITIONS, cannot
from core.campaigns._validation import check_startable
from core.i18n import Term
from core.models import (
    Campaign,
)
from core.people import Actor, record_audit, require


def edit(session: Session, campaign_id: int, values: dict[str, Any], now: datetime) -> bool:
    """Save a draft's or scheduled campaign's fields — and whether it is scheduled (draft ↔
    pending, an edit's `status`) — unless it started meanwhile. The caller checked the fields."""
    result = session.execute(
        compare_and_set(campaign_id, EDITABLE).values(**values, updated_at=now),
        execution_options=NO_SYNC,
    )
    return result.rowcount == 1


def _transition(
    session: Session,
    actor: Actor,
    campaign_id: int,
    action: str,
    now: datetime,
    **values: Any,
) -> Campaign:
    campaign = get(session, actor, campaign_id)
    from_statuses, to_status = TRANSITIONS[action]
    result = session.execute(
        compare_and_set(campaign_id, from_statuses).values(
            status=to_status, updated_at=now, **values
        ),
        execution_options=NO_SYNC,
    )
    if result.rowcount != 1:
        session.refresh(campaign)
        raise cannot(action, campaign.status, from_statuses)
    session.refresh(campaign)
    return campaign


def pause(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    require(actor, "campaigns.trigger")
    campaign = _transition(session, actor, campaign_id, "pause", now or utcnow(), **PAUSED_BY_STAFF)
    record_audit(session, actor, "campaign.pause", "campaign", campaign_id)
    return campaign


def resume(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    require(actor, "campaigns.trigger")
    require_campaigns_enabled(load_account(session, actor.account_id))
    campaign = _transition(session, actor, campaign_id, "resume", now or utcnow(), **UNPAUSED)
    record_audit(session, actor, "campaign.resume", "campaign", campaign_id)
    return campaign


def cancel(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    """Stop for good: recipients not yet sent are skipped (one being sent right now finishes)."""
    require(actor, "campaigns.trigger")
    now = now or utcnow()
    ended = {"completed_at": now, "auto_retry_at": None, **UNPAUSED_KEEPING_ERROR}
    campaign = _transition(session, actor, campaign_id, "cancel", now, **ended)
    skipped = skip_campaign_queue(session, campaign_id, stored_text.CAMPAIGN_CANCELLED)
    record_audit(session, actor, "campaign.cancel", "campaign", campaign_id, {"skipped": skipped})
    return campaign


def retry_failed(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> int:
    """Re-queue a completed campaign's failed and unknown recipients; returns how many.

    Numbers known not to be on WhatsApp and contacts who opted out since are left alone.
    """
    require(actor, "campaigns.trigger")
    require_campaigns_enabled(load_account(session, actor.account_id))
    get(session, actor, campaign_id)
    now = now or utcnow()
    if not count_retryable(session, campaign_id):
        raise Conflict("no failed or unknown recipients to retry")
    _transition(
        session, actor, campaign_id, "retry_failed", now, completed_at=None, auto_retry_at=None
    )
    requeued = requeue_retryable(session, campaign_id)
    record_audit(
        session, actor, "campaign.retry", "campaign", campaign_id, {"recipients": requeued}
    )
    return requeued


def trigger(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    """Start a draft or scheduled campaign now (the seed's manual trigger)."""
    require(actor, "campaigns.trigger")
    campaign = get(session, actor, campaign_id)
    require_campaigns_enabled(load_account(session, actor.account_id))
    now = now or utcnow()
    if campaign.status not in EDITABLE:
        raise Conflict(
            "cannot trigger a {status} campaign (only a draft or pending one)",
            status=Term(campaign.status),
        )
    check_startable(session, campaign)
    if not start(session, campaign_id, now, EDITABLE):
        session.refresh(campaign)
        raise Conflict(
            "the campaign was already started (it is {status})", status=Term(campaign.status)
        )
    session.refresh(campaign)
    record_audit(session, actor, "campaign.trigger", "campaign", campaign_id)
    return campaign
