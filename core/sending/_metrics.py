"""Operational figures read from the database, for /metrics and /healthz.

Computed at request time from the shared database, so they are right whichever process (API,
worker, UI) made the change and however many API processes answer the scrape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.orm import Session

from core.models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    RecipientStatus,
    SenderInstance,
    WebhookEventCount,
    WorkerHeartbeat,
    campaign_instances,
)


@dataclass(frozen=True)
class InstanceLoad:
    instance_id: int
    account_id: int
    name: str
    queue_depth: int  # pending recipients of running campaigns this instance may send
    pacing_lag_seconds: float  # how far behind its own pacing it is (0 when idle or on time)
    state: str
    circuit: str


@dataclass(frozen=True)
class WorkerStatus:
    workers: int  # heartbeat rows, alive or not
    alive: int  # seen within the staleness limit
    last_seen_age_seconds: float | None  # of the most recent heartbeat; None: never ran


@dataclass
class MetricsSnapshot:
    recipients_by_status: dict[str, int] = field(default_factory=dict)
    failures_by_kind: dict[str, int] = field(default_factory=dict)
    campaigns_by_status: dict[str, int] = field(default_factory=dict)
    webhook_events: dict[str, int] = field(default_factory=dict)
    instances: list[InstanceLoad] = field(default_factory=list)
    worker: WorkerStatus | None = None


def database_reachable(session: Session) -> bool:
    session.execute(text("SELECT 1"))
    return True


def worker_status(session: Session, now: datetime, stale_after_seconds: float) -> WorkerStatus:
    rows = list(session.scalars(select(WorkerHeartbeat.last_seen_at)))
    if not rows:
        return WorkerStatus(0, 0, None)
    ages = [max(0.0, (now - seen).total_seconds()) for seen in rows]
    return WorkerStatus(
        workers=len(ages),
        alive=sum(1 for age in ages if age <= stale_after_seconds),
        last_seen_age_seconds=min(ages),
    )


def metrics_snapshot(
    session: Session, now: datetime, stale_after_seconds: float
) -> MetricsSnapshot:
    result = MetricsSnapshot()
    recipients = CampaignRecipient
    result.recipients_by_status = dict.fromkeys((s.value for s in RecipientStatus), 0)
    result.recipients_by_status.update(
        session.execute(
            select(recipients.status, func.count())
            .where(recipients.is_test.is_(False))
            .group_by(recipients.status)
        ).all()
    )
    result.failures_by_kind = {
        kind or "unclassified": count
        for kind, count in session.execute(
            select(recipients.error_kind, func.count())
            .where(
                recipients.is_test.is_(False),
                recipients.status.in_([RecipientStatus.FAILED, RecipientStatus.UNKNOWN]),
            )
            .group_by(recipients.error_kind)
        ).all()
    }
    result.campaigns_by_status = dict.fromkeys((s.value for s in CampaignStatus), 0)
    result.campaigns_by_status.update(
        session.execute(select(Campaign.status, func.count()).group_by(Campaign.status)).all()
    )
    result.webhook_events = dict(
        session.execute(select(WebhookEventCount.event, WebhookEventCount.count)).all()
    )
    result.instances = instance_loads(session, now)
    result.worker = worker_status(session, now, stale_after_seconds)
    return result


def instance_loads(session: Session, now: datetime) -> list[InstanceLoad]:
    link = campaign_instances
    depth = dict(
        session.execute(
            select(link.c.instance_id, func.count(CampaignRecipient.id))
            .select_from(link)
            .join(Campaign, Campaign.id == link.c.campaign_id)
            .join(CampaignRecipient, CampaignRecipient.campaign_id == Campaign.id)
            .where(
                Campaign.status == CampaignStatus.RUNNING,
                CampaignRecipient.status == RecipientStatus.PENDING,
                # Rotation: an unassigned recipient may go to any of the campaign's instances.
                or_(
                    CampaignRecipient.instance_id.is_(None),
                    and_(CampaignRecipient.instance_id == link.c.instance_id),
                ),
            )
            .group_by(link.c.instance_id)
        ).all()
    )
    loads = []
    for instance in session.scalars(select(SenderInstance).order_by(SenderInstance.id)):
        queued = int(depth.get(instance.id, 0))
        lag = 0.0
        if queued and instance.next_send_at is not None:
            lag = max(0.0, (now - instance.next_send_at).total_seconds())
        loads.append(
            InstanceLoad(
                instance_id=instance.id,
                account_id=instance.account_id,
                name=instance.name,
                queue_depth=queued,
                pacing_lag_seconds=lag,
                state=instance.state,
                circuit=instance.circuit,
            )
        )
    return loads
