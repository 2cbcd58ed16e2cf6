"""Which campaigns a number's circuit pauses, and which of those may resume: the look-ups behind
the life cycle's `pause_for_instance` and `resume_recovered` (the status itself changes there).

A campaign paused by a circuit (`PauseCause.CIRCUIT`) keeps the ids of the numbers that paused it
(`paused_instance_ids`): it resumes once none of them is down, whatever its other numbers do —
one that was already down before the campaign paused never holds it up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.models import Campaign, CampaignStatus, Circuit, PauseCause, SenderInstance
from core.models import campaign_instances as links

_NO_SYNC = {"synchronize_session": False}
_WAITING = (Campaign.status == CampaignStatus.PAUSED) & (Campaign.pause_cause == PauseCause.CIRCUIT)


def campaigns_of_number(session: Session, instance_id: int) -> list[Any]:
    """The number's running campaigns, and those a circuit paused (id, account_id, title,
    status, paused_instance_ids)."""
    return list(
        session.execute(
            select(
                Campaign.id,
                Campaign.account_id,
                Campaign.title,
                Campaign.status,
                Campaign.paused_instance_ids,
            )
            .join(links, links.c.campaign_id == Campaign.id)
            .where(
                links.c.instance_id == instance_id,
                (Campaign.status == CampaignStatus.RUNNING) | _WAITING,
            )
        ).all()
    )


def wait_also_for(session: Session, campaign: Any, instance_id: int, now: datetime) -> None:
    """A campaign a circuit paused waits for this number too (a row of `campaigns_of_number`)."""
    waiting_for = list(campaign.paused_instance_ids or [])
    if instance_id in waiting_for:
        return
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, _WAITING)
        .values(paused_instance_ids=[*waiting_for, instance_id], updated_at=now),
        execution_options=_NO_SYNC,
    )


def recovered(session: Session) -> list[Any]:
    """Campaigns a circuit paused whose numbers that paused them are all up again (id,
    account_id, title, updated_at)."""
    waiting = session.execute(
        select(
            Campaign.id,
            Campaign.account_id,
            Campaign.title,
            Campaign.paused_instance_ids,
            Campaign.updated_at,
        ).where(_WAITING)
    ).all()
    if not waiting:
        return []
    numbers = {number for row in waiting for number in row.paused_instance_ids or []}
    down = set(
        session.scalars(
            select(SenderInstance.id).where(
                SenderInstance.id.in_(numbers), SenderInstance.circuit == Circuit.OPEN
            )
        )
    )
    return [row for row in waiting if not down & set(row.paused_instance_ids or [])]
