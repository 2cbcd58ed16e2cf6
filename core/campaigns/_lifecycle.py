"""A campaign's life (DESIGN.md § Campaign life): the one owner of its status.

Staff's actions (trigger, pause, resume, cancel, retry failed) and the system's (start when due,
fail when it cannot run, pause when its number breaks and resume once it answers again, complete
when nobody is left, retry the temporary failures when the campaign asked for it) all change the
status here, and `allowed_actions` tells pages and the API what a status permits. A pause says
who made it (`PauseCause`): the system only ever lifts its own.

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

from core.base import Conflict, stored_text, utcnow
from core.campaigns import _circuit_pauses as circuit_pauses
from core.campaigns._auto_retry import forget_auto_retry, schedule_auto_retry
from core.campaigns._delivery_stats import refresh_delivery_stats
from core.campaigns._queries import get, load_account, require_campaigns_enabled
from core.campaigns._recipients import (
    count_retryable,
    count_transient,
    freeze_or_say_why,
    requeue_retryable,
    requeue_transient,
    skip_campaign_queue,
)
from core.campaigns._statuses import EDITABLE, TRANSITIONS, cannot
from core.campaigns._validation import check_startable
from core.i18n import Term
from core.models import (
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    PauseCause,
    RecipientStatus,
)
from core.notifications import notify
from core.people import Actor, record_audit, require

log = logging.getLogger(__name__)
_NO_SYNC = {"synchronize_session": False}

OPEN_RECIPIENTS = (RecipientStatus.PENDING, RecipientStatus.SENDING)
_UNPAUSED = {
    "error_message": None,
    "error_text": None,
    "pause_cause": None,
    "paused_instance_ids": None,
}
_UNPAUSED_KEEPING_ERROR = {"pause_cause": None, "paused_instance_ids": None}
_PAUSED_BY_STAFF = {"pause_cause": PauseCause.STAFF, "paused_instance_ids": None}


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
        raise cannot(action, campaign.status, from_statuses)
    session.refresh(campaign)
    return campaign


def pause(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    require(actor, "campaigns.trigger")
    campaign = _transition(
        session, actor, campaign_id, "pause", now or utcnow(), **_PAUSED_BY_STAFF
    )
    record_audit(session, actor, "campaign.pause", "campaign", campaign_id)
    return campaign


def resume(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    require(actor, "campaigns.trigger")
    require_campaigns_enabled(load_account(session, actor.account_id))
    campaign = _transition(session, actor, campaign_id, "resume", now or utcnow(), **_UNPAUSED)
    record_audit(session, actor, "campaign.resume", "campaign", campaign_id)
    return campaign


def cancel(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    """Stop for good: recipients not yet sent are skipped (one being sent right now finishes)."""
    require(actor, "campaigns.trigger")
    now = now or utcnow()
    ended = {"completed_at": now, "auto_retry_at": None, **_UNPAUSED_KEEPING_ERROR}
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
            updated_at=now,
            auto_retries_done=0,
            auto_retry_at=None,
            **_UNPAUSED,
        ),
        execution_options=_NO_SYNC,
    )
    if result.rowcount != 1:
        return False
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    session.refresh(campaign)
    frozen, reason = freeze_or_say_why(session, campaign)
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


def pause_for_instance(
    session: Session,
    instance_id: int,
    name: str,
    reason: stored_text.StoredText | str,
    now: datetime,
    *,
    resumes_by_itself: bool,
) -> list[int]:
    """The number broke: its running campaigns pause with the reason (a circuit's pause: see
    `resume_recovered`), staff told per campaign; those another number paused wait for this one
    too. Returns the ids paused."""
    template = (
        stored_text.PAUSED_WAITING_FOR_NUMBER
        if resumes_by_itself
        else stored_text.PAUSED_NUMBER_DOWN
    )
    paused_text = stored_text.text(template, name=name, reason=reason)
    paused = []
    for campaign in circuit_pauses.campaigns_of_number(session, instance_id):
        if campaign.status == CampaignStatus.PAUSED:
            circuit_pauses.wait_also_for(session, campaign, instance_id, now)
            continue
        result = session.execute(
            compare_and_set(campaign.id, (CampaignStatus.RUNNING,)).values(
                status=CampaignStatus.PAUSED,
                error_message=stored_text.english(paused_text)[:1000],
                error_text=paused_text,
                pause_cause=PauseCause.CIRCUIT,
                paused_instance_ids=[instance_id],
                updated_at=now,
            ),
            execution_options=_NO_SYNC,
        )
        if result.rowcount != 1:
            continue
        log.warning(
            "campaign paused", extra={"campaign_id": campaign.id, "instance_id": instance_id}
        )
        notify(
            session,
            campaign.account_id,
            "campaign_paused",
            {"title": campaign.title},
            paused_text,
            campaign_id=campaign.id,
            instance_id=instance_id,
        )
        paused.append(campaign.id)
    return paused


def resume_recovered(session: Session, now: datetime) -> list[int]:
    """Campaigns paused by circuits resume once none of the numbers that paused them is down
    (whoever closed the circuits: the worker's check, or staff re-enabling the number). A pause
    made by staff is never lifted here. Returns the ids resumed."""
    resumed = []
    for row in circuit_pauses.recovered(session):
        result = session.execute(
            compare_and_set(row.id, (CampaignStatus.PAUSED,))
            .where(
                Campaign.pause_cause == PauseCause.CIRCUIT,
                # unchanged since read: a number that broke meanwhile would have joined the list
                Campaign.updated_at == row.updated_at,
            )
            .values(status=CampaignStatus.RUNNING, updated_at=now, **_UNPAUSED),
            execution_options=_NO_SYNC,
        )
        if result.rowcount != 1:
            continue
        log.info("campaign resumed: its numbers answer again", extra={"campaign_id": row.id})
        notify(
            session,
            row.account_id,
            "campaign_resumed",
            {"title": row.title},
            stored_text.text(stored_text.CAMPAIGN_RESUMED_BODY),
            campaign_id=row.id,
        )
        resumed.append(row.id)
    return resumed


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
        schedule_auto_retry(session, campaign_id, now)
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


def retry_due(session: Session, now: datetime) -> list[int]:
    """Completed campaigns whose automatic retry is due run again for the recipients that
    failed for a temporary reason (`_auto_retry`); the worker's job. Returns their ids."""
    due = session.scalars(
        select(Campaign.id)
        .join(Account, Account.id == Campaign.account_id)
        .where(
            Campaign.status == CampaignStatus.COMPLETED,
            Campaign.auto_retry_at <= now,
            Account.campaigns_enabled.is_(True),
        )
        .order_by(Campaign.auto_retry_at, Campaign.id)
    ).all()
    started = []
    for campaign_id in due:
        if not count_transient(session, campaign_id):
            forget_auto_retry(session, campaign_id)
            continue
        result = session.execute(
            compare_and_set(campaign_id, (CampaignStatus.COMPLETED,))
            .where(Campaign.auto_retry_at <= now)
            .values(
                status=CampaignStatus.RUNNING,
                completed_at=None,
                auto_retry_at=None,
                auto_retries_done=Campaign.auto_retries_done + 1,
                updated_at=now,
            ),
            execution_options=_NO_SYNC,
        )
        if result.rowcount != 1:
            continue
        requeued = requeue_transient(session, campaign_id)
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        log.info("campaign retrying", extra={"campaign_id": campaign_id, "recipients": requeued})
        notify(
            session,
            campaign.account_id,
            "campaign_retrying",
            {"title": campaign.title},
            stored_text.counted(stored_text.AUTO_RETRY_BODY, requeued),
            campaign_id=campaign_id,
        )
        started.append(campaign_id)
    return started
