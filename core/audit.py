"""The audit trail: who did what to which object, and when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from core.access import Actor
from core.models import AuditLog


def record(
    session: Session,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: int | str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Add an entry in the caller's transaction, so it exists exactly when the change does."""
    session.add(
        AuditLog(
            account_id=actor.account_id,
            user_id=actor.user_id,
            actor=actor.username,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            details=details,
        )
    )
