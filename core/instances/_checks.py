"""Checking a number: ask its server for `connectionState` and act on the answer.

The worker checks the numbers it leases when each is due: every INSTANCE_CHECK_SECONDS while
healthy, and while its circuit is open with a backoff (CIRCUIT_CHECK_MIN_SECONDS doubling to
CIRCUIT_CHECK_MAX_SECONDS). Staff's "Test connection" checks at once. An answer `open` closes a
circuit that answer proves fixed (server back, server activated, session reconnected); a server
that answers LICENSE_REQUIRED is not activated, which the caller that may pause campaigns (the
worker) turns into an open circuit. A check alone never opens a circuit otherwise.
"""

from __future__ import annotations

import enum
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.base import Settings, get_settings, utcnow
from core.instances._circuit import check_backoff, close_circuit
from core.instances._connection import messenger_of, record_connection_state
from core.instances._lookup import get_instance
from core.messaging import EvolutionError
from core.models import Circuit, CircuitCause, SenderInstance
from core.people import Actor, SecretUnreadable, require

UNREACHABLE = "unreachable"
NOT_ACTIVATED = "not_activated"


@dataclass(frozen=True)
class CheckAnswer:
    """What a number's server said: a session state (open / connecting / close / refused),
    `not_activated` (Evolution 2.4's licence gate) or `unreachable`."""

    state: str
    error: str | None = None  # why the server could not say (never a secret)
    activation_url: str | None = None
    cause: CircuitCause | None = None  # the trouble the failure shows

    @property
    def reached(self) -> bool:
        return self.state != UNREACHABLE


class Verdict(enum.Enum):
    NOTHING = "nothing"
    CLOSED = "closed"  # its circuit closed: the campaigns it paused may resume
    NOT_ACTIVATED = "not_activated"  # healthy until now, but the server is not activated


def ask_connection_state(number: SenderInstance) -> CheckAnswer:
    """`connectionState` of one number (HTTP; no database)."""
    try:
        with closing(messenger_of(number)) as messenger:
            return CheckAnswer(messenger.connection_state())
    except EvolutionError as failure:
        result = failure.result
        if result.trouble is CircuitCause.LICENCE:
            return CheckAnswer(NOT_ACTIVATED, result.error, result.activation_url, result.trouble)
        return CheckAnswer(UNREACHABLE, result.error or result.outcome.value, None, result.trouble)
    except SecretUnreadable as failure:
        return CheckAnswer(UNREACHABLE, str(failure), None, CircuitCause.CONFIG)
    except ValueError as failure:  # settings the client refuses (API version, name)
        return CheckAnswer(
            UNREACHABLE, f"bad instance settings: {failure}", None, CircuitCause.CONFIG
        )


def record_check(
    session: Session,
    actor: Actor,
    instance: SenderInstance,
    answer: CheckAnswer,
    now: datetime,
    settings: Settings | None = None,
) -> Verdict:
    """Store the answer, close the circuit it proves fixed, and plan the next check."""
    settings = settings or get_settings()
    record_connection_state(session, actor, instance, answer.state, now)
    if answer.state == NOT_ACTIVATED:
        instance.activation_url = answer.activation_url
    elif answer.reached:
        instance.activation_url = None
    if instance.circuit == Circuit.OPEN:
        if answer.state == "open" and close_circuit(session, instance, now):
            instance.next_check_at = now + timedelta(seconds=settings.instance_check_seconds)
            session.flush()
            return Verdict.CLOSED
        instance.check_failures = (instance.check_failures or 0) + 1
        instance.next_check_at = now + check_backoff(instance.check_failures, settings)
        session.flush()
        return Verdict.NOTHING
    instance.check_failures = 0
    instance.next_check_at = now + timedelta(seconds=settings.instance_check_seconds)
    session.flush()
    return Verdict.NOT_ACTIVATED if answer.state == NOT_ACTIVATED else Verdict.NOTHING


def due_for_check(session: Session, instance_ids: list[int], now: datetime) -> list[SenderInstance]:
    """Of these numbers, the active ones whose next check is due."""
    if not instance_ids:
        return []
    return list(
        session.scalars(
            select(SenderInstance).where(
                SenderInstance.id.in_(instance_ids),
                SenderInstance.is_active.is_(True),
                or_(SenderInstance.next_check_at.is_(None), SenderInstance.next_check_at <= now),
            )
        )
    )


@dataclass(frozen=True)
class InstanceCheck:
    state: str  # open / connecting / close / refused, not_activated, or unreachable
    error: str | None = None  # why the server could not say (never a secret)


def check_instance(
    session: Session, actor: Actor, instance_id: int, now: datetime | None = None
) -> InstanceCheck:
    """Staff's "Test connection": ask Evolution now, store the answer. A circuit it proves fixed
    closes (the worker then resumes the campaigns it paused); a server found not activated is
    checked by the worker at once, which stops sending through it."""
    require(actor, "instances.write")
    instance = get_instance(session, actor, instance_id)
    now = now or utcnow()
    answer = ask_connection_state(instance)
    if record_check(session, actor, instance, answer, now) is Verdict.NOT_ACTIVATED:
        instance.next_check_at = now
        session.flush()
    return InstanceCheck(answer.state, answer.error)
