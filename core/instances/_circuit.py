"""An instance's circuit: open while the number is broken (nothing is sent through it).

It opens on the send path (`core.sending`: a broken instance, or the breaker's streak of
server-side failures) or when the worker's check finds the server not activated. It closes again
when the worker's check sees the number answer `open` — for the causes that answer proves fixed
(`CircuitCause.closes_by_itself`) — or when staff re-enable the number. Either way the campaigns
the circuit paused resume on their own (`core.campaigns.resume_recovered`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from core import people
from core.base import Settings, get_settings, stored_text
from core.instances._lookup import get_instance
from core.models import Circuit, CircuitCause, SenderInstance
from core.notifications import notify
from core.people import Actor, require

log = logging.getLogger(__name__)
_NO_SYNC = {"synchronize_session": False}
# What closing a circuit forgets: its reason, the breaker's streak, the checks' backoff.
_CLEARED = {
    "circuit_cause": None,
    "circuit_reason": None,
    "circuit_reason_text": None,
    "circuit_opened_at": None,
    "activation_url": None,
    "failure_streak": 0,
    "failure_streak_recipients": None,
    "failure_streak_started_at": None,
    "check_failures": 0,
}


def check_backoff(failures: int, settings: Settings | None = None) -> timedelta:
    """How long after a failed check of an open circuit the next one comes: the minimum,
    doubling per failure in a row, up to the maximum (15 s, 30 s, ... 5 min by default)."""
    settings = settings or get_settings()
    low = max(0.01, settings.circuit_check_min_seconds)
    high = max(low, settings.circuit_check_max_seconds)
    return timedelta(seconds=min(high, low * 2 ** min(max(failures, 0), 30)))


def open_circuit(
    session: Session,
    instance_id: int,
    reason: stored_text.StoredText | str,
    now: datetime,
    cause: CircuitCause = CircuitCause.CONFIG,
    activation_url: str | None = None,
    check_after: timedelta | None = None,
) -> bool:
    """Stop sending through a broken number and tell staff. `reason` is a message of
    core.stored_text or a technical text shown as it is; the worker checks the number again
    `check_after` (default: CIRCUIT_CHECK_MIN_SECONDS). Returns False when its circuit was open
    already (a compare-and-set: several lanes or workers may see it break at once)."""
    english = reason if isinstance(reason, str) else stored_text.english(reason)
    result = session.execute(
        update(SenderInstance)
        .where(SenderInstance.id == instance_id, SenderInstance.circuit == Circuit.CLOSED)
        .values(
            circuit=Circuit.OPEN,
            circuit_cause=cause,
            circuit_reason=english[:500],
            circuit_reason_text=None if isinstance(reason, str) else reason,
            circuit_opened_at=now,
            activation_url=activation_url,
            check_failures=0,
            next_check_at=now + (check_backoff(0) if check_after is None else check_after),
        ),
        execution_options=_NO_SYNC,
    )
    if result.rowcount != 1:
        return False
    instance = session.get(SenderInstance, instance_id)
    assert instance is not None
    session.refresh(instance)
    log.warning(
        "instance circuit opened",
        extra={"instance_id": instance_id, "cause": str(cause), "reason": english[:200]},
    )
    body = (
        stored_text.INSTANCE_DOWN_WAITING_BODY
        if cause.closes_by_itself
        else stored_text.INSTANCE_DOWN_BODY
    )
    notify(
        session,
        instance.account_id,
        "instance_down",
        {"name": instance.name},
        stored_text.text(body, reason=reason),
        instance_id=instance_id,
    )
    return True


def close_circuit(session: Session, instance: SenderInstance, now: datetime) -> bool:
    """The worker's check saw the number answer `open`: sending starts again, staff are told.
    Only circuits whose cause that answer proves fixed; False when it was not such a one."""
    result = session.execute(
        update(SenderInstance)
        .where(
            SenderInstance.id == instance.id,
            SenderInstance.circuit == Circuit.OPEN,
            SenderInstance.circuit_cause.in_(
                [cause for cause in CircuitCause if cause.closes_by_itself]
            ),
        )
        .values(circuit=Circuit.CLOSED, **_CLEARED),
        execution_options=_NO_SYNC,
    )
    if result.rowcount != 1:
        return False
    session.refresh(instance)
    log.info("instance circuit closed: it answers again", extra={"instance_id": instance.id})
    notify(
        session,
        instance.account_id,
        "instance_up",
        {"name": instance.name},
        stored_text.text(stored_text.INSTANCE_BACK_BODY),
        instance_id=instance.id,
    )
    return True


def reset_circuit(session: Session, actor: Actor, instance_id: int) -> SenderInstance:
    """An admin re-enables a number after fixing it; the campaigns it paused then resume."""
    require(actor, "instances.write")
    instance = get_instance(session, actor, instance_id)
    previous = instance.circuit_reason
    instance.circuit = Circuit.CLOSED
    for field, value in _CLEARED.items():
        setattr(instance, field, value)
    instance.next_check_at = None  # checked at the worker's next round
    session.flush()
    people.record_audit(
        session,
        actor,
        "instance.reset_circuit",
        "instance",
        instance.id,
        {"reason": previous},
    )
    return instance
