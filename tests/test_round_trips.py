"""PostgreSQL: a send costs at most four round trips to the database, and the claim, made of a
read and a statement apart, still refuses what changed in between (issue 20).

Counted as bench/dispatch.py counts them: every statement, every transaction's BEGIN and its
COMMIT/ROLLBACK (none in autocommit), every ping the pool makes when it hands out a connection.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, update
from sqlalchemy.orm import Session

from core.messaging import Outcome, SendResult
from core.models import Account, CampaignRecipient, InstanceSend, RecipientStatus, SenderInstance
from core.sending import Claim, Dispatcher, Sent, Wait, claim_next
from core.sending._outcome_rules import mark_sent_many
from tests.builders import make_account
from tests.worker_harness import fast_settings, make_instance, make_running_campaign

NOON = datetime(2025, 6, 4, 15, 0, tzinfo=UTC)


class RoundTrips:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.count = 0
        self._ping = engine.dialect.do_ping
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._begin)

        def counted_ping(dbapi_connection: Any) -> bool:
            self.count += 1
            return self._ping(dbapi_connection)

        engine.dialect.do_ping = counted_ping  # type: ignore[method-assign]

    def _statement(self, *_args: Any) -> None:
        self.count += 1

    def _begin(self, connection: Any) -> None:
        if not connection.connection.dbapi_connection.autocommit:
            self.count += 2  # BEGIN, and the COMMIT or ROLLBACK that ends it

    def stop(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "begin", self._begin)
        self.engine.dialect.do_ping = self._ping  # type: ignore[method-assign]


@pytest.fixture
def pg_session(pg_engine: Engine) -> Iterator[Session]:
    with Session(pg_engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def pg_account(pg_session: Session) -> Account:
    account = make_account(pg_session, "Loja da Ana", timezone="America/Sao_Paulo")
    pg_session.commit()
    return account


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize(
    "rules",
    [
        {},
        # Every rule the claim reads: daily cap, warm-up, long pauses, typing, jitter.
        {
            "daily_cap": 500,
            "warmup": "established",
            "long_pause_every": 5,
            "long_pause_min_minutes": 0.5,
            "long_pause_max_minutes": 1.0,
            "typing_min_seconds": 0.5,
            "typing_max_seconds": 1.0,
            "extra_delay_max_seconds": 2.0,
        },
    ],
)
def test_a_send_costs_at_most_four_round_trips_on_postgresql(
    pg_engine: Engine, pg_session: Session, pg_account: Account, fake_evolution, rules
) -> None:
    instance = make_instance(pg_session, pg_account, fake_evolution, rate=60, **rules)
    make_running_campaign(pg_session, pg_account, [instance], contacts=30)
    pg_session.commit()
    clock = Clock(NOON)
    worker = Dispatcher(
        pg_engine,
        fast_settings(lease_seconds=10**6),
        worker_id="w",
        clock=clock,
        rng=random.Random(7),
    )
    try:
        worker.maintain()
        trips = RoundTrips(pg_engine)
        sent = 0
        for _ in range(200):  # each step over real HTTP: claim, send, outcome
            step = worker.process_instance(instance.id, now=clock.now)
            if isinstance(step, Sent):
                sent += 1
                if sent == 25:
                    break
                # As a lane does: wake at the slot the send left (no read that must wait).
                clock.now = max(clock.now, worker.step.next_slot(step) or clock.now)
            elif isinstance(step, Wait):
                clock.now = max(clock.now, step.until)
            else:
                break
        trips.stop()
    finally:
        worker.stop(timeout=5)

    assert sent == 25
    assert len(fake_evolution.sends()) == 25
    assert trips.count / sent <= 4, f"{trips.count} round trips for {sent} sends"


class _RaceAfterRead:
    """A Connection whose first statement (the pacing state's read) is followed, before the
    claim runs, by `meanwhile` on another connection: what a second claimer could do."""

    def __init__(self, connection: Any, meanwhile: Any) -> None:
        self._connection = connection
        self._meanwhile = meanwhile

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        result = self._connection.execute(*args, **kwargs)
        if self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None
            rows = result.all()
            meanwhile()
            return _Rows(rows)
        return result


class _Rows:
    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None


def _leased_instance(session: Session, account: Account, fake_evolution: Any) -> SenderInstance:
    instance = make_instance(session, account, fake_evolution, rate=1)
    make_running_campaign(session, account, [instance], contacts=5)
    instance.lease_owner = "w"
    instance.lease_expires_at = NOON + timedelta(hours=1)
    session.commit()
    return instance


def _sends(session: Session, instance_id: int) -> int:
    session.expire_all()
    return session.scalar(
        select(func.count())
        .select_from(InstanceSend)
        .where(InstanceSend.instance_id == instance_id)
    )


def test_a_send_recorded_between_the_read_and_the_claim_stops_the_claim(
    pg_engine: Engine, pg_session: Session, pg_account: Account, fake_evolution
) -> None:
    # Rate 1/min: the read finds the window empty; another claim for the number lands before
    # this one's statement. Taking a second recipient now would make two sends in a minute.
    instance = _leased_instance(pg_session, pg_account, fake_evolution)

    def another_claim() -> None:
        with pg_engine.begin() as other:
            assert isinstance(claim_next(other, instance.id, "w", NOON), Claim)

    with pg_engine.connect() as connection:
        step = claim_next(_RaceAfterRead(connection, another_claim), instance.id, "w", NOON)
        connection.commit()

    assert not isinstance(step, Claim)
    assert _sends(pg_session, instance.id) == 1
    claimed = pg_session.scalar(
        select(func.count())
        .select_from(SenderInstance)
        .where(SenderInstance.id == instance.id, SenderInstance.next_send_at > NOON)
    )
    assert claimed == 1  # the other claim's gap stands


def test_a_lease_lost_between_the_read_and_the_claim_stops_the_claim(
    pg_engine: Engine, pg_session: Session, pg_account: Account, fake_evolution
) -> None:
    instance = _leased_instance(pg_session, pg_account, fake_evolution)

    def lease_moves() -> None:
        with pg_engine.begin() as other:
            other.execute(
                update(SenderInstance)
                .where(SenderInstance.id == instance.id)
                .values(lease_owner="someone-else")
            )

    with pg_engine.connect() as connection:
        step = claim_next(_RaceAfterRead(connection, lease_moves), instance.id, "w", NOON)
        connection.commit()

    assert not isinstance(step, Claim)
    assert _sends(pg_session, instance.id) == 0
    statuses = set(pg_session.scalars(select(CampaignRecipient.status)))
    assert statuses == {RecipientStatus.PENDING}  # nobody claimed


def test_outcomes_written_together_keep_each_claims_ownership(
    pg_engine: Engine, pg_session: Session, pg_account: Account, fake_evolution
) -> None:
    # Two sends answered at once are written in one statement; one of them lost its claim
    # meanwhile (recovered, claimed again by another worker): only the other becomes `sent`.
    instance = make_instance(pg_session, pg_account, fake_evolution, rate=60)
    campaign = make_running_campaign(pg_session, pg_account, [instance], contacts=2)
    instance.lease_owner = "w"
    instance.lease_expires_at = NOON + timedelta(hours=1)
    pg_session.commit()
    worker = Dispatcher(pg_engine, fast_settings(), worker_id="w", clock=Clock(NOON))
    try:
        claims = []
        for second in (0, 1):
            with worker.database.statements() as connection:
                claim = claim_next(connection, instance.id, "w", NOON + timedelta(seconds=second))
            assert isinstance(claim, Claim)
            claims.append(claim)
        with pg_engine.begin() as other:
            other.execute(
                update(CampaignRecipient)
                .where(CampaignRecipient.id == claims[1].recipient_id)
                .values(claimed_by="another-worker")
            )
        done = NOON + timedelta(seconds=5)
        answer = SendResult(Outcome.SENT, "MSG-1", 201)
        with worker.database.statements() as connection:  # the writer's batch statement
            statuses = mark_sent_many(connection, [(claim, answer, done) for claim in claims])
    finally:
        worker.stop(timeout=5)

    assert statuses == [RecipientStatus.SENT, None]
    pg_session.expire_all()
    rows = {
        r.id: r
        for r in pg_session.scalars(
            select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign.id)
        )
    }
    assert rows[claims[0].recipient_id].status == RecipientStatus.SENT
    assert rows[claims[0].recipient_id].provider_message_id == "MSG-1"
    assert rows[claims[1].recipient_id].status == RecipientStatus.SENDING  # not ours to write
    answered = pg_session.scalar(
        select(InstanceSend.sent_at).where(InstanceSend.id == claims[0].send_id)
    )
    assert answered == done  # the window counts the send at its answer
