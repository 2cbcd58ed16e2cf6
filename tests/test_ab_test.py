"""The A/B test: the test share goes first, the rest only after the decision, which follows the
stated rule and is made once; staff may pick the winner by hand. The worker runs with an
injected clock over real HTTP against the fake Evolution server."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from core import campaigns, tracking
from core.base import Conflict, PermissionDenied, reset_settings_cache
from core.campaigns import MIN_SENT_PER_VARIANT, How, VariantNumbers, choose_winner
from core.models import AuditLog, Campaign, CampaignRecipient, Notification, TrackedLink
from core.sending import Dispatcher, Sent, Wait
from tests.builders import make_actor, make_contact
from tests.worker_harness import digits, fast_settings, make_instance, recipient_states

T0 = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)


# -- the rule (pure) ---------------------------------------------------------------------------


def numbers(*rows: tuple[int, int]) -> list[VariantNumbers]:
    """(sent, read) per variant."""
    return [VariantNumbers(i, sent, read, 0, 0) for i, (sent, read) in enumerate(rows)]


def test_the_best_rate_wins_by_more_than_the_tie_margin():
    verdict = choose_winner(numbers((100, 30), (100, 45)), "read", [1, 1])
    assert (verdict.winner, verdict.how) == (1, How.AUTO)


def test_a_tie_goes_to_the_highest_weight_then_the_first():
    assert choose_winner(numbers((100, 40), (100, 40)), "read", [1, 1]).winner == 0
    tie = choose_winner(numbers((200, 80), (100, 40)), "read", [1, 3])
    assert (tie.winner, tie.how) == (1, How.TIE)
    # Within the margin (0.5 points) is a tie too; the third variant, far behind, is not in it.
    close = choose_winner(numbers((200, 81), (200, 80), (200, 10)), "read", [1, 2, 5])
    assert (close.winner, close.how) == (1, How.TIE)


def test_too_little_data_picks_by_the_rule_whatever_the_rates():
    few = MIN_SENT_PER_VARIANT - 1
    verdict = choose_winner(numbers((few, few), (500, 1)), "read", [2, 1])
    assert (verdict.winner, verdict.how) == (0, How.TOO_LITTLE_DATA)
    # A variant with no row at all counts as nothing sent.
    lone = choose_winner([VariantNumbers(1, 500, 300, 0, 0)], "read", [1, 1])
    assert (lone.winner, lone.how) == (0, How.TOO_LITTLE_DATA)


def test_the_metric_chooses_which_count_is_compared():
    rows = [VariantNumbers(0, 100, 90, 5, 0), VariantNumbers(1, 100, 10, 30, 0)]
    assert choose_winner(rows, "read", [1, 1]).winner == 0
    assert choose_winner(rows, "reply", [1, 1]).winner == 1


# -- the worker ----------------------------------------------------------------------------------


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def drive(worker: Dispatcher, clock: Clock, instance_id: int) -> list[Sent]:
    """Send until the instance has nothing to send, jumping over its waits."""
    done: list[Sent] = []
    for _ in range(5_000):
        step = worker.process_instance(instance_id, now=clock.now)
        if isinstance(step, Sent):
            done.append(step)
            clock.now += timedelta(milliseconds=200)
        elif isinstance(step, Wait):
            clock.now = max(clock.now, step.until)
        else:
            break
    return done


AB = {"test_share": 0.25, "decide_after_minutes": 60, "metric": "read"}


@pytest.fixture
def ab_campaign(session, account, fake_evolution):
    manager = make_actor(session, account, "manager", "maria")
    instance = make_instance(session, account, fake_evolution, rate=3000)
    for i in range(400):
        make_contact(session, account, name=f"Ana {i}", labels=["all"])
    session.commit()
    campaign = campaigns.create(
        session,
        manager,
        {
            "title": "Split",
            "audience": {"labels": ["all"]},
            "instance_ids": [instance.id],
            "variants": [{"message": "A: hi {{first_name}}"}, {"message": "B: hey {{first_name}}"}],
            "ab_test": AB,
        },
    )
    campaigns.trigger(session, manager, campaign.id, now=T0)
    session.commit()
    return campaign, instance, manager


def _campaign(session: Session, campaign_id: int) -> Campaign:
    campaign = session.scalars(
        select(Campaign).where(Campaign.id == campaign_id).execution_options(populate_existing=True)
    ).one()
    session.commit()
    return campaign


def _read_some(session: Session, campaign_id: int, shares: dict[int, float]) -> None:
    """Receipts arrive: of each variant's test messages, this share was read."""
    for variant, share in shares.items():
        ids = session.scalars(
            select(CampaignRecipient.id)
            .where(
                CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.variant == variant
            )
            .order_by(CampaignRecipient.id)
        ).all()
        chosen = ids[: round(len(ids) * share)]
        session.execute(
            update(CampaignRecipient)
            .where(CampaignRecipient.id.in_(chosen))
            .values(status="read", read_at=T0 + timedelta(minutes=5))
        )
    session.commit()


def test_the_test_share_goes_first_and_the_rest_gets_the_winner_after_the_wait(
    engine: Engine, session: Session, ab_campaign, fake_evolution
):
    campaign, instance, _manager = ab_campaign
    clock = Clock(T0)
    worker = Dispatcher(
        engine, fast_settings(lease_seconds=10**6), worker_id="w", clock=clock, rng=random.Random(1)
    )
    worker.maintain()
    tested = drive(worker, clock, instance.id)
    states = recipient_states(session, campaign.id)
    assert states["sent"] == len(tested) and states["awaiting_winner"] == 400 - len(tested)
    assert len(tested) / 400 == pytest.approx(0.25, abs=0.06)
    first_texts = Counter(r.body["text"][:2] for r in fake_evolution.sends())
    assert set(first_texts) == {"A:", "B:"} and sum(first_texts.values()) == len(tested)
    last_test_send = clock.now

    _read_some(session, campaign.id, {0: 0.2, 1: 0.6})
    # Just before the wait is over: no decision, nothing more is sent, not completed.
    clock.now = last_test_send + timedelta(minutes=59)
    worker.maintain()
    assert drive(worker, clock, instance.id) == []
    held = _campaign(session, campaign.id)
    assert held.ab_winner is None and held.status == "running"
    assert campaigns.decision_due_at(session, held) == pytest.approx(
        last_test_send + timedelta(minutes=60), abs=timedelta(seconds=1)
    )
    session.commit()

    clock.now = last_test_send + timedelta(minutes=61)
    worker.maintain()
    decided = _campaign(session, campaign.id)
    assert decided.ab_winner == 1 and decided.ab_decision["how"] == "auto"
    assert decided.ab_decided_at == clock.now
    rates = {n["variant"]: n["rate"] for n in decided.ab_decision["numbers"]}
    assert rates[1] == pytest.approx(60, abs=2) and rates[0] == pytest.approx(20, abs=2)

    rest = drive(worker, clock, instance.id)
    worker.maintain()
    worker.stop(timeout=5)
    assert len(rest) == 400 - len(tested)
    assert all(s.claim.text.startswith("B: hey ") for s in rest)
    received = fake_evolution.numbers_received()
    assert len(received) == 400 and received == sorted(set(received))
    assert _campaign(session, campaign.id).status == "completed"
    rows = session.scalars(
        select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign.id)
    ).all()
    assert Counter(r.variant for r in rows)[1] == 400 - sum(1 for r in rows if r.variant == 0)
    audits = session.scalars(select(AuditLog).where(AuditLog.action == "campaign.ab_winner")).all()
    assert len(audits) == 1 and audits[0].actor == "system"
    assert (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.kind == "campaign_ab_decided")
        )
        == 1
    )
    assert {digits(r.phone) for r in rows} == set(received)


def _finish_test_share(engine: Engine, instance_id: int) -> datetime:
    clock = Clock(T0)
    worker = Dispatcher(
        engine, fast_settings(lease_seconds=10**6), worker_id="t", clock=clock, rng=random.Random(2)
    )
    worker.maintain()
    drive(worker, clock, instance_id)
    worker.stop(timeout=5)
    return clock.now


def test_two_workers_deciding_at_once_release_the_rest_exactly_once(
    engine: Engine, session: Session, ab_campaign
):
    campaign, instance, _manager = ab_campaign
    finished = _finish_test_share(engine, instance.id)
    later = finished + timedelta(minutes=90)
    barrier = threading.Barrier(2)
    results: list[list[int]] = []

    def decide() -> None:
        with Session(engine) as own:
            barrier.wait()
            results.append(campaigns.decide_due(own, later))
            own.commit()

    threads = [threading.Thread(target=decide) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [[], [campaign.id]]
    assert campaigns.decide_due(session, later + timedelta(hours=1)) == []
    session.commit()
    states = recipient_states(session, campaign.id)
    assert states["awaiting_winner"] == 0 and states["pending"] + states["sent"] == 400
    assert (
        session.scalar(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "campaign.ab_winner")
        )
        == 1
    )


def test_too_little_data_is_decided_by_the_rule_and_says_so(
    engine: Engine, session: Session, account, fake_evolution
):
    manager = make_actor(session, account, "manager")
    instance = make_instance(session, account, fake_evolution, rate=3000)
    for i in range(40):
        make_contact(session, account, name=f"Bo {i}", labels=["few"])
    session.commit()
    campaign = campaigns.create(
        session,
        manager,
        {
            "title": "Few",
            "audience": {"labels": ["few"]},
            "instance_ids": [instance.id],
            "variants": [{"message": "A", "weight": 1}, {"message": "B", "weight": 4}],
            "ab_test": {**AB, "test_share": 0.5},
        },
    )
    campaigns.trigger(session, manager, campaign.id, now=T0)
    session.commit()
    finished = _finish_test_share(engine, instance.id)
    assert campaigns.decide_due(session, finished + timedelta(minutes=61)) == [campaign.id]
    session.commit()
    decided = _campaign(session, campaign.id)
    assert decided.ab_winner == 1  # the heavier weight
    assert decided.ab_decision["how"] == "too_little_data"
    assert decided.ab_decision["min_sent_per_variant"] == MIN_SENT_PER_VARIANT


def test_staff_pick_the_winner_by_hand_before_the_time_is_up(
    engine: Engine, session: Session, account, ab_campaign
):
    campaign, instance, manager = ab_campaign
    finished = _finish_test_share(engine, instance.id)
    viewer = make_actor(session, account, "viewer")
    with pytest.raises(PermissionDenied):
        campaigns.pick_winner(session, viewer, campaign.id, 1)
    with pytest.raises(Exception, match="variant"):
        campaigns.pick_winner(session, manager, campaign.id, 7)
    session.rollback()
    picked = campaigns.pick_winner(session, manager, campaign.id, 0, now=finished)
    session.commit()
    assert picked.ab_winner == 0 and picked.ab_decision["how"] == "manual"
    assert picked.ab_decision["by"] == "maria"
    with pytest.raises(Conflict):
        campaigns.pick_winner(session, manager, campaign.id, 1)
    session.rollback()
    assert campaigns.decide_due(session, finished + timedelta(days=1)) == []
    session.commit()
    pending = session.scalars(
        select(CampaignRecipient.rendered_text).where(
            CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.status == "pending"
        )
    ).all()
    assert pending and all(text.startswith("A: hi ") for text in pending)
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "campaign.ab_winner")).one()
    assert audit.actor == "maria" and audit.details["winner"] == 0


def test_the_page_s_numbers_per_variant_and_the_test_s_stage(
    engine: Engine, session: Session, ab_campaign
):
    campaign, instance, manager = ab_campaign
    state = tracking.ab_state(session, manager, campaign.id)
    assert state.stage == "testing" and state.due_at is None
    session.commit()
    finished = _finish_test_share(engine, instance.id)
    _read_some(session, campaign.id, {1: 0.5})
    state = tracking.ab_state(session, manager, campaign.id)
    assert state.stage == "waiting"
    assert abs(state.due_at - (finished + timedelta(minutes=60))) < timedelta(seconds=1)
    stats = tracking.variant_stats(session, manager, campaign.id)
    assert [s.label for s in stats] == ["A", "B"]
    assert all(s.sent == s.recipients and s.failed == 0 for s in stats)
    assert stats[0].read == 0 and stats[1].read == round(stats[1].recipients * 0.5)
    campaigns.pick_winner(session, manager, campaign.id, 1, now=finished)
    session.commit()
    state = tracking.ab_state(session, manager, campaign.id)
    assert (state.stage, state.winner, state.decision["by"]) == ("decided", 1, "maria")
    after = tracking.variant_stats(session, manager, campaign.id)
    assert after[1].recipients == 400 - after[0].recipients  # the rest joined the winner
    session.commit()


def test_a_campaign_cancelled_before_the_decision_skips_the_rest_and_is_never_decided(
    engine: Engine, session: Session, ab_campaign
):
    campaign, instance, manager = ab_campaign
    finished = _finish_test_share(engine, instance.id)
    campaigns.cancel(session, manager, campaign.id)
    session.commit()
    assert campaigns.decide_due(session, finished + timedelta(days=1)) == []
    session.commit()
    states = recipient_states(session, campaign.id)
    assert states["awaiting_winner"] == 0 and states["skipped"] + states["sent"] == 400
    assert tracking.ab_state(session, manager, campaign.id).stage == "stopped"
    session.commit()


@pytest.fixture
def public_url(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PUBLIC_API_URL", "https://go.example")
    reset_settings_cache()
    yield
    monkeypatch.delenv("PUBLIC_API_URL")
    reset_settings_cache()


def test_the_winners_links_are_tracked_per_recipient_when_the_rest_is_released(
    engine: Engine, session: Session, account, fake_evolution, public_url
):
    manager = make_actor(session, account, "manager")
    instance = make_instance(session, account, fake_evolution, rate=3000)
    for i in range(50):
        make_contact(session, account, name=f"Ed {i}", labels=["links"])
    session.commit()
    campaign = campaigns.create(
        session,
        manager,
        {
            "title": "Links",
            "audience": {"labels": ["links"]},
            "instance_ids": [instance.id],
            "track_links": True,
            "variants": [
                {"message": "A https://shop.example/a"},
                {"message": "B https://shop.example/b"},
            ],
            "ab_test": {**AB, "metric": "click"},
        },
    )
    campaigns.trigger(session, manager, campaign.id, now=T0)
    campaigns.pick_winner(session, manager, campaign.id, 1, now=T0)
    session.commit()
    rows = session.scalars(
        select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign.id)
    ).all()
    released = [r for r in rows if r.status == "pending" and r.variant == 1]
    assert released and all(r.rendered_text.startswith("B https://go.example/r/") for r in released)
    links = session.scalars(select(TrackedLink).where(TrackedLink.campaign_id == campaign.id)).all()
    assert len(links) == 50 and len({link.code for link in links}) == 50
    by_recipient = {link.recipient_id: link.url for link in links}
    assert all(by_recipient[r.id] == "https://shop.example/b" for r in released)
    session.commit()
