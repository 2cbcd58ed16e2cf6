"""Sending: the worker and everything it owns — the periodic jobs (`Dispatcher`), the lanes that
run one number's sends at a time, the claim before each send, leases between workers, the sender
behind the messenger seam, the outcome rules and the writer that commits them, the breaker that
stops a number whose server fails (and the checks that bring it back), the recovery of claims
nobody will finish, and the health figures behind /metrics and /healthz.

scheduler_service.py drives a `Dispatcher`; the API reads `metrics_snapshot`. Tests and
benchmarks may drive `Dispatcher.process_instance` and `claim_next` directly.
"""

from core.sending._claims import Claim, ClaimStep, Idle, NotOwner, Wait, claim_next
from core.sending._dispatcher import Dispatcher
from core.sending._metrics import (
    InstanceLoad,
    MetricsSnapshot,
    WorkerStatus,
    database_reachable,
    metrics_snapshot,
    worker_status,
)
from core.sending._outcome_rules import apply_outcome, release_claim
from core.sending._send_step import DispatchStats, Sent, Step

__all__ = [
    "Claim",
    "ClaimStep",
    "DispatchStats",
    "Dispatcher",
    "Idle",
    "InstanceLoad",
    "MetricsSnapshot",
    "NotOwner",
    "Sent",
    "Step",
    "Wait",
    "WorkerStatus",
    "apply_outcome",
    "claim_next",
    "database_reachable",
    "metrics_snapshot",
    "release_claim",
    "worker_status",
]
