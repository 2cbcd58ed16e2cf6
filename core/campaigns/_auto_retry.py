"""Automatic retries: "retry failed recipients automatically after N hours" (per campaign, off by
default, at most `auto_retry_limit` times — one or two).

When a campaign completes with recipients that failed for a temporary reason only
(`_recipients.TRANSIENT_KINDS`: every attempt met a 429, a 5xx or a connection that never went
through), its retry is planned N hours later; the worker's job then runs the life cycle's
`retry_due`, which re-queues exactly those. Never retried: numbers not on WhatsApp, requests the
server rejected (4xx), contacts who opted out, and `unknown` sends (they may have gone out).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.campaigns._recipients import count_transient
from core.models import Campaign

MAX_HOURS = 72
MAX_LIMIT = 2
_NO_SYNC = {"synchronize_session": False}


def schedule_auto_retry(session: Session, campaign_id: int, now: datetime) -> datetime | None:
    """Plan the campaign's next automatic retry, if it has retries left and anyone to retry
    (called as it completes). Returns when, or None."""
    hours, limit, done = session.execute(
        select(
            Campaign.auto_retry_hours, Campaign.auto_retry_limit, Campaign.auto_retries_done
        ).where(Campaign.id == campaign_id)
    ).one()
    if not hours or (done or 0) >= (limit or 0) or not count_transient(session, campaign_id):
        return None
    due = now + timedelta(hours=hours)
    session.execute(
        update(Campaign).where(Campaign.id == campaign_id).values(auto_retry_at=due),
        execution_options=_NO_SYNC,
    )
    return due


def forget_auto_retry(session: Session, campaign_id: int) -> None:
    """Nobody is left to retry (staff retried them meanwhile, or they opted out)."""
    session.execute(
        update(Campaign).where(Campaign.id == campaign_id).values(auto_retry_at=None),
        execution_options=_NO_SYNC,
    )
