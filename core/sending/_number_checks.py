"""The worker's connection checks of the numbers it leases (its `check_instances` job).

Each number is checked when due (`instances.due_for_check`): every INSTANCE_CHECK_SECONDS while
healthy; while its circuit is open from CIRCUIT_CHECK_MIN_SECONDS on, doubling per failed check
up to CIRCUIT_CHECK_MAX_SECONDS — and at once when Evolution reports the session open again.
The HTTP calls run in threads with no transaction open (SQLite's write lock would stop sends);
the answers are then recorded together. An answer that proves a circuit fixed closes it
(`instances.record_check`) and the campaigns it paused resume; a server found not activated
(Evolution 2.4's LICENSE_REQUIRED) stops sending through the number as a send would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from core import campaigns, instances
from core.base import Settings, stored_text
from core.models import CircuitCause, SenderInstance
from core.people import Actor
from core.sending._database import WorkerDatabase
from core.sending._outcome_rules import stop_instance

log = logging.getLogger("worker")


def check_numbers(
    database: WorkerDatabase,
    settings: Settings,
    owned: list[int],
    now: Callable[[], datetime],
    max_threads: int,
) -> dict[int, str]:
    """Check the due numbers among `owned`; their states by id."""
    with database.session() as session:
        numbers = instances.due_for_check(session, owned, now())
        session.commit()  # ends the transaction, keeps the loaded values (no expiry)
    if not numbers:
        return {}
    with ThreadPoolExecutor(min(max_threads, len(numbers))) as pool:
        answers = list(pool.map(_ask, numbers))
    by_id = {number.id: answer for number, answer in zip(numbers, answers, strict=True)}
    checked_at = now()
    with database.session() as session:
        for number in instances.instances_by_ids(session, list(by_id)):
            answer = by_id[number.id]
            actor = Actor.system(number.account_id, "worker")
            verdict = instances.record_check(session, actor, number, answer, checked_at, settings)
            if verdict is instances.Verdict.NOT_ACTIVATED:
                reason = stored_text.text(
                    stored_text.NOT_ACTIVATED,
                    register_url=answer.activation_url or number.base_url,
                )
                stop_instance(
                    session,
                    number.id,
                    reason,
                    checked_at,
                    CircuitCause.LICENCE,
                    answer.activation_url,
                    instances.check_backoff(0, settings),
                )
        campaigns.resume_recovered(session, checked_at)
        session.commit()
    return {number_id: answer.state for number_id, answer in by_id.items()}


def _ask(number: SenderInstance) -> instances.CheckAnswer:
    try:
        return instances.ask_connection_state(number)
    except Exception:  # noqa: BLE001 - one broken number must not stop the others' checks
        log.exception("instance check failed", extra={"instance_id": number.id})
        return instances.CheckAnswer(instances.UNREACHABLE, "the check failed")
