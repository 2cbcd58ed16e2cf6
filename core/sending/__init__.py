"""Sending: the worker's loop and everything it owns — claims, leases, pacing state, outcomes and
their rules, and the health figures behind /metrics and /healthz.
"""

from core.sending._claims import Claim, ClaimStep, Idle, NotOwner, Wait, claim_next
from core.sending._dispatcher import Dispatcher, DispatchStats, Sent, Step, record_instance_state
from core.sending._metrics import (
    InstanceLoad,
    MetricsSnapshot,
    WorkerStatus,
    database_reachable,
    metrics_snapshot,
    worker_status,
)
from core.sending._outcome_rules import (
    apply_outcome,
    complete_finished,
    open_circuit,
    release_claim,
)

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
    "complete_finished",
    "database_reachable",
    "metrics_snapshot",
    "open_circuit",
    "record_instance_state",
    "release_claim",
    "worker_status",
]
