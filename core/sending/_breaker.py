"""The breaker: a streak of server-side failures opens a number's circuit before it burns anyone.

When sends through a number fail for reasons that are not about the recipient (`SendResult.
server_fault`: 5xx, a proxy's 502/503/504, refused connections, connect timeouts, TLS errors, no
answer) for BREAKER_THRESHOLD different recipients in a row, the server is down, not those
recipients' sends: the circuit opens (`stop_instance`: campaigns pause, staff are told, the
worker's checks take over) and the recipients of the streak get back the attempts the streak cost
them and return to `pending` — one already `failed` for it included. A recipient whose send may
have gone out (504, no answer: `unknown`) stays `unknown`: never resent on its own.

One recipient failing again and again while others go through is that recipient's trouble: any
answer that proves the server works (201, a 4xx about the request) ends the streak, and its
bounded retries carry on. 429 and 408 neither count nor end a streak.

The streak lives on the number's row (`failure_streak*`), written in the outcome's transaction,
so a worker restart or the lease moving to another worker keeps it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, case, select, update
from sqlalchemy.orm import Session

from core.base import stored_text
from core.messaging import SendResult
from core.models import (
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    RecipientStatus,
    SenderInstance,
)
from core.sending._claims import Claim

_NO_SYNC = {"synchronize_session": False}
_instances = SenderInstance.__table__
END_STREAK = (
    update(_instances)
    .where(_instances.c.id == bindparam("p_instance"), _instances.c.failure_streak > 0)
    .values(failure_streak=0, failure_streak_recipients=None, failure_streak_started_at=None)
)
# What a streak's failure left on a recipient that the refund may undo.
_STREAK_KINDS = ("retry", "retries_exhausted")
_STILL_SENDING = (CampaignStatus.RUNNING, CampaignStatus.PAUSED)


def end_streak(connection: Session | Connection, claim: Claim, result: SendResult) -> None:
    """An answer that proves the server works ends the number's streak (only looked at when
    the claim saw one: no statement on the usual path)."""
    if claim.failure_streak and result.server_answered:
        connection.execute(END_STREAK, {"p_instance": claim.instance_id})


def count_failure(
    session: Session, claim: Claim, result: SendResult, now: datetime, threshold: int
) -> stored_text.StoredText | None:
    """Add this server-side failure to the number's streak. When the streak reaches `threshold`
    different recipients, the reason to open the circuit with ("the Evolution server at … is not
    answering (502 Bad Gateway) since 03:12"); else None."""
    instance = session.get(SenderInstance, claim.instance_id, populate_existing=True)
    if instance is None:
        return None
    streak = dict(instance.failure_streak_recipients or {})
    key = str(claim.recipient_id)
    streak[key] = streak.get(key, 0) + 1
    started = instance.failure_streak_started_at or now
    instance.failure_streak_recipients = streak
    instance.failure_streak = len(streak)
    instance.failure_streak_started_at = started
    session.flush()
    if len(streak) < threshold:
        return None
    zone = session.scalar(select(Account.timezone).where(Account.id == instance.account_id))
    since = started.astimezone(ZoneInfo(zone or "UTC")).strftime("%H:%M")
    return stored_text.text(
        stored_text.SERVER_NOT_ANSWERING,
        url=instance.base_url,
        error=result.error or "no answer",
        since=since,
    )


def refund_streak(session: Session, instance_id: int) -> int:
    """The circuit opened: the recipients of the streak get back the attempts it cost them and
    return to `pending` (those that became `unknown` stay so). Forgets the streak; returns how
    many recipients were given back."""
    instance = session.get(SenderInstance, instance_id)
    if instance is None:
        return 0
    streak = dict(instance.failure_streak_recipients or {})
    instance.failure_streak_recipients = None
    instance.failure_streak = 0
    instance.failure_streak_started_at = None
    session.flush()
    still_sending = select(Campaign.id).where(Campaign.status.in_(_STILL_SENDING))
    given_back = 0
    for key, failures in streak.items():
        attempts = CampaignRecipient.attempts
        result = session.execute(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.id == int(key),
                CampaignRecipient.instance_id == instance_id,
                CampaignRecipient.error_kind.in_(_STREAK_KINDS),
                (CampaignRecipient.status == RecipientStatus.PENDING)
                | (
                    (CampaignRecipient.status == RecipientStatus.FAILED)
                    & CampaignRecipient.campaign_id.in_(still_sending)
                ),
            )
            .values(
                status=RecipientStatus.PENDING,
                attempts=case((attempts > failures, attempts - failures), else_=0),
                next_attempt_at=None,
                failed_at=None,
                error_kind="instance_down",
            ),
            execution_options=_NO_SYNC,
        )
        given_back += result.rowcount
    return given_back
