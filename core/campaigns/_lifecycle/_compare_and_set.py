"""The compare-and-set every status change is made of, and the values a pause and an unpause write."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import update as sql_update

from core.models import (
    Campaign,
    PauseCause,
    RecipientStatus,
)

NO_SYNC = {"synchronize_session": False}

# Work left: a campaign whose A/B test waits for its winner is not finished either.
OPEN_RECIPIENTS = (
    RecipientStatus.PENDING,
    RecipientStatus.SENDING,
    RecipientStatus.AWAITING_WINNER,
)

UNPAUSED = {
    "error_message": None,
    "error_text": None,
    "pause_cause": None,
    "paused_instance_ids": None,
}

UNPAUSED_KEEPING_ERROR = {"pause_cause": None, "paused_instance_ids": None}

PAUSED_BY_STAFF = {"pause_cause": PauseCause.STAFF, "paused_instance_ids": None}


def compare_and_set(campaign_id: int, from_statuses: Sequence[str]) -> Any:
    """The compare-and-set: only a campaign still in one of `from_statuses` is changed."""
    return sql_update(Campaign).where(
        Campaign.id == campaign_id, Campaign.status.in_(from_statuses)
    )
