"""Lease balancing between workers (issue 20): within one lease period of a worker joining or
dying, every live worker holds at most its fair share + 1 of the numbers, every number has one
owner, and a number with a request in flight never moves."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import SenderInstance
from core.sending import _leases as leases
from tests.builders import make_account
from tests.worker_harness import make_instance

LEASE = 30.0
HEARTBEAT = LEASE / 3  # the worker's maintenance runs at least this often
START = datetime(2025, 6, 4, 15, 0, tzinfo=UTC)


def _maintain(
    session: Session, worker: str, now: datetime, busy: set[int] = frozenset()
) -> set[int]:
    """One worker's lease job, as Dispatcher.maintain runs it."""
    leases.heartbeat(session, worker, now)
    owned = leases.balance_leases(session, worker, now, LEASE, busy=busy)
    session.commit()
    return owned


def _owners(session: Session) -> Counter[str | None]:
    session.expire_all()
    return Counter(session.scalars(select(SenderInstance.lease_owner)))


def _numbers(session: Session, fake_evolution, count: int) -> list[int]:
    account = make_account(session, "Shop")
    ids = [make_instance(session, account, fake_evolution).id for _ in range(count)]
    session.commit()
    return ids


def test_a_joining_worker_gets_its_share_within_one_lease_period(session, fake_evolution):
    _numbers(session, fake_evolution, 10)
    assert len(_maintain(session, "a", START)) == 10  # alone: all of them

    now = START
    end = START + timedelta(seconds=LEASE)
    while now < end:  # every worker's maintenance, one heartbeat apart
        now += timedelta(seconds=HEARTBEAT)
        for worker in ("a", "b", "c"):
            _maintain(session, worker, now)

    owners = _owners(session)
    assert sum(owners[w] for w in "abc") == 10 and owners[None] == 0
    fair = 10 / 3
    assert all(owners[w] <= math.floor(fair) + 1 for w in "abc"), owners
    assert all(owners[w] >= 1 for w in "abc"), owners


def test_a_dead_workers_numbers_are_taken_over_within_one_lease_period(session, fake_evolution):
    _numbers(session, fake_evolution, 9)
    for worker in ("a", "b", "c"):
        _maintain(session, worker, START)
    for worker in ("a", "b", "c"):
        _maintain(session, worker, START + timedelta(seconds=1))
    assert sorted(_owners(session).values()) == [3, 3, 3]

    # c dies: its heartbeat and leases stop being renewed.
    now = START + timedelta(seconds=1)
    end = now + timedelta(seconds=LEASE + HEARTBEAT)
    while now < end:
        now += timedelta(seconds=HEARTBEAT)
        for worker in ("a", "b"):
            _maintain(session, worker, now)

    owners = _owners(session)
    assert owners["c"] == 0
    assert owners["a"] + owners["b"] == 9
    assert max(owners["a"], owners["b"]) <= math.floor(9 / 2) + 1


def test_a_number_with_a_request_in_flight_never_moves(session, fake_evolution):
    ids = _numbers(session, fake_evolution, 4)
    assert _maintain(session, "a", START) == set(ids)

    # b joins while a has a send in flight on every number: a gives none of them up.
    now = START + timedelta(seconds=1)
    _maintain(session, "b", now)
    assert _maintain(session, "a", now, busy=set(ids)) == set(ids)
    assert _maintain(session, "b", now) == set()
    assert _owners(session)["a"] == 4

    # The sends finish: a gives back what is beyond its share, and b takes it.
    now += timedelta(seconds=HEARTBEAT)
    mine = _maintain(session, "a", now, busy={ids[-1]})
    assert ids[-1] in mine and len(mine) == 2
    assert len(_maintain(session, "b", now)) == 2
    owners = _owners(session)
    assert owners["a"] == 2 and owners["b"] == 2
