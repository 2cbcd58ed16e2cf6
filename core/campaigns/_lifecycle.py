"""A campaign's life (DESIGN.md § Campaign life): the one owner of its status.

Staff's actions (trigger, pause, resume, cancel, retry failed) and the system's (start when due,
fail when it cannot run, pause when its number breaks, complete when nobody is left) all change
the status here, and `allowed_actions` tells pages and the API what a status permits.

Every change of status is a compare-and-set `UPDATE ... WHERE status IN (...)` whose row count
says whether it happened, so a double click, two workers, or the scheduler racing a manual
trigger can never start (or pause, cancel...) a campaign twice. Services flush; callers commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from core.base import Conflict, ValidationError, stored_text, utcnow
from core.campaigns import _audience as audience
from core.campaigns._delivery_stats import refresh_delivery_stats
from core.campaigns._queries import get, load_account, require_campaigns_enabled
from core.campaigns._recipients import (
    count_retryable,
    freeze_recipients,
    requeue_retryable,
    skip_campaign_queue,
)
from core.campaigns._statuses import EDITABLE, TRANSITIONS
from core.i18n import Term
from core.models import (
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    RecipientStatus,
    campaign_instances,
)
from core.notifications import notify
from core.people import Actor, record_audit, require

log = logging.getLogger(__name__)
_NO_SYNC = {"synchronize_session": False}

OPEN_RECIPIENTS = (RecipientStatus.PENDING, RecipientStatus.SENDING)


def compare_and_set(campaign_id: int, from_statuses: Sequence[str]) -> Any:
    """The compare-and-set: only a campaign still in one of `from_statuses` is changed."""
    return sql_update(Campaign).where(
        Campaign.id == campaign_id, Campaign.status.in_(from_statuses)
    )


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
        execution_options=_NO_SYNC,
    )
    if result.rowcount != 1:
        session.refresh(campaign)
        raise _cannot(action, campaign.status, from_statuses)
    session.refresh(campaign)
    return campaign


def _cannot(action: str, status: str, allowed: Sequence[str]) -> Conflict:
    """ "cannot pause a completed campaign (only a running one)", one template per count of
    allowed statuses so that each reads as a sentence once translated."""
    words = {"action": Term(action.replace("_", " ")), "status": Term(status)}
    first, *others = (Term(s) for s in allowed)
    if not others:
        return Conflict(
            "cannot {action} a {status} campaign (only a {allowed} one)", **words, allowed=first
        )
    if len(others) == 1:
        return Conflict(
            "cannot {action} a {status} campaign (only a {allowed} or {other} one)",
            **words,
            allowed=first,
            other=others[0],
        )
    return Conflict(
        "cannot {action} a {status} campaign (only a {allowed} or {other} or {third} one)",
        **words,
        allowed=first,
        other=others[0],
        third=others[1],
    )


def pause(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    require(actor, "campaigns.trigger")
    campaign = _transition(session, actor, campaign_id, "pause", now or utcnow())
    record_audit(session, actor, "campaign.pause", "campaign", campaign_id)
    return campaign


def resume(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    require(actor, "campaigns.trigger")
    require_campaigns_enabled(load_account(session, actor.account_id))
    campaign = _transition(
        session, actor, campaign_id, "resume", now or utcnow(), error_message=None, error_text=None
    )
    record_audit(session, actor, "campaign.resume", "campaign", campaign_id)
    return campaign


def cancel(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    """Stop for good: recipients not yet sent are skipped (one being sent right now finishes)."""
    require(actor, "campaigns.trigger")
    now = now or utcnow()
    campaign = _transition(session, actor, campaign_id, "cancel", now, completed_at=now)
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
    _transition(session, actor, campaign_id, "retry_failed", now, completed_at=None)
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
    if not campaign.instances:
        raise ValidationError("choose at least one WhatsApp number to send through", "instance_ids")
    if (
        audience.preview_for_account(
            session, campaign.account_id, campaign.audience, sample=0
        ).count
        == 0
    ):
        raise ValidationError("the audience matches no contacts who can receive it", "audience")
    if not start(session, campaign_id, now, EDITABLE):
        session.refresh(campaign)
        raise Conflict(
            "the campaign was already started (it is {status})", status=Term(campaign.status)
        )
    session.refresh(campaign)
    record_audit(session, actor, "campaign.trigger", "campaign", campaign_id)
    return campaign


def start(session: Session, campaign_id: int, now: datetime, from_statuses: Sequence[str]) -> bool:
    """Move the campaign to running and freeze its recipients, in the caller's transaction.

    False when it was not in `from_statuses` (someone else started it). A campaign that cannot
    run at all (no number, no one in the audience) goes to `failed` with the reason, and a
    notification; that still counts as started (True): the status changed.
    """
    result = session.execute(
        compare_and_set(campaign_id, from_statuses).values(
            status=CampaignStatus.RUNNING,
            started_at=now,
            completed_at=None,
            error_message=None,
            error_text=None,
            updated_at=now,
        ),
        execution_options=_NO_SYNC,
    )
    if result.rowcount != 1:
        return False
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    session.refresh(campaign)
    reason: dict[str, Any] | None = None
    frozen = 0
    if not campaign.instances:
        reason = stored_text.text(stored_text.NO_NUMBER)
    else:
        try:
            frozen = freeze_recipients(session, campaign)
        except ValidationError as error:
            reason = stored_text.text(
                stored_text.INVALID_AUDIENCE, error=stored_text.error_text(error)
            )
        if not reason and frozen == 0:
            reason = stored_text.text(stored_text.EMPTY_AUDIENCE)
    if reason:
        _fail(session, campaign_id, (CampaignStatus.RUNNING,), reason, now)
        session.refresh(campaign)
        notify(
            session,
            campaign.account_id,
            "campaign_failed",
            {"title": campaign.title},
            reason,
            campaign_id=campaign_id,
        )
    log.info(
        "campaign started",
        extra={
            "campaign_id": campaign_id,
            "recipients": frozen,
            "failed": stored_text.english(reason) if reason else None,
        },
    )
    return True


def start_due(session: Session, now: datetime) -> list[int]:
    """Start the scheduled campaigns whose time has come (the worker's poll); their ids.

    Each start runs in a savepoint: one that breaks is marked failed instead of blocking the rest.
    """
    due = session.scalars(
        select(Campaign.id)
        .join(Account, Account.id == Campaign.account_id)
        .where(
            Campaign.status == CampaignStatus.PENDING,
            Campaign.scheduled_at.is_not(None),
            Campaign.scheduled_at <= now,
            Account.campaigns_enabled.is_(True),
        )
        .order_by(Campaign.scheduled_at, Campaign.id)
    ).all()
    started = []
    for campaign_id in due:
        try:
            with session.begin_nested():
                if start(session, campaign_id, now, (CampaignStatus.PENDING,)):
                    started.append(campaign_id)
        except Exception as error:  # a bug or bad data in one campaign must not stop the others
            log.exception("campaign could not start", extra={"campaign_id": campaign_id})
            crashed = stored_text.text(stored_text.START_CRASHED, error=type(error).__name__)
            with session.begin_nested():
                _fail(session, campaign_id, (CampaignStatus.PENDING,), crashed, now)
    return started


def _fail(
    session: Session,
    campaign_id: int,
    from_statuses: Sequence[str],
    reason: dict[str, Any],
    now: datetime,
) -> None:
    """The campaign could not run at all: `failed`, with the reason to show."""
    session.execute(
        compare_and_set(campaign_id, from_statuses).values(
            status=CampaignStatus.FAILED,
            error_message=stored_text.english(reason),
            error_text=reason,
            completed_at=now,
            updated_at=now,
        ),
        execution_options=_NO_SYNC,
    )


def pause_for_instance(session: Session, instance_id: int, name: str, reason: str) -> list[int]:
    """The number broke: its running campaigns pause with the reason (staff resume them), and
    staff are told per campaign. Returns the ids paused."""
    running = session.execute(
        select(Campaign.id, Campaign.account_id, Campaign.title)
        .join(campaign_instances, campaign_instances.c.campaign_id == Campaign.id)
        .where(
            campaign_instances.c.instance_id == instance_id,
            Campaign.status == CampaignStatus.RUNNING,
        )
    ).all()
    paused_text = stored_text.text(stored_text.PAUSED_NUMBER_DOWN, name=name, reason=reason[:500])
    message = stored_text.english(paused_text)[:1000]
    paused = []
    for campaign_id, account_id, title in running:
        result = session.execute(
            compare_and_set(campaign_id, (CampaignStatus.RUNNING,)).values(
                status=CampaignStatus.PAUSED, error_message=message, error_text=paused_text
            ),
            execution_options=_NO_SYNC,
        )
        if result.rowcount != 1:
            continue
        log.warning(
            "campaign paused", extra={"campaign_id": campaign_id, "instance_id": instance_id}
        )
        notify(
            session,
            account_id,
            "campaign_paused",
            {"title": title},
            paused_text,
            campaign_id=campaign_id,
            instance_id=instance_id,
        )
        paused.append(campaign_id)
    return paused


def complete_finished(session: Session, now: datetime) -> list[int]:
    """Running campaigns with nobody left pending or sending become `completed` (stats
    refreshed from the recipients, staff notified). Returns their ids."""
    open_rows = (
        select(CampaignRecipient.id)
        .where(
            CampaignRecipient.campaign_id == Campaign.id,
            CampaignRecipient.status.in_(OPEN_RECIPIENTS),
        )
        .exists()
    )
    done = session.execute(
        select(Campaign.id, Campaign.account_id, Campaign.title).where(
            Campaign.status == CampaignStatus.RUNNING, ~open_rows
        )
    ).all()
    completed = []
    for campaign_id, account_id, title in done:
        result = session.execute(
            compare_and_set(campaign_id, (CampaignStatus.RUNNING,))
            .where(~open_rows)
            .values(status=CampaignStatus.COMPLETED, completed_at=now),
            execution_options=_NO_SYNC,
        )
        if result.rowcount != 1:
            continue
        counts = refresh_delivery_stats(session, campaign_id)
        notify(
            session,
            account_id,
            "campaign_completed",
            {"title": title},
            stored_text.counts(counts),
            campaign_id=campaign_id,
        )
        log.info("campaign completed", extra={"campaign_id": campaign_id})
        completed.append(campaign_id)
    return completed
