"""What each campaign status permits: the life cycle's table, read by pages, the API and the worker.

Only `_lifecycle` changes a status; everyone else asks here what a status allows.
"""

from __future__ import annotations

from collections.abc import Sequence

from core.base import Conflict
from core.i18n import Term
from core.models import CampaignStatus

EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.PENDING)

DELETABLE = (
    CampaignStatus.DRAFT,
    CampaignStatus.PENDING,
    CampaignStatus.PAUSED,
    CampaignStatus.COMPLETED,
    CampaignStatus.CANCELLED,
    CampaignStatus.FAILED,
)

TEST_SEND_STATUSES = (
    CampaignStatus.DRAFT,
    CampaignStatus.PENDING,
    CampaignStatus.RUNNING,
    CampaignStatus.PAUSED,
    CampaignStatus.COMPLETED,
)

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[CampaignStatus, ...], CampaignStatus]] = {
    "trigger": ((CampaignStatus.DRAFT, CampaignStatus.PENDING), CampaignStatus.RUNNING),
    "pause": ((CampaignStatus.RUNNING,), CampaignStatus.PAUSED),
    "resume": ((CampaignStatus.PAUSED,), CampaignStatus.RUNNING),
    "cancel": (
        (CampaignStatus.PENDING, CampaignStatus.RUNNING, CampaignStatus.PAUSED),
        CampaignStatus.CANCELLED,
    ),
    "retry_failed": ((CampaignStatus.COMPLETED,), CampaignStatus.RUNNING),
}


def allowed_actions(status: str) -> frozenset[str]:
    """What staff may do to a campaign in `status` (the role is checked apart): the life-cycle
    actions of TRANSITIONS, and `edit`, `delete`, `duplicate`, `test_send`."""
    actions = {action for action, (sources, _) in TRANSITIONS.items() if status in sources}
    if status in EDITABLE:
        actions.add("edit")
    if status in DELETABLE:
        actions.add("delete")
    if status in TEST_SEND_STATUSES:
        actions.add("test_send")
    actions.add("duplicate")
    return frozenset(actions)


def cannot(action: str, status: str, allowed: Sequence[str]) -> Conflict:
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
