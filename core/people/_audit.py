"""The audit trail: who did what to which object, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.models import AuditLog
from core.people._access import Actor, require


def record_audit(
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


def record_system_audit(
    session: Session,
    account_id: int | None,
    action: str,
    object_type: str,
    object_id: int | str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """An entry nobody's action caused (a failed login, a lock-out); `account_id` None files it
    outside every account, for a username nobody has."""
    session.add(
        AuditLog(
            account_id=account_id,
            user_id=None,
            actor="system",
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            details=details,
        )
    )


# -- reading the trail (admins) --------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None = None  # username, "cli" or "system"
    action: str | None = None  # exact ("campaign.trigger") or a prefix ending in "." ("campaign.")
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None  # aware; inclusive
    until: datetime | None = None  # aware; exclusive


def list_audit_entries(
    session: Session,
    actor: Actor,
    filters: AuditFilters | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[AuditLog], int]:
    """The account's audit entries, newest first, and how many match in all."""
    require(actor, "audit.read")
    filters = filters or AuditFilters()
    query = select(AuditLog).where(AuditLog.account_id == actor.account_id)
    if filters.actor:
        query = query.where(AuditLog.actor == filters.actor)
    if filters.action:
        if filters.action.endswith("."):
            query = query.where(AuditLog.action.startswith(filters.action, autoescape=True))
        else:
            query = query.where(AuditLog.action == filters.action)
    if filters.object_type:
        query = query.where(AuditLog.object_type == filters.object_type)
    if filters.object_id:
        query = query.where(AuditLog.object_id == str(filters.object_id))
    if filters.since:
        query = query.where(AuditLog.created_at >= filters.since)
    if filters.until:
        query = query.where(AuditLog.created_at < filters.until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page, per_page = max(page, 1), min(max(per_page, 1), 500)
    rows = session.scalars(
        query.order_by(AuditLog.created_at.desc(), AuditLog.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def audit_filter_choices(session: Session, actor: Actor) -> dict[str, list[str]]:
    """The distinct actors, actions and object types in the account's trail (for filter pickers)."""
    require(actor, "audit.read")
    scoped = AuditLog.account_id == actor.account_id
    return {
        name: list(session.scalars(select(column).where(scoped).distinct().order_by(column)))
        for name, column in (
            ("actor", AuditLog.actor),
            ("action", AuditLog.action),
            ("object_type", AuditLog.object_type),
        )
    }
