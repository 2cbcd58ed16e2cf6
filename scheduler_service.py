"""The worker: starts due campaigns and sends them through Evolution, paced per instance.

APScheduler 3 `BackgroundScheduler` with its own in-memory jobs (never a shared job store: several
workers may run against one PostgreSQL database and split the instances through leases).
The loop body lives in `core.sending` (its `Dispatcher`). SIGTERM/SIGINT stop claiming, let in-flight sends finish
(up to SHUTDOWN_GRACE_SECONDS), and release the leases. Logs: one JSON object per line.

The scheduler runs in its own thread and the main thread waits for the signal with `sigwait`:
a Python signal handler runs in the middle of whatever the main thread was doing, and shutting
the scheduler down from inside its own job loop made it fail on jobs it had just removed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from datetime import UTC, datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from core import crm
from core.base import (
    ValidationError,
    check_connection_budget,
    get_settings,
    make_engine,
    pool_size_of,
)
from core.sending import Dispatcher

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields (campaign_id, instance_id, ...) become keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs request URLs at INFO; keep it quiet (URLs carry no token, but noise is noise).
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def main() -> int:
    # Blocked before any thread starts, so every thread inherits the mask and only the
    # main thread's sigwait ever receives them.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    settings = get_settings()
    configure_logging(settings.log_level)
    log = logging.getLogger("worker")
    threads = int(_env_number("WORKER_THREADS", 64))
    # Every transaction of the worker queues for one of `worker_db_connections` slots, so its
    # pool needs no more on PostgreSQL (SQLite's one writer needs fewer still).
    engine = make_engine(
        settings.database_url, pool_size=settings.worker_db_connections, max_overflow=2
    )
    if not settings.database_behind_pgbouncer:
        check_connection_budget(engine, pool_size_of(engine), "worker")
    dispatcher = Dispatcher(engine, settings, max_threads=threads)
    grace = _env_number("SHUTDOWN_GRACE_SECONDS", settings.http_read_timeout + 5)

    scheduler = BackgroundScheduler(
        timezone=UTC,
        executors={"default": ThreadPoolExecutor(6)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    )
    maintain_every = max(0.05, min(settings.heartbeat_seconds, settings.lease_seconds / 3))
    scheduler.add_job(dispatcher.maintain, "interval", seconds=maintain_every, id="maintain")
    scheduler.add_job(dispatcher.poll_due, "interval", seconds=settings.due_poll_seconds, id="due")
    scheduler.add_job(
        dispatcher.tick, "interval", seconds=max(0.02, settings.worker_tick_seconds), id="tick"
    )
    # Side jobs: their own threads and HTTP clients, so a slow webhook URL or Evolution server
    # never holds up the ticks that hand out sends.
    scheduler.add_job(
        dispatcher.deliver_webhooks,
        "interval",
        seconds=_env_number("NOTIFICATION_WEBHOOK_SECONDS", 15),
        id="notification_webhooks",
    )
    if settings.instance_check_seconds > 0:
        # The job looks often; each number is checked when its own check is due (healthy:
        # every INSTANCE_CHECK_SECONDS; circuit open: with backoff from CIRCUIT_CHECK_MIN_SECONDS).
        check_every = min(5.0, settings.instance_check_seconds, settings.circuit_check_min_seconds)
        scheduler.add_job(
            dispatcher.check_instances,
            "interval",
            seconds=max(0.05, check_every),
            id="instance_check",
        )
    # Chatwoot contact syncs: each account on its own schedule (default every 15 minutes);
    # the job only looks every minute. A sync has its own thread and HTTP client, never a lane's.
    scheduler.add_job(
        crm.run_due_syncs,
        "interval",
        seconds=_env_number("CHATWOOT_SYNC_POLL_SECONDS", 60),
        args=[engine],
        id="chatwoot_sync",
    )
    # Sent campaign messages copied into Chatwoot (numbers in `ours` mode): an outbox of its
    # own, so a slow or absent Chatwoot never holds up a send.
    scheduler.add_job(
        crm.mirror_sent,
        "interval",
        seconds=_env_number("CHATWOOT_MIRROR_SECONDS", 10),
        args=[engine],
        id="chatwoot_mirror",
    )

    dispatcher.start()
    log.info(
        "worker started",
        extra={
            "worker_id": dispatcher.worker_id,
            "instances": len(dispatcher.owned),
            "tick_seconds": settings.worker_tick_seconds,
            "lease_seconds": settings.lease_seconds,
        },
    )
    try:
        scheduler.start()
        received = signal.sigwait(_STOP_SIGNALS)
        log.info("stopping", extra={"signal": signal.Signals(received).name})
        scheduler.shutdown(wait=False)
    finally:
        dispatcher.stop(timeout=grace)
        engine.dispose()
        log.info("worker stopped", extra={"worker_id": dispatcher.worker_id})
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except ValidationError as error:  # a malformed setting: named, without a traceback
        raise SystemExit(f"error: {error}") from None
