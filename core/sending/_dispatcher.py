"""The worker's loop body: who sends what, when, through which instance (no APScheduler here).

`Dispatcher` is driven by periodic calls (see scheduler_service.py):
- `maintain()`: heartbeat, lease renewal and balancing, recovery of claims left by dead workers,
  completion of finished campaigns;
- `poll_due()`: starts due campaigns (`core.campaigns.start_due`);
- `tick()`: hands each owned instance that has work, and no known slot still ahead, to a
  thread-pool "lane". A lane claims (committed), sends over HTTP, records the outcome, and
  either waits in place (next slot within 20 ms) or arms a timer that starts the lane again
  exactly at the instance's next slot. One lane per instance at a time: one request in flight
  per instance;
- `deliver_webhooks()`, `check_instances()`: notification webhooks and Evolution health
  checks, with their own HTTP clients and no transaction open during a request.

Cost per send (the hot path): the claim is one transaction of prebuilt Core statements on a bare
Connection (instance row locked, window count, one `UPDATE … RETURNING` that picks and claims
the recipient, the pacing row); outcomes arriving together are written in one transaction
("group commit"), each lane waiting for its own commit before it claims again. On SQLite the
worker's threads queue for the single writer on an in-process lock rather than in the driver's
busy handler, which sleeps in steps of up to 100 ms.

`process_instance()` does one claim → send → outcome synchronously; tests drive it directly.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import random
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from time import monotonic
from typing import Any

import httpx
from sqlalchemy import Connection, Engine, exists, select
from sqlalchemy.orm import Session

from core import campaigns
from core.base import Settings, get_settings, stored_text, utcnow
from core.campaigns import refresh_delivery_stats
from core.instances import RATE_WINDOW, client_for
from core.messaging import EvolutionClient, EvolutionError, Outcome, SendResult
from core.models import (
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Circuit,
    Notification,
    RecipientStatus,
    SenderInstance,
    campaign_instances,
)
from core.notifications import notify
from core.people import SecretUnreadable, decrypt_secret
from core.sending import _leases as leases
from core.sending._claims import (
    TEST_SEND_STATUSES,
    CampaignCache,
    Claim,
    ClaimStep,
    Idle,
    NotOwner,
    Wait,
    claim_next,
    recover_expired_claims,
    recover_own_orphans,
)
from core.sending._outcome_rules import apply_outcome, complete_finished, release_claim

log = logging.getLogger("worker")
R = CampaignRecipient
_STATS_EVERY = timedelta(seconds=10)  # delivery stats of campaigns being sent, refreshed
_DB_CONCURRENCY = 8  # transactions at once on PostgreSQL (none of them nests another)
_SLEEP_IN_LANE = 0.02  # a next slot closer than this is waited for in the lane itself
_ANSWERS_KEPT = 240  # enough for the window hint of any rate the UI allows (<= 60/min)


@dataclass(frozen=True)
class Sent:
    """A send was made; `status` is the recipient's new status (None: the claim was lost)."""

    claim: Claim
    result: SendResult
    status: str | None


Step = Sent | Wait | Idle | NotOwner


@dataclass
class _Media:
    mediatype: str
    media: str
    file_name: str | None
    mimetype: str | None


@dataclass
class _Outcome:
    """A send's outcome waiting to be written (see `Dispatcher._record`)."""

    claim: Claim
    result: SendResult
    done: datetime
    status: str | None = None
    committed: threading.Event = field(default_factory=threading.Event)


@dataclass
class DispatchStats:
    sends: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    lateness: list[float] = field(default_factory=list)  # seconds past the slot, sampled

    def count(self, outcome: Outcome) -> None:
        self.sends += 1
        self.outcomes[outcome.value] = self.outcomes.get(outcome.value, 0) + 1


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
        self.engine = engine
        self.settings = settings or get_settings()
        self.worker_id = worker_id or leases.worker_identity()
        self.clock = clock
        self.rng = rng or random.Random()
        self.max_threads = max_threads
        self.horizon = max(0.05, self.settings.worker_tick_seconds)
        self._owns_http = http is None
        self._http = http or httpx.Client(
            limits=httpx.Limits(
                max_connections=max_threads + 8,
                max_keepalive_connections=max_threads + 8,
                keepalive_expiry=2.0,
            )
        )
        self._pool = ThreadPoolExecutor(max_threads, thread_name_prefix="lane")
        self._lock = threading.Lock()
        self._owned: set[int] = set()
        self._lanes: set[int] = set()  # instances with a lane running
        self._in_flight: set[int] = set()  # recipient ids between claim and outcome
        self._due: dict[int, datetime] = {}
        self._touched: set[int] = set()  # campaigns with sends since the last stats refresh
        self._clients: dict[tuple[str, ...], EvolutionClient] = {}
        self._media: dict[tuple[int, str], _Media] = {}
        self._stopping = threading.Event()
        self._webhook_http: httpx.Client | None = None
        self._outcomes: list[_Outcome] = []
        self._stats_due = datetime.min.replace(tzinfo=UTC)
        self._timers: list[tuple[float, int]] = []
        self._timer_wakeup = threading.Condition()
        self._timer_thread: threading.Thread | None = None
        self._outcomes_lock = threading.Lock()
        self._writing = False
        self.stats = DispatchStats()
        self._campaigns = CampaignCache(ttl=min(1.0, self.horizon * 2))
        # Instances whose last send left a message half sent (audio after its text), and those
        # this worker has looked at once: only they need the continuation look-up.
        self._continuing: set[int] = set()
        self._checked: set[int] = set()
        # Answer times of this worker's recent sends per instance: a hint of the window's next
        # free slot so a lane does not wake up for a claim the database would refuse.
        self._answers: dict[int, deque[datetime]] = {}
        # SQLite has one writer at a time: threads queue here, in order, instead of sleeping in
        # the driver's busy handler (which backs off in steps of up to 100 ms). PostgreSQL gets
        # a few transactions at once: a hundred backends fighting for the CPU are slower.
        self._db_lock: Any = (
            threading.RLock()
            if engine.dialect.name == "sqlite"
            else threading.BoundedSemaphore(_DB_CONCURRENCY)
        )

    # -- sessions ---------------------------------------------------------------------------

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A bare Connection in a transaction (committed at the end): the hot path."""
        with self._db_lock, self.engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def _locked_session(self) -> Iterator[Session]:
        with self._db_lock, self._session() as session:
            yield session

    # -- periodic jobs ----------------------------------------------------------------------

    def maintain(self) -> None:
        """Heartbeat, leases, recovery of dead workers' claims, completion, stats."""
        if self._stopping.is_set():
            return
        now = self.clock()
        settings = self.settings
        with self._locked_session() as session:
            leases.heartbeat(session, self.worker_id, now)
            with self._lock:
                busy = set(self._lanes)
            owned = leases.balance_leases(
                session, self.worker_id, now, settings.lease_seconds, busy=busy
            )
            session.commit()
        with self._lock:
            self._owned = owned
        # Short transactions, one after the other: on SQLite each holds the one write lock
        # that every send needs too.
        with self._locked_session() as session:
            touched = recover_expired_claims(session, now)
            with self._lock:
                in_flight = set(self._in_flight)
            grace = timedelta(
                seconds=settings.http_connect_timeout + settings.http_read_timeout + 60
            )
            touched += recover_own_orphans(session, self.worker_id, in_flight, now - grace, now)
            session.commit()
        for campaign_id in touched:
            log.warning(
                "claims of a lost worker marked unknown", extra={"campaign_id": campaign_id}
            )
        with self._lock:
            self._touched.update(touched)
            refresh = now >= self._stats_due
            if refresh:
                touched_all, self._touched = self._touched, set()
                self._stats_due = now + _STATS_EVERY
        if refresh:
            for campaign_id in sorted(touched_all):
                with self._locked_session() as session:
                    refresh_delivery_stats(session, campaign_id)
                    session.commit()
        with self._locked_session() as session:
            complete_finished(session, now)  # refreshes the stats of those it completes
            leases.forget_dead_workers(session, now, settings.lease_seconds)
            session.commit()

    def poll_due(self) -> list[int]:
        """Start the campaigns whose time has come (core.campaigns.start_due)."""
        if self._stopping.is_set():
            return []
        with self._locked_session() as session:
            started = campaigns.start_due(session, self.clock())
            session.commit()
        for campaign_id in started:
            log.info("campaign started", extra={"campaign_id": campaign_id})
        return started

    def tick(self) -> int:
        """Give every owned instance with work, whose slot is near, a lane. Returns how many."""
        if self._stopping.is_set():
            return 0
        now = self.clock()
        with self._lock:
            owned = set(self._owned)
            idle = owned - self._lanes
        # Instances whose next slot is known and still ahead need no look-up now (a timer
        # starts their lane on time, see `_wake_at`).
        idle = {i for i in idle if self._due.get(i, now) <= now}
        if not idle:
            return 0
        with self._locked_session() as session:
            ready = self.instances_with_work(session, idle)
        started = 0
        for instance_id in sorted(ready):
            if self._start_lane(instance_id):
                started += 1
        return started

    def instances_with_work(self, session: Session, instance_ids: set[int]) -> set[int]:
        """Of `instance_ids`, those with a pending recipient (or a message half sent)."""
        if not instance_ids:
            return set()
        pending = exists().where(
            R.campaign_id == Campaign.id,
            R.status == RecipientStatus.PENDING,
            (Campaign.status == CampaignStatus.RUNNING) | R.is_test.is_(True),
        )
        ids = list(instance_ids)
        found = set(
            session.scalars(
                select(campaign_instances.c.instance_id)
                .join(Campaign, Campaign.id == campaign_instances.c.campaign_id)
                .join(Account, Account.id == Campaign.account_id)
                .where(
                    campaign_instances.c.instance_id.in_(ids),
                    Campaign.status.in_(TEST_SEND_STATUSES),
                    Account.campaigns_enabled.is_(True),
                    pending,
                )
                .distinct()
            )
        )
        found |= set(
            session.scalars(
                select(R.instance_id)
                .where(
                    R.status == RecipientStatus.SENDING,
                    R.claimed_by == self.worker_id,
                    R.parts_sent > 0,
                    R.instance_id.in_(ids),
                )
                .distinct()
            )
        )
        return found

    # -- side jobs (never on the sending path) ----------------------------------------------

    def session_factory(self) -> Session:
        """A Session usable as a context manager whose transactions queue with the sends' on
        SQLite (for `core.notifications.deliver_pending_webhooks`)."""
        return _LockedSession(self._db_lock, self.engine, expire_on_commit=False)

    def deliver_webhooks(self) -> Any:
        """POST due notifications to their accounts' webhook URLs (own HTTP client and thread)."""
        if self._stopping.is_set():
            return None
        from core.notifications import deliver_pending_webhooks

        if self._webhook_http is None:
            self._webhook_http = httpx.Client()
        report = deliver_pending_webhooks(self.session_factory, self.clock(), self._webhook_http)
        if report.sent or report.retrying or report.failed:
            log.info(
                "notification webhooks",
                extra={"sent": report.sent, "retrying": report.retrying, "failed": report.failed},
            )
        return report

    def check_instances(self, max_threads: int = 8) -> dict[int, str]:
        """Ask Evolution for the connection state of every instance this worker leases and
        record it. An instance whose circuit is open and that reports `open` again is announced
        once (`instance_up`); its campaigns stay paused until staff resume them."""
        if self._stopping.is_set():
            return {}
        with self._lock:
            owned = sorted(self._owned)
        if not owned:
            return {}
        with self._locked_session() as session:
            instances = list(
                session.scalars(select(SenderInstance).where(SenderInstance.id.in_(owned)))
            )
            session.commit()  # ends the transaction, keeps the loaded values (no expiry)
        if not instances:
            return {}
        # No transaction is open during the HTTP calls (SQLite's write lock would stop sends).
        with ThreadPoolExecutor(min(max_threads, len(instances))) as pool:
            answers = list(pool.map(_connection_state, instances))
        states = {i.id: state for i, state in zip(instances, answers, strict=True)}
        now = self.clock()
        with self._locked_session() as session:
            for instance_id, state in states.items():
                record_instance_state(session, instance_id, state, now)
            session.commit()
        return states

    # -- lanes ------------------------------------------------------------------------------

    def next_slot_hint(self, claim: Claim) -> datetime | None:
        """When the instance may next send, as far as this worker knows (the claim decides):
        the gap the claim set, and the 60-s window over this worker's recent answers."""
        hint = claim.next_send_at
        answers = self._answers.get(claim.instance_id)
        rate = claim.rate_per_minute
        if answers and rate and len(answers) >= rate:
            window = answers[-rate] + RATE_WINDOW
            hint = window if hint is None else max(hint, window)
        return hint

    def _lane(self, instance_id: int) -> None:
        try:
            while not self._stopping.is_set():
                step = self.process_instance(instance_id)
                now = self.clock()
                if isinstance(step, Sent):
                    hint = self.next_slot_hint(step.claim)
                    if hint is not None and hint > now:
                        self._due[instance_id] = hint
                        delay = (hint - now).total_seconds()
                        if delay > _SLEEP_IN_LANE:
                            self._wake_at(instance_id, delay)
                            return
                        self._stopping.wait(delay)
                    continue
                if isinstance(step, Wait):
                    self._due[instance_id] = step.until
                    delay = (step.until - now).total_seconds()
                    if delay <= _SLEEP_IN_LANE:
                        self._stopping.wait(max(0.0, delay))
                        continue
                    self._wake_at(instance_id, delay)
                    return
                if isinstance(step, Idle):
                    self._due[instance_id] = step.recheck_at
                    return
                with self._lock:  # NotOwner
                    self._owned.discard(instance_id)
                return
        except Exception:
            log.exception("lane failed", extra={"instance_id": instance_id})
            self._due[instance_id] = self.clock() + timedelta(seconds=5)
        finally:
            with self._lock:
                self._lanes.discard(instance_id)

    def _start_lane(self, instance_id: int) -> bool | None:
        """Hand the instance to a lane: True started, False one is running, None not ours."""
        with self._lock:
            if self._stopping.is_set() or instance_id not in self._owned:
                return None
            if instance_id in self._lanes:
                return False
            self._lanes.add(instance_id)
        self._pool.submit(self._lane, instance_id)
        return True

    def _wake_at(self, instance_id: int, delay: float) -> None:
        """Start the instance's lane again in `delay` seconds (its next slot), on time: the
        periodic tick alone would start it up to a tick late."""
        with self._timer_wakeup:
            heapq.heappush(self._timers, (monotonic() + delay, instance_id))
            if self._timer_thread is None:
                self._timer_thread = threading.Thread(
                    target=self._timer_loop, name="lane-timer", daemon=True
                )
                self._timer_thread.start()
            self._timer_wakeup.notify()

    def _timer_loop(self) -> None:
        while not self._stopping.is_set():
            with self._timer_wakeup:
                while not self._timers or self._timers[0][0] > monotonic():
                    if self._stopping.is_set():
                        return
                    timeout = self._timers[0][0] - monotonic() if self._timers else 1.0
                    self._timer_wakeup.wait(min(1.0, max(0.0, timeout)))
                _at, instance_id = heapq.heappop(self._timers)
            if self._start_lane(instance_id) is False:
                # Its lane is just finishing: look again in a moment.
                with self._timer_wakeup:
                    heapq.heappush(self._timers, (monotonic() + 0.005, instance_id))

    def process_instance(self, instance_id: int, now: datetime | None = None) -> Step:
        """One claim → HTTP send → outcome, synchronously."""
        due = self._due.pop(instance_id, None)
        continuation = instance_id in self._continuing or instance_id not in self._checked
        with self._transaction() as connection:
            # `now` is read under the lock: claims of one instance are then in time order.
            now = now or self.clock()
            step: ClaimStep = claim_next(
                connection,
                instance_id,
                self.worker_id,
                now,
                rng=self.rng,
                campaigns=self._campaigns,
                continuation=continuation,
            )
            if not isinstance(step, Claim):
                connection.rollback()
                return step
            with self._lock:
                self._in_flight.add(step.recipient_id)
        self._checked.add(instance_id)
        claim = step
        try:
            if self._stopping.is_set() and claim.part == 0:
                # Stopping between the claim and the request: nothing went out, so the
                # recipient goes back to the queue untouched.
                with self._transaction() as connection:
                    release_claim(connection, claim)
                return Idle(now)
            result = self._send(claim)
            done = self.clock()
            status = self._record(claim, result, done)
        finally:
            with self._lock:
                self._in_flight.discard(claim.recipient_id)
        if status == RecipientStatus.SENDING:
            self._continuing.add(instance_id)
        else:
            self._continuing.discard(instance_id)
        answers = self._answers.setdefault(instance_id, deque(maxlen=_ANSWERS_KEPT))
        answers.append(done)
        self.stats.count(result.outcome)
        if due is not None and due <= now and len(self.stats.lateness) < 100_000:
            self.stats.lateness.append((now - due).total_seconds())
        log.info(
            "send",
            extra={
                "campaign_id": claim.campaign_id,
                "instance_id": claim.instance_id,
                "recipient_id": claim.recipient_id,
                "part": claim.parts[claim.part],
                "outcome": result.outcome.value,
                "http_status": result.http_status,
                "status": status,
                "error": result.error,
            },
        )
        return Sent(claim, result, status)

    def _record(self, claim: Claim, result: SendResult, done: datetime) -> str | None:
        """Record the outcome (committed when this returns). Outcomes that arrive together are
        written in one transaction by whichever lane comes first ("group commit"): each lane
        still waits for its own commit before it claims again."""
        entry = _Outcome(claim, result, done)
        with self._outcomes_lock:
            self._outcomes.append(entry)
            leader = not self._writing
            self._writing = True
        if not leader:
            entry.committed.wait()
            return entry.status
        while True:
            with self._outcomes_lock:
                batch, self._outcomes = self._outcomes, []
                if not batch:
                    self._writing = False
                    break
            try:
                self._record_batch(batch)
            except Exception:  # noqa: BLE001 - one by one then, each retried
                for item in batch:
                    item.status = self._record_one(item.claim, item.result, item.done)
            for item in batch:
                item.committed.set()
        return entry.status

    def _apply(self, connection: Connection, claim: Claim, result: SendResult, done: datetime):
        settings = self.settings
        return apply_outcome(
            connection,
            claim,
            result,
            done,
            max_attempts=settings.max_attempts,
            backoff_base=settings.retry_backoff_base_seconds,
            backoff_max=settings.retry_backoff_max_seconds,
            rng=self.rng,
        )

    def _record_batch(self, batch: list[_Outcome]) -> None:
        with self._transaction() as connection:
            statuses = [self._apply(connection, i.claim, i.result, i.done) for i in batch]
        for item, status in zip(batch, statuses, strict=True):
            item.status = status
        with self._lock:
            self._touched.update(i.claim.campaign_id for i in batch)

    def _record_one(self, claim: Claim, result: SendResult, done: datetime) -> str | None:
        last_error: Exception | None = None
        for attempt in range(5):  # the outcome must land; the DB may be briefly unavailable
            try:
                with self._transaction() as connection:
                    status = self._apply(connection, claim, result, done)
                with self._lock:
                    self._touched.add(claim.campaign_id)
                return status
            except Exception as error:  # noqa: BLE001 - retried, then logged
                last_error = error
                self._stopping.wait(0.2 * (attempt + 1))
        log.error(
            "could not record a send's outcome; the recipient will become unknown",
            extra={"recipient_id": claim.recipient_id, "error": type(last_error).__name__},
        )
        return None

    # -- HTTP -------------------------------------------------------------------------------

    def _client(self, claim: Claim) -> EvolutionClient:
        key = (claim.base_url, claim.instance_name, claim.api_version, claim.token_encrypted)
        client = self._clients.get(key)
        if client is None:
            client = EvolutionClient(
                claim.base_url,
                claim.instance_name,
                decrypt_secret(claim.token_encrypted),
                api_version="v1" if claim.api_version == "v1" else "v2",
                connect_timeout=self.settings.http_connect_timeout,
                read_timeout=self.settings.http_read_timeout,
                http=self._http,
            )
            self._clients[key] = client
        return client

    def _send(self, claim: Claim) -> SendResult:
        try:
            client = self._client(claim)
        except SecretUnreadable:
            return SendResult(Outcome.INSTANCE_DOWN, None, None, "the stored token is unreadable")
        except ValueError as error:
            return SendResult(Outcome.INSTANCE_DOWN, None, None, f"bad instance settings: {error}")
        part = claim.parts[claim.part]
        if part == "text":
            return client.send_text(claim.phone, claim.text)
        try:
            media = self._media_for(claim)
        except Exception as error:  # noqa: BLE001 - a missing attachment fails this recipient
            return SendResult(
                Outcome.REJECTED, None, None, f"attachment unavailable ({type(error).__name__})"
            )
        if part == "audio":
            return client.send_whatsapp_audio(claim.phone, media.media)
        return client.send_media(
            claim.phone,
            media.mediatype,
            media.media,
            caption=claim.text or None,
            file_name=media.file_name,
            mimetype=media.mimetype,
        )

    def _media_for(self, claim: Claim) -> _Media:
        multimedia = claim.multimedia or {}
        key = (claim.campaign_id, repr(sorted(multimedia.items())))
        cached = self._media.get(key)
        if cached is not None:
            return cached
        with self._locked_session() as session:
            mediatype, media, file_name, mimetype = campaigns.evolution_media(session, multimedia)
        cached = _Media(mediatype, media, file_name, mimetype)
        if len(self._media) > 256:
            self._media.clear()
        self._media[key] = cached
        return cached

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
        with self._timer_wakeup:
            self._timer_wakeup.notify_all()
        self._pool.shutdown(wait=timeout is None, cancel_futures=True)
        if timeout is not None:
            deadline = self.clock() + timedelta(seconds=timeout)
            while self.clock() < deadline:
                with self._lock:
                    if not self._lanes:
                        break
                threading.Event().wait(0.05)
        with self._lock:
            hanging = set(self._lanes)
        with self._locked_session() as session:
            if hanging:
                # Keep no lease we cannot vouch for; their rows become unknown.
                log.warning("shutting down with sends in flight", extra={"instances": len(hanging)})
            leases.retire(session, self.worker_id)
            session.commit()
        if self._owns_http:
            self._http.close()
        if self._webhook_http is not None:
            self._webhook_http.close()

    @property
    def owned(self) -> set[int]:
        with self._lock:
            return set(self._owned)

    def run_until_idle(self, max_steps: int = 100_000) -> int:
        """Test helper: sends synchronously, in real time, until no owned instance has work."""
        steps = 0
        while steps < max_steps:
            self.maintain()
            with self._locked_session() as session:
                ready = self.instances_with_work(session, self.owned)
            if not ready:
                self.maintain()
                return steps
            soonest: datetime | None = None
            for instance_id in sorted(ready):
                step = self.process_instance(instance_id)
                steps += 1
                if isinstance(step, Wait | Idle):
                    until = step.until if isinstance(step, Wait) else step.recheck_at
                    soonest = until if soonest is None else min(soonest, until)
                elif isinstance(step, Sent):
                    soonest = self.clock()
            if soonest is not None:
                delay = (soonest - self.clock()).total_seconds()
                if delay > 0:
                    threading.Event().wait(min(delay, 1.0))
        return steps


class _LockedSession(Session):
    """A Session holding the worker's SQLite lock while used as a context manager."""

    def __init__(self, lock: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._worker_lock = lock

    def __enter__(self) -> _LockedSession:
        self._worker_lock.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self.close()
        finally:
            self._worker_lock.__exit__(*exc)


def _connection_state(instance: SenderInstance) -> str:
    """`connectionState` of one instance: open / connecting / close / refused, or unreachable."""
    try:
        with client_for(instance) as client:
            return client.connection_state()
    except (EvolutionError, SecretUnreadable, ValueError):
        return "unreachable"
    except Exception:  # noqa: BLE001 - one broken instance must not stop the others' checks
        log.exception("instance check failed", extra={"instance_id": instance.id})
        return "unreachable"


def record_instance_state(session: Session, instance_id: int, state: str, now: datetime) -> None:
    """Store a health check's answer. An open circuit whose instance answers `open` again is
    announced once per opening (staff re-enable the number and resume its campaigns)."""
    instance = session.get(SenderInstance, instance_id)
    if instance is None:
        return
    instance.state = state[:20]
    instance.state_checked_at = now
    if state != "open" or instance.circuit != Circuit.OPEN:
        session.flush()
        return
    since = instance.circuit_opened_at or datetime.min.replace(tzinfo=now.tzinfo)
    announced = session.scalar(
        select(Notification.id)
        .where(
            Notification.instance_id == instance_id,
            Notification.kind == "instance_up",
            Notification.created_at >= since,
        )
        .limit(1)
    )
    if announced is None:
        log.info("instance is connected again", extra={"instance_id": instance_id})
        notify(
            session,
            instance.account_id,
            "instance_up",
            {"name": instance.name},
            stored_text.text(stored_text.INSTANCE_UP_BODY),
            instance_id=instance_id,
        )
    session.flush()
