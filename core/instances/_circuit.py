"""An instance's circuit: open while the number is broken (nothing is sent through it), closed
again by staff or, once the number answers, by the worker.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from core import people
from core.base import stored_text
from core.instances._lookup import get_instance
from core.models import Circuit, SenderInstance
from core.notifications import notify
from core.people import Actor, require

log = logging.getLogger(__name__)


def open_circuit(session: Session, instance_id: int, reason: str, now: datetime) -> bool:
    """Stop sending through a broken number and tell staff. Returns False when its circuit was
    open already (a compare-and-set: several lanes or workers may see it break at once)."""
    result = session.execute(
        update(SenderInstance)
        .where(SenderInstance.id == instance_id, SenderInstance.circuit == Circuit.CLOSED)
        .values(circuit=Circuit.OPEN, circuit_reason=reason[:500], circuit_opened_at=now),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount != 1:
        return False
    instance = session.get(SenderInstance, instance_id)
    assert instance is not None
    session.refresh(instance)
    log.warning(
        "instance circuit opened", extra={"instance_id": instance_id, "reason": reason[:200]}
    )
    notify(
        session,
        instance.account_id,
        "instance_down",
        {"name": instance.name},
        stored_text.text(stored_text.INSTANCE_DOWN_BODY, reason=reason),
        instance_id=instance_id,
    )
    return True


def reset_circuit(session: Session, actor: Actor, instance_id: int) -> SenderInstance:
    """An admin re-enables a number after fixing it (campaigns paused by it are resumed by staff)."""
    require(actor, "instances.write")
    instance = get_instance(session, actor, instance_id)
    previous = instance.circuit_reason
    instance.circuit = Circuit.CLOSED
    instance.circuit_reason = None
    instance.circuit_opened_at = None
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
