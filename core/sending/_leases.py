"""Which worker sends through which instance: heartbeats and instance leases in the database.

A worker holds a lease (`lease_owner`, `lease_expires_at`) on each instance it sends through and is
the only one that does. Leases are taken and renewed with compare-and-set UPDATEs, so two workers
can never both believe they own an instance; a dead worker's leases expire and are taken over.
Work is spread by giving each live worker a fair share (instances / live workers, rounded up).
"""

from __future__ import annotations

import math
import os
import secrets
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from core.models import SenderInstance, WorkerHeartbeat

_NO_SYNC = {"synchronize_session": False}


def worker_identity() -> str:
    """Unique per process start: a restarted worker is a new worker and must take leases anew."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{secrets.token_hex(3)}"


def heartbeat(session: Session, worker_id: str, now: datetime) -> None:
    """Record that this worker is alive (creates its row on first call)."""
    row = session.get(WorkerHeartbeat, worker_id)
    if row is None:
        session.add(
            WorkerHeartbeat(
                worker_id=worker_id,
                hostname=socket.gethostname()[:200],
                pid=os.getpid(),
                started_at=now,
                last_seen_at=now,
            )
        )
    else:
        row.last_seen_at = now
    session.flush()


def live_workers(session: Session, now: datetime, lease_seconds: float) -> int:
    cutoff = now - timedelta(seconds=lease_seconds)
    count = session.scalar(
        select(func.count())
        .select_from(WorkerHeartbeat)
        .where(WorkerHeartbeat.last_seen_at > cutoff)
    )
    return max(1, int(count or 0))


def forget_dead_workers(session: Session, now: datetime, lease_seconds: float) -> int:
    """Drop heartbeats of workers gone for a long while (their leases expired long ago)."""
    cutoff = now - timedelta(seconds=max(lease_seconds * 20, 600))
    result = session.execute(
        delete(WorkerHeartbeat).where(WorkerHeartbeat.last_seen_at < cutoff),
        execution_options=_NO_SYNC,
    )
    return result.rowcount or 0


def balance_leases(
    session: Session,
    worker_id: str,
    now: datetime,
    lease_seconds: float,
    busy: Iterable[int] = (),
) -> set[int]:
    """Renew this worker's leases, give back what is beyond its fair share (never a `busy`
    instance: one with a send in flight), and take free or expired instances up to the share.

    Returns the ids of the instances this worker owns afterwards. Call it well within
    `lease_seconds`; the caller commits.
    """
    expires = now + timedelta(seconds=lease_seconds)
    busy = set(busy)
    # Renew first: a lease that expired meanwhile may already be someone else's, so only rows
    # still ours (by owner) are touched, and only if nobody took them over.
    session.execute(
        update(SenderInstance)
        .where(SenderInstance.lease_owner == worker_id)
        .values(lease_expires_at=expires),
        execution_options=_NO_SYNC,
    )
    active = session.scalar(
        select(func.count()).select_from(SenderInstance).where(SenderInstance.is_active.is_(True))
    )
    share = math.ceil((active or 0) / live_workers(session, now, lease_seconds))
    mine = sorted(
        session.scalars(
            select(SenderInstance.id).where(
                SenderInstance.lease_owner == worker_id, SenderInstance.is_active.is_(True)
            )
        )
    )
    # Inactive instances need no owner.
    session.execute(
        update(SenderInstance)
        .where(SenderInstance.lease_owner == worker_id, SenderInstance.is_active.is_(False))
        .values(lease_owner=None, lease_expires_at=None),
        execution_options=_NO_SYNC,
    )
    if len(mine) > share:
        extra = [i for i in reversed(mine) if i not in busy][: len(mine) - share]
        if extra:
            release(session, worker_id, extra)
            mine = [i for i in mine if i not in extra]
    missing = share - len(mine)
    if missing > 0:
        free = session.scalars(
            select(SenderInstance.id)
            .where(
                SenderInstance.is_active.is_(True),
                or_(
                    SenderInstance.lease_owner.is_(None),
                    SenderInstance.lease_expires_at.is_(None),
                    SenderInstance.lease_expires_at <= now,
                ),
            )
            .order_by(SenderInstance.id)
            .limit(missing * 2 + 5)
        ).all()
        for instance_id in free:
            if missing <= 0:
                break
            if take(session, worker_id, instance_id, now, lease_seconds):
                mine.append(instance_id)
                missing -= 1
    return set(mine)


def take(
    session: Session, worker_id: str, instance_id: int, now: datetime, lease_seconds: float
) -> bool:
    """Compare-and-set: take the lease if it is free, expired or already ours."""
    result = session.execute(
        update(SenderInstance)
        .where(
            SenderInstance.id == instance_id,
            or_(
                SenderInstance.lease_owner.is_(None),
                SenderInstance.lease_owner == worker_id,
                SenderInstance.lease_expires_at.is_(None),
                SenderInstance.lease_expires_at <= now,
            ),
        )
        .values(lease_owner=worker_id, lease_expires_at=now + timedelta(seconds=lease_seconds)),
        execution_options=_NO_SYNC,
    )
    return result.rowcount == 1


def release(session: Session, worker_id: str, instance_ids: Iterable[int] | None = None) -> int:
    """Give leases back (all of them when `instance_ids` is None), only those still ours."""
    statement = update(SenderInstance).where(SenderInstance.lease_owner == worker_id)
    if instance_ids is not None:
        statement = statement.where(SenderInstance.id.in_(list(instance_ids)))
    result = session.execute(
        statement.values(lease_owner=None, lease_expires_at=None), execution_options=_NO_SYNC
    )
    return result.rowcount or 0


def retire(session: Session, worker_id: str) -> None:
    """On a clean shutdown: release every lease and remove the heartbeat."""
    release(session, worker_id)
    session.execute(
        delete(WorkerHeartbeat).where(WorkerHeartbeat.worker_id == worker_id),
        execution_options=_NO_SYNC,
    )
