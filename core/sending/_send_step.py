"""One send step for an instance: claim (committed) → send over HTTP → outcome (committed).

What a lane runs, and what tests drive through `Dispatcher.process_instance`. Nothing is sent
for a recipient that is not claimed; a worker stopping between the claim and the request gives
the claim back untouched. The step also keeps this worker's hints: which instances have a
message half sent (audio after its text) and when each instance's recent answers came, so a
lane does not wake for a claim the database would refuse.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from core.instances import RATE_WINDOW
from core.messaging import Outcome, SendResult
from core.models import RecipientStatus
from core.sending._claims import (
    CampaignCache,
    Claim,
    ClaimStep,
    Idle,
    NotOwner,
    Wait,
    claim_next,
)
from core.sending._database import WorkerDatabase
from core.sending._outcome_rules import release_claim
from core.sending._outcome_writer import OutcomeWriter
from core.sending._sender import Sender

log = logging.getLogger("worker")
ANSWERS_KEPT = 240  # enough for the window hint of any rate the UI allows (<= 60/min)
LATENESS_SAMPLES = 100_000


@dataclass(frozen=True)
class Sent:
    """A send was made; `status` is the recipient's new status (None: the claim was lost)."""

    claim: Claim
    result: SendResult
    status: str | None


Step = Sent | Wait | Idle | NotOwner


@dataclass
class DispatchStats:
    sends: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    lateness: list[float] = field(default_factory=list)  # seconds past the slot, sampled

    def count(self, outcome: Outcome) -> None:
        self.sends += 1
        self.outcomes[outcome.value] = self.outcomes.get(outcome.value, 0) + 1


class SendStep:
    def __init__(
        self,
        database: WorkerDatabase,
        worker_id: str,
        clock: Callable[[], datetime],
        rng: random.Random,
        sender: Sender,
        writer: OutcomeWriter,
        campaign_cache: CampaignCache,
        stopping: threading.Event,
    ) -> None:
        self.database = database
        self.worker_id = worker_id
        self.clock = clock
        self.rng = rng
        self.sender = sender
        self.writer = writer
        self.campaign_cache = campaign_cache
        self.stopping = stopping
        self.stats = DispatchStats()
        self._lock = threading.Lock()
        self._in_flight: set[int] = set()  # recipient ids between claim and outcome
        # Instances whose last send left a message half sent, and those looked at once: only
        # they need the continuation look-up.
        self._continuing: set[int] = set()
        self._checked: set[int] = set()
        self._answers: dict[int, deque[datetime]] = {}

    def in_flight(self) -> set[int]:
        with self._lock:
            return set(self._in_flight)

    def __call__(
        self, instance_id: int, due: datetime | None = None, now: datetime | None = None
    ) -> Step:
        continuation = instance_id in self._continuing or instance_id not in self._checked
        # Autocommit on PostgreSQL: the claim's statements are each atomic (`_claims`).
        with self.database.statements() as connection:
            # `now` is read under the lock: claims of one instance are then in time order.
            now = now or self.clock()
            step: ClaimStep = claim_next(
                connection,
                instance_id,
                self.worker_id,
                now,
                rng=self.rng,
                campaigns=self.campaign_cache,
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
            if self.stopping.is_set() and claim.part == 0:
                # Stopping between the claim and the request: nothing went out, so the
                # recipient goes back to the queue untouched.
                with self.database.transaction() as connection:
                    release_claim(connection, claim)
                return Idle(now)
            result = self.sender.send(claim)
            confirmed_down = self._last_attempt_lost_to_the_server(claim, result)
            done = self.clock()
            status = self.writer.record(claim, result, done, confirmed_down)
        finally:
            with self._lock:
                self._in_flight.discard(claim.recipient_id)
        if status == RecipientStatus.SENDING:
            self._continuing.add(instance_id)
        else:
            self._continuing.discard(instance_id)
        self._answers.setdefault(instance_id, deque(maxlen=ANSWERS_KEPT)).append(done)
        self.stats.count(result.outcome)
        if due is not None and due <= now and len(self.stats.lateness) < LATENESS_SAMPLES:
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

    def _last_attempt_lost_to_the_server(self, claim: Claim, result: SendResult) -> bool:
        """A server-side failure would burn the recipient's last attempt: ask the server first.
        If its `connectionState` does not answer `open`, the server is down, not this send (a
        campaign with fewer recipients left than the breaker's threshold would otherwise lose
        them to an outage): the circuit opens. If it does, the failure is this recipient's."""
        if not (result.server_fault and result.outcome is Outcome.RETRY):
            return False
        if claim.attempts < self.writer.settings.max_attempts:
            return False
        return not self.sender.server_works(claim)

    def next_slot(self, sent: Sent) -> datetime | None:
        """When the instance may next send, as far as this worker knows (the claim decides):
        the gap the claim set, and the 60-s window over this worker's recent answers."""
        claim = sent.claim
        hint = claim.next_send_at
        answers = self._answers.get(claim.instance_id)
        rate = claim.rate_per_minute
        if answers and rate and len(answers) >= rate:
            window = answers[-rate] + RATE_WINDOW
            hint = window if hint is None else max(hint, window)
        return hint
