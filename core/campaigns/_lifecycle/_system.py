"""What the system does to a campaign: start it when due (freezing its recipients) or fail it when
it cannot run, pause it when its number breaks and resume it once the number answers again,
complete it when nobody is left, retry its temporary failures when it asked for that.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.base import stored_text
from core.campaigns import _circuit_pauses as circuit_pauses
from core.campaigns._auto_retry import forget_auto_retry, schedule_auto_retry
from core.campaigns._delivery_stats import refresh_delivery_stats
from core.campaigns._lifecycle._compare_and_set import (
    NO_SYNC,
    OPEN_RECIPIENTS,
    UNPAUSED,
    compare_and_set,
)
from core.campaigns._recipients import (
    count_transient,
    freeze_or_say_why,
    requeue_transient,
)
from core.models import (
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    PauseCause,
)
from core.notifications import notify

log = logging.getLogger("core.campaigns._lifecycle")


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
            **UNPAUSED,
        ),
        execution_options=NO_SYNC,
    )
    if result.rowcount != 1:
        return False
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    session.refresh(campaign)
    frozen, reason = freeze_or_say_why(session, campaign)
    if reason:
        fail(session, campaign_id, (CampaignStatus.RUNNING,), reason, now)
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
                fail(session, campaign_id, (CampaignStatus.PENDING,), crashed, now)
    return started


def fail(
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
        execution_options=NO_SYNC,
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
            execution_options=NO_SYNC,
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
            .values(status=CampaignStatus.RUNNING, updated_at=now, **UNPAUSED),
            execution_options=NO_SYNC,
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
            execution_options=NO_SYNC,
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
            execution_options=NO_SYNC,
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
