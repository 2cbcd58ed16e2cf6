"""The worker's periodic jobs: who sends through which number, and what runs when (no APScheduler
here; scheduler_service.py calls these on its timers).

- `maintain()`: heartbeat, lease renewal and balancing, recovery of claims left by dead workers,
  delivery statistics of campaigns being sent, completion of finished campaigns, resuming the
  campaigns whose numbers answer again, automatic retries that are due, A/B winners that are due;
- `poll_due()`: starts the campaigns whose time has come;
- `tick()`: hands each owned instance that has work, and no known slot still ahead, to a lane
  (`_lanes`), which runs the send step (`_send_step`: claim → send → outcome) until the
  instance must wait;
- `deliver_webhooks()`, `check_instances()`: notification webhooks and the numbers' connection
  checks (`_number_checks`), with their own HTTP clients and no transaction open during a request.

Cost per send (the hot path): the claim is prebuilt Core statements on a bare Connection (on
PostgreSQL two, in autocommit: a read and one claim-and-record statement); outcomes arriving
together are written together (`_outcome_writer`: on PostgreSQL the sends that went through in
one statement); on SQLite the worker's threads queue for the single writer in order
(`_database`).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Engine

from core import campaigns, instances, notifications
from core.base import Settings, get_settings, utcnow
from core.sending import _leases as leases
from core.sending._claims import CampaignCache, instances_with_work
from core.sending._database import WorkerDatabase
from core.sending._lanes import Lanes
from core.sending._number_checks import check_numbers
from core.sending._outcome_writer import OutcomeWriter
from core.sending._recovery import recover_expired_claims, recover_own_orphans
from core.sending._send_step import DispatchStats, SendStep, Step
from core.sending._sender import Sender

log = logging.getLogger("worker")
STATS_EVERY = timedelta(seconds=10)  # delivery stats of campaigns being sent, refreshed
CHECK_THREADS = 8


class Dispatcher:
    def __init__(
        self,
        engine: Engine,
        settings: Settings | None = None,
        *,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        max_threads: int = 64,
        http: httpx.Client | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.worker_id = worker_id or leases.worker_identity()
        self.clock = clock
        self.rng = rng or random.Random()
        self.database = WorkerDatabase(engine, settings.worker_db_connections)
        self._stopping = threading.Event()
        self._webhook_http: httpx.Client | None = None
        self._stats_due = datetime.min.replace(tzinfo=UTC)
        self._health_due = datetime.min.replace(tzinfo=UTC)
        horizon = max(0.05, self.settings.worker_tick_seconds)
        self.campaign_cache = CampaignCache(ttl=min(1.0, horizon * 2))
        self.sender = Sender(self.settings, self.database, http=http)
        self.writer = OutcomeWriter(self.database, self.settings, self.rng, self._stopping)
        self.step = SendStep(
            self.database,
            self.worker_id,
            clock,
            self.rng,
            self.sender,
            self.writer,
            self.campaign_cache,
            self._stopping,
        )
        self.lanes = Lanes(self.step, self.step.next_slot, clock, max_threads, self._stopping)

    @property
    def owned(self) -> set[int]:
        return self.lanes.owned

    @property
    def stats(self) -> DispatchStats:
        return self.step.stats

    # -- periodic jobs ----------------------------------------------------------------------

    def maintain(self) -> None:
        """Heartbeat, leases, recovery of dead workers' claims, completion, stats."""
        if self._stopping.is_set():
            return
        now = self.clock()
        settings = self.settings
        with self.database.session() as session:
            leases.heartbeat(session, self.worker_id, now)
            owned = leases.balance_leases(
                session,
                self.worker_id,
                now,
                settings.lease_seconds,
                busy=self.lanes.running(),
            )
            session.commit()
        self.lanes.set_owned(owned)
        # Short transactions, one after the other: on SQLite each holds the one write lock
        # that every send needs too.
        with self.database.session() as session:
            touched = recover_expired_claims(session, now)
            grace = timedelta(
                seconds=settings.http_connect_timeout
                + settings.http_read_timeout
                + instances.MAX_TYPING_SECONDS
                + 60
            )
            touched += recover_own_orphans(
                session, self.worker_id, self.step.in_flight(), now - grace, now
            )
            session.commit()
        for campaign_id in touched:
            log.warning(
                "claims of a lost worker marked unknown", extra={"campaign_id": campaign_id}
            )
        self.writer.note_touched(touched)
        if now >= self._stats_due:
            self._stats_due = now + STATS_EVERY
            for campaign_id in sorted(self.writer.take_touched()):
                with self.database.session() as session:
                    campaigns.refresh_delivery_stats(session, campaign_id)
                    session.commit()
        if owned and now >= self._health_due:
            # The numbers' health, scored once a minute (a few grouped reads, a write only for
            # those that changed): it lowers their rate, or pauses them, from the next claim on.
            self._health_due = now + instances.HEALTH_EVERY
            with self.database.session() as session:
                instances.refresh_health(session, owned, now, force=True)
                session.commit()
                # Once a local day, each warmed-up number's ladder moves by that health.
                instances.judge_warmup_days(session, owned, now)
                session.commit()
        with self.database.session() as session:
            campaigns.complete_finished(session, now)  # refreshes the stats of those it completes
            # Whoever closed their numbers' circuits (a check, staff), campaigns paused by them
            # resume here; and those whose automatic retry is due run again.
            campaigns.resume_recovered(session, now)
            campaigns.retry_due(session, now)
            # A/B tests whose wait is over get their winner (a compare-and-set: once).
            campaigns.decide_due(session, now)
            leases.forget_dead_workers(session, now, settings.lease_seconds)
            session.commit()

    def poll_due(self) -> list[int]:
        """Start the campaigns whose time has come."""
        if self._stopping.is_set():
            return []
        with self.database.session() as session:
            started = campaigns.start_due(session, self.clock())
            session.commit()
        return started

    def tick(self) -> int:
        """Give every owned instance with work, whose slot is near, a lane. Returns how many."""
        if self._stopping.is_set():
            return 0
        idle = self.lanes.idle_and_due(self.clock())
        if not idle:
            return 0
        with self.database.session() as session:
            ready = instances_with_work(session, idle, self.worker_id)
        return sum(1 for instance_id in sorted(ready) if self.lanes.start(instance_id))

    def process_instance(self, instance_id: int, now: datetime | None = None) -> Step:
        """One claim → HTTP send → outcome, synchronously (what a lane does once)."""
        return self.step(instance_id, self.lanes.take_due(instance_id), now)

    def deliver_webhooks(self) -> Any:
        """POST due notifications to their accounts' webhook URLs (own HTTP client)."""
        if self._stopping.is_set():
            return None
        if self._webhook_http is None:
            self._webhook_http = httpx.Client()
        report = notifications.deliver_pending_webhooks(
            self.database.session_factory, self.clock(), self._webhook_http
        )
        if report.sent or report.retrying or report.failed:
            log.info(
                "notification webhooks",
                extra={"sent": report.sent, "retrying": report.retrying, "failed": report.failed},
            )
        return report

    def check_instances(self, max_threads: int = CHECK_THREADS) -> dict[int, str]:
        """Check the connection of the numbers this worker leases whose check is due (an open
        circuit's with backoff); a number that answers again resumes its campaigns."""
        if self._stopping.is_set():
            return {}
        owned = sorted(self.owned)
        if not owned:
            return {}
        return check_numbers(self.database, self.settings, owned, self.clock, max_threads)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Announce this worker and take leases at once (before the first tick)."""
        self.maintain()

    def stop(self, timeout: float | None = None) -> None:
        """Stop claiming; let in-flight sends finish and record their outcome; release leases.

        A send still hanging past `timeout` is abandoned: its row stays `sending` and becomes
        `unknown` once the lease is gone — never resent.
        """
        self._stopping.set()
        hanging = self.lanes.stop(timeout)
        with self.database.session() as session:
            if hanging:
                # Keep no lease we cannot vouch for; their rows become unknown.
                log.warning("shutting down with sends in flight", extra={"instances": len(hanging)})
            leases.retire(session, self.worker_id)
            session.commit()
        self.sender.close()
        self.database.close()
        if self._webhook_http is not None:
            self._webhook_http.close()
