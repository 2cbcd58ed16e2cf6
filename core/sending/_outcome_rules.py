"""What a send's `Outcome` does to the recipient, the contact, the instance and its campaigns.

`apply_outcome` is the one place that decides it (DESIGN.md § Sending, Outcomes). Every update
is conditional on the claim (`claimed_by` + `claimed_at`), so a worker that lost its claim can
never overwrite someone else's work. After the recipient, the instance: a broken one stops at
once (`stop_instance`), a server-side failure counts towards the breaker (`_breaker`), and an
answer that proves the server works ends the breaker's streak.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, case, delete, func, update
from sqlalchemy.orm import Session

from core import campaigns, contacts, instances
from core.base import retry_delay, stored_text
from core.messaging import Outcome, SendResult
from core.models import (
    CampaignRecipient,
    CircuitCause,
    InstanceSend,
    RecipientStatus,
    SenderInstance,
)
from core.sending import _breaker as breaker
from core.sending._claims import Claim
from core.sending._postgres_statements import MARK_SENT_MANY

_NO_SYNC = {"synchronize_session": False}
log = logging.getLogger("worker")


_sends = InstanceSend.__table__
_recipients = CampaignRecipient.__table__
_MARK_ANSWER = (
    update(_sends).where(_sends.c.id == bindparam("p_send")).values(sent_at=bindparam("p_now"))
)
_OURS = (
    _recipients.c.id == bindparam("p_recipient"),
    _recipients.c.claimed_by == bindparam("p_worker"),
    _recipients.c.claimed_at == bindparam("p_claimed"),
    _recipients.c.status.in_((RecipientStatus.SENDING, RecipientStatus.UNKNOWN)),
)
_MARK_SENT = (
    update(_recipients)
    .where(*_OURS)
    .values(
        status=RecipientStatus.SENT,
        sent_at=bindparam("p_now"),
        parts_sent=bindparam("p_parts"),
        http_status=bindparam("p_http"),
        last_error=bindparam("p_error"),
        error_kind=None,
        next_attempt_at=None,
        provider_message_id=func.coalesce(
            _recipients.c.provider_message_id, bindparam("p_message")
        ),
    )
)


def apply_outcome(
    session: Session | Connection,
    claim: Claim,
    result: SendResult,
    now: datetime,
    *,
    max_attempts: int,
    backoff_base: float,
    backoff_max: float,
    rng: random.Random | None = None,
    breaker_threshold: int = 3,
    check_after: timedelta | None = None,
) -> str | None:
    """Record what happened to a claimed send. Returns the recipient's new status, or None
    when the claim is no longer ours (nothing is changed then). The caller commits.

    Works on a Session or a bare Connection (the worker's hot path: prebuilt statements).
    `breaker_threshold`: see `_breaker`; `check_after`: when a circuit this opens is checked."""
    status = _apply_to_recipient(
        session, claim, result, now, max_attempts, backoff_base, backoff_max, rng
    )
    if result.outcome is Outcome.INSTANCE_DOWN:
        with _orm(session) as orm:
            stop_instance(
                orm,
                claim.instance_id,
                _reason(result, claim),
                now,
                result.trouble or CircuitCause.CONFIG,
                result.activation_url,
                check_after,
            )
    elif result.server_fault and status is not None:
        with _orm(session) as orm:
            reason = breaker.count_failure(orm, claim, result, now, breaker_threshold)
            if reason is not None:
                stop_instance(
                    orm, claim.instance_id, reason, now, CircuitCause.SERVER, None, check_after
                )
    else:
        breaker.end_streak(session, claim, result)
    return status


def completes_plainly(claim: Claim, result: SendResult) -> bool:
    """A send that went through, its message's last part, no breaker streak to end: all it
    changes is its send's time and its recipient (`mark_sent_many` writes many at once)."""
    return (
        result.outcome is Outcome.SENT
        and claim.part + 1 >= len(claim.parts)
        and not claim.failure_streak
    )


def mark_sent_many(
    connection: Connection, sends: list[tuple[Claim, SendResult, datetime]]
) -> list[str | None]:
    """PostgreSQL: the outcomes of sends that `completes_plainly`, in one statement (what
    `apply_outcome` does for each). The recipients' new statuses, None where the claim was
    lost."""
    rows = connection.execute(
        MARK_SENT_MANY,
        {
            "p_sends": [claim.send_id for claim, _result, _done in sends],
            "p_recipients": [claim.recipient_id for claim, _result, _done in sends],
            "p_workers": [claim.worker_id for claim, _result, _done in sends],
            "p_claimed": [claim.claimed_at for claim, _result, _done in sends],
            "p_done": [done for _claim, _result, done in sends],
            "p_parts": [len(claim.parts) for claim, _result, _done in sends],
            "p_http": [result.http_status for _claim, result, _done in sends],
            "p_errors": [(result.error or "")[:500] or None for _claim, result, _done in sends],
            "p_messages": [result.message_id or None for _claim, result, _done in sends],
        },
    )
    updated = {row.id for row in rows}
    return [
        RecipientStatus.SENT if claim.recipient_id in updated else None
        for claim, _result, _done in sends
    ]


def _apply_to_recipient(
    session: Session | Connection,
    claim: Claim,
    result: SendResult,
    now: datetime,
    max_attempts: int,
    backoff_base: float,
    backoff_max: float,
    rng: random.Random | None,
) -> str | None:
    # The answer is the latest moment the server can have sent it: pace from there.
    session.execute(_MARK_ANSWER, {"p_send": claim.send_id, "p_now": now})
    error = (result.error or "")[:500] or None
    outcome = result.outcome
    if outcome is Outcome.SENT and claim.part + 1 >= len(claim.parts):
        updated = session.execute(
            _MARK_SENT,
            {
                "p_recipient": claim.recipient_id,
                "p_worker": claim.worker_id,
                "p_claimed": claim.claimed_at,
                "p_now": now,
                "p_parts": len(claim.parts),
                "p_http": result.http_status,
                "p_error": error,
                "p_message": result.message_id or None,
            },
        )
        return RecipientStatus.SENT if updated.rowcount == 1 else None
    ours = (
        CampaignRecipient.id == claim.recipient_id,
        CampaignRecipient.claimed_by == claim.worker_id,
        CampaignRecipient.claimed_at == claim.claimed_at,
        CampaignRecipient.status.in_((RecipientStatus.SENDING, RecipientStatus.UNKNOWN)),
    )
    values: dict[str, object]
    if outcome is Outcome.SENT:
        # More parts to go: stay `sending` (claimed), resume with the next part.
        values = {"parts_sent": claim.part + 1, "http_status": result.http_status}
        if result.message_id:
            values["provider_message_id"] = func.coalesce(
                CampaignRecipient.provider_message_id, result.message_id
            )
        return _update(session, ours, values, RecipientStatus.SENDING)
    if outcome is Outcome.NOT_ON_WHATSAPP:
        status = _update(
            session, ours, _failed(now, result, error, "not_on_whatsapp"), RecipientStatus.FAILED
        )
        if status and claim.contact_id is not None:
            contacts.mark_not_on_whatsapp(session, claim.account_id, claim.contact_id, now)
        return status
    if outcome is Outcome.REJECTED:
        return _update(
            session, ours, _failed(now, result, error, "rejected"), RecipientStatus.FAILED
        )
    if outcome is Outcome.RETRY:
        if claim.attempts >= max_attempts:
            values = _failed(now, result, error, "retries_exhausted")
            return _update(session, ours, values, RecipientStatus.FAILED)
        delay = retry_delay(claim.attempts, backoff_base, backoff_max, rng)
        values = {
            "status": RecipientStatus.PENDING,
            "next_attempt_at": now + delay,
            "http_status": result.http_status,
            "last_error": error,
            "error_kind": "retry",
        }
        return _update(session, ours, values, RecipientStatus.PENDING)
    if outcome is Outcome.INSTANCE_DOWN:
        # Not the recipient's fault: back in the queue, the attempt not counted.
        values = {
            "status": RecipientStatus.PENDING,
            "attempts": case(
                (CampaignRecipient.attempts > 0, CampaignRecipient.attempts - 1), else_=0
            ),
            "next_attempt_at": None,
            "http_status": result.http_status,
            "last_error": error,
            "error_kind": "instance_down",
        }
        return _update(session, ours, values, RecipientStatus.PENDING)
    # UNKNOWN: it may have gone out; a duplicate is worse than a gap.
    values = {
        "status": RecipientStatus.UNKNOWN,
        "http_status": result.http_status,
        "last_error": error,
        "error_kind": "unknown",
        "failed_at": now,
    }
    return _update(session, ours, values, RecipientStatus.UNKNOWN)


@contextmanager
def _orm(connection: Session | Connection) -> Iterator[Session]:
    """A Session inside the caller's transaction (rare paths that load objects and notify)."""
    if isinstance(connection, Session):
        yield connection
        return
    session = Session(bind=connection)
    try:
        yield session
        session.flush()
    finally:
        session.close()


def _failed(now: datetime, result: SendResult, error: str | None, kind: str) -> dict[str, object]:
    return {
        "status": RecipientStatus.FAILED,
        "failed_at": now,
        "http_status": result.http_status,
        "last_error": error,
        "error_kind": kind,
        "next_attempt_at": None,
    }


def _update(
    session: Session | Connection, where: tuple, values: dict[str, object], status: str
) -> str | None:
    result = session.execute(
        update(CampaignRecipient).where(*where).values(**values), execution_options=_NO_SYNC
    )
    return status if result.rowcount == 1 else None


def _reason(result: SendResult, claim: Claim) -> stored_text.StoredText | str:
    """Why a broken instance stopped: the licence gate's page to activate it, or the technical
    text of the answer."""
    if result.trouble is CircuitCause.LICENCE:
        return stored_text.text(
            stored_text.NOT_ACTIVATED, register_url=result.activation_url or claim.base_url
        )
    return (result.error or "the instance is down")[:500]


def stop_instance(
    session: Session,
    instance_id: int,
    reason: stored_text.StoredText | str,
    now: datetime,
    cause: CircuitCause = CircuitCause.CONFIG,
    activation_url: str | None = None,
    check_after: timedelta | None = None,
) -> bool:
    """A broken number: its circuit opens, the recipients of the breaker's streak are given
    back, its running campaigns pause; staff are told. False when it was stopped already."""
    opened = instances.open_circuit(
        session, instance_id, reason, now, cause, activation_url, check_after
    )
    if not opened:
        return False
    breaker.refund_streak(session, instance_id)
    instance = session.get(SenderInstance, instance_id)
    assert instance is not None
    campaigns.pause_for_instance(
        session,
        instance_id,
        instance.name,
        reason,
        now,
        resumes_by_itself=cause.closes_by_itself,
    )
    return True


def release_claim(session: Session | Connection, claim: Claim) -> bool:
    """Put back a claim whose request was never made (the worker is stopping): the recipient
    returns to the queue with its attempt not counted. The caller commits."""
    session.execute(
        delete(InstanceSend).where(InstanceSend.id == claim.send_id), execution_options=_NO_SYNC
    )
    result = session.execute(
        update(CampaignRecipient)
        .where(
            CampaignRecipient.id == claim.recipient_id,
            CampaignRecipient.claimed_by == claim.worker_id,
            CampaignRecipient.claimed_at == claim.claimed_at,
            CampaignRecipient.status == RecipientStatus.SENDING,
            CampaignRecipient.parts_sent == 0,
        )
        .values(
            status=RecipientStatus.PENDING,
            attempts=case(
                (CampaignRecipient.attempts > 0, CampaignRecipient.attempts - 1), else_=0
            ),
        ),
        execution_options=_NO_SYNC,
    )
    return result.rowcount == 1
