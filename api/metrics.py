"""Prometheus exposition: a custom collector that reads `core.metrics.snapshot` at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core import sending
from core.base import get_settings, session_scope, utcnow


def stale_after_seconds() -> float:
    """A worker missing three heartbeats (at least 15 s) is considered gone."""
    return max(3 * get_settings().heartbeat_seconds, 15.0)


class DatabaseCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        with session_scope() as session:
            snap = sending.metrics_snapshot(session, utcnow(), stale_after_seconds())
        yield from families(snap)


def families(snap: sending.MetricsSnapshot) -> Iterator[Metric]:
    recipients = GaugeMetricFamily(
        "wac_recipients",
        "Campaign recipients by status (test sends excluded): sends by outcome.",
        labels=["status"],
    )
    for status, count in sorted(snap.recipients_by_status.items()):
        recipients.add_metric([status], count)
    yield recipients

    failures = GaugeMetricFamily(
        "wac_recipient_failures",
        "Failed or unknown recipients by error kind.",
        labels=["kind"],
    )
    for kind, count in sorted(snap.failures_by_kind.items()):
        failures.add_metric([kind], count)
    yield failures

    campaigns = GaugeMetricFamily("wac_campaigns", "Campaigns by status.", labels=["status"])
    for status, count in sorted(snap.campaigns_by_status.items()):
        campaigns.add_metric([status], count)
    yield campaigns

    events = CounterMetricFamily(
        "wac_webhook_events",
        "Evolution webhook deliveries accepted, by event type.",
        labels=["event"],
    )
    for event, count in sorted(snap.webhook_events.items()):
        events.add_metric([event], count)
    yield events

    labels = ["instance_id", "instance", "account_id"]
    depth = GaugeMetricFamily(
        "wac_instance_queue_depth",
        "Pending recipients of running campaigns that the instance may send.",
        labels=labels,
    )
    lag = GaugeMetricFamily(
        "wac_instance_pacing_lag_seconds",
        "Seconds the instance is behind its next planned send (0 when idle or on time).",
        labels=labels,
    )
    up = GaugeMetricFamily(
        "wac_instance_up",
        "1 when the instance's circuit is closed and its last known state is open.",
        labels=labels,
    )
    for load in snap.instances:
        values = [str(load.instance_id), load.name, str(load.account_id)]
        depth.add_metric(values, load.queue_depth)
        lag.add_metric(values, load.pacing_lag_seconds)
        up.add_metric(values, 1 if load.circuit == "closed" and load.state == "open" else 0)
    yield depth
    yield lag
    yield up

    if snap.worker is not None:
        yield GaugeMetricFamily(
            "wac_workers_alive", "Workers with a recent heartbeat.", value=snap.worker.alive
        )
        if snap.worker.last_seen_age_seconds is not None:
            yield GaugeMetricFamily(
                "wac_worker_heartbeat_age_seconds",
                "Seconds since the most recent worker heartbeat.",
                value=snap.worker.last_seen_age_seconds,
            )


def build_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
