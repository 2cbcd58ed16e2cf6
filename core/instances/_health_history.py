"""Each number's health over time: a sample of its score when it changed by `MIN_CHANGE` or
more (or it paused or resumed), and at least every `EVERY` while the worker scores it; samples
older than `HISTORY_KEEP` are pruned. Written by `refresh_health`; read by the instance page and the
dashboard's chart."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from core.instances._health import Health
from core.models import HealthSample, SenderInstance
from core.people import Actor, load_owned, require

EVERY = timedelta(minutes=15)
MIN_CHANGE = 5
HISTORY_KEEP = timedelta(days=30)


@dataclass(frozen=True)
class HealthPoint:
    at: datetime
    score: int
    worst: str | None
    paused: bool


def record_samples(
    session: Session, scored: Mapping[int, tuple[Health, bool]], now: datetime
) -> int:
    """Sample the numbers just scored ({id: (health, paused)}) where due; prune old samples.
    Returns how many were written (the caller commits)."""
    if not scored:
        return 0
    ids = list(scored)
    latest = (
        select(HealthSample.instance_id, func.max(HealthSample.at).label("at"))
        .where(HealthSample.instance_id.in_(ids))
        .group_by(HealthSample.instance_id)
        .subquery()
    )
    last = {
        row.instance_id: row
        for row in session.execute(
            select(
                HealthSample.instance_id, HealthSample.at, HealthSample.score, HealthSample.paused
            ).join(
                latest,
                (latest.c.instance_id == HealthSample.instance_id)
                & (latest.c.at == HealthSample.at),
            )
        ).all()
    }
    rows = []
    for instance_id, (health, paused) in scored.items():
        previous = last.get(instance_id)
        if (
            previous is None
            or _aware(previous.at) + EVERY <= now
            or abs(previous.score - health.score) >= MIN_CHANGE
            or previous.paused != paused
        ):
            rows.append(
                {
                    "instance_id": instance_id,
                    "at": now,
                    "score": health.score,
                    "worst": health.worst,
                    "paused": paused,
                }
            )
    if rows:
        session.execute(insert(HealthSample), rows)
        session.execute(
            delete(HealthSample).where(
                HealthSample.instance_id.in_(ids), HealthSample.at < now - HISTORY_KEEP
            ),
            execution_options={"synchronize_session": False},
        )
    return len(rows)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _points(
    session: Session, instance_ids: Iterable[int], since: datetime
) -> dict[int, list[HealthPoint]]:
    series: dict[int, list[HealthPoint]] = {}
    for sample in session.scalars(
        select(HealthSample)
        .where(HealthSample.instance_id.in_(list(instance_ids)), HealthSample.at >= since)
        .order_by(HealthSample.instance_id, HealthSample.at)
    ):
        series.setdefault(sample.instance_id, []).append(
            HealthPoint(sample.at, sample.score, sample.worst, sample.paused)
        )
    return series


def health_history(
    session: Session, actor: Actor, instance_id: int, since: datetime
) -> list[HealthPoint]:
    """One number's samples since `since`, oldest first."""
    require(actor, "instances.read")
    instance = load_owned(session, actor, SenderInstance, instance_id, "WhatsApp number")
    return _points(session, [instance.id], since).get(instance.id, [])


def account_health_history(
    session: Session, actor: Actor, since: datetime
) -> dict[str, list[HealthPoint]]:
    """Every number of the account's samples since `since`, by number name."""
    require(actor, "instances.read")
    names = dict(
        session.execute(
            select(SenderInstance.id, SenderInstance.name).where(
                SenderInstance.account_id == actor.account_id
            )
        ).all()
    )
    series = _points(session, names, since)
    return {names[i]: points for i, points in sorted(series.items(), key=lambda kv: names[kv[0]])}
