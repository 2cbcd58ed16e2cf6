"""A number's health: recorded signal sequences give the scores, rates and pauses the
thresholds say; over real HTTP, a run of numbers not on WhatsApp lowers the worker's rate, then
pauses the number with a notification naming the signal, and recovery lifts it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import instances
from core.instances import Signals, effective_rate, rate_factor, score
from core.instances import _health as rules
from core.models import Notification, SenderInstance
from core.sending import Dispatcher, Idle, Sent, Wait
from tests.pacing_model import max_in_any_window
from tests.worker_harness import (
    fast_settings,
    make_instance,
    make_running_campaign,
    send_times,
)

NOW = datetime(2025, 6, 4, 12, 0, tzinfo=UTC)


def replay(sequence: list[str]) -> list[int]:
    """Scores after each recorded outcome: ok, off (not on WhatsApp), err, stop (sent, then the
    contact opted out), read (sent and read)."""
    counts = dict.fromkeys(("attempts", "sent", "not_on_whatsapp", "errors", "opt_outs"), 0)
    counts |= {"delivered": 0, "read": 0}
    scores = []
    for outcome in sequence:
        counts["attempts"] += 1
        if outcome in ("ok", "stop", "read"):
            counts["sent"] += 1
            counts["delivered"] += 1
        if outcome == "read":
            counts["read"] += 1
        if outcome == "stop":
            counts["opt_outs"] += 1
        if outcome == "off":
            counts["not_on_whatsapp"] += 1
        if outcome == "err":
            counts["errors"] += 1
        scores.append(score(Signals(**counts)).score)
    return scores


def test_too_few_sends_are_not_judged():
    assert replay(["off"] * (rules.MIN_ATTEMPTS - 1))[-1] == 100
    assert not score(Signals(attempts=5, not_on_whatsapp=5)).judged


def test_a_clean_run_stays_at_100_and_keeps_its_rate():
    scores = replay(["read"] * 30 + ["ok"] * 30)
    assert set(scores) == {100}
    assert effective_rate(12, scores[-1]) == 12


def test_a_run_of_numbers_not_on_whatsapp_slows_then_pauses():
    scores = replay(["read"] * 40 + ["off"] * 40)
    after = scores[40:]
    assert all(b <= a for a, b in zip(after, after[1:], strict=False))  # never rises
    slowed = [s for s in after if rules.PAUSE_BELOW <= s < rules.FULL_RATE_FROM]
    assert slowed and all(effective_rate(60, s) < 60 for s in slowed)
    assert after[-1] < rules.PAUSE_BELOW
    health = score(Signals(attempts=80, sent=40, not_on_whatsapp=40, delivered=40, read=40))
    assert health.worst == "not_on_whatsapp" and health.json()["penalties"]["not_on_whatsapp"]


def test_stop_replies_weigh_more_than_their_share():
    # Five per cent opting out is the full opt-out penalty: with a few send errors, a pause.
    health = score(Signals(attempts=100, sent=90, errors=10, opt_outs=5, delivered=90, read=40))
    assert health.penalties["opt_outs"] == 60 and health.worst == "opt_outs"
    assert rules.should_pause(health.score, paused=False)


def test_reads_count_only_with_enough_receipts_and_drops_count_a_little():
    unread = Signals(attempts=100, sent=100, delivered=100, read=0)
    assert score(unread).penalties == {"low_reads": 15}
    assert score(Signals(attempts=100, sent=100, delivered=10, read=0)).score == 100
    assert score(Signals(attempts=30, sent=30, drops=3)).penalties == {"connection_drops": 15}


def test_the_rate_factor_and_the_pause_have_hysteresis():
    assert rate_factor(None) == rate_factor(100) == rate_factor(rules.FULL_RATE_FROM) == 1.0
    assert rate_factor(rules.PAUSE_BELOW) == rules.SLOWEST_FACTOR
    assert rate_factor(60) < 1.0 and effective_rate(1, 0) == 1
    assert rules.should_pause(rules.PAUSE_BELOW - 1, paused=False)
    assert not rules.should_pause(rules.PAUSE_BELOW, paused=False)
    assert rules.should_pause(rules.RESUME_FROM - 1, paused=True)  # stays paused
    assert not rules.should_pause(rules.RESUME_FROM, paused=True)


def test_falling_health_lowers_the_rate_then_pauses_and_recovery_lifts_it(
    engine, session: Session, account, fake_evolution
):
    instance = make_instance(session, account, fake_evolution, rate=60)
    make_running_campaign(session, account, [instance], contacts=20, title="good")
    session.commit()
    now = [NOW]
    worker = Dispatcher(
        engine,
        fast_settings(lease_seconds=10**6),
        worker_id="w",
        clock=lambda: now[0],
        rng=random.Random(5),
    )
    worker.maintain()

    def score_now() -> SenderInstance:
        instances.refresh_health(session, [instance.id], now[0], force=True)
        session.commit()
        row = session.get(SenderInstance, instance.id)
        session.refresh(row)
        session.commit()
        return row

    def step():  # type: ignore[no-untyped-def]
        for _ in range(20):
            result = worker.process_instance(instance.id, now=now[0])
            if isinstance(result, Wait):
                now[0] = max(now[0], result.until)
                continue
            now[0] += timedelta(milliseconds=200)
            return result
        raise AssertionError("no send")

    try:
        sent = [step() for _ in range(20)]
        assert all(isinstance(s, Sent) and s.claim.rate_per_minute == 60 for s in sent)
        assert score_now().health_score == 100
        bad = [f"+55118{i:07d}" for i in range(30)]
        fake_evolution.set_not_on_whatsapp(*bad)
        make_running_campaign(session, account, [instance], phones=bad, title="old list")
        session.commit()
        worker.campaign_cache.forget()
        rates = []
        for _ in range(30):
            result = step()
            if isinstance(result, Idle):
                break
            assert isinstance(result, Sent)
            rates.append(result.claim.rate_per_minute)
            score_now()
        paused = score_now()
        assert paused.health_paused_at is not None and paused.health_score < rules.PAUSE_BELOW
        assert rates[0] == 60 and min(rates) < 60  # slower before the pause
        assert all(b <= a for a, b in zip(rates, rates[1:], strict=False))
        assert isinstance(worker.process_instance(instance.id, now=now[0]), Idle)
        [note] = session.scalars(
            select(Notification).where(Notification.kind == "instance_health_paused")
        ).all()
        assert "not on WhatsApp" in note.body and instance.name in note.title
        session.commit()

        # A day later the bad run has left the window: the number resumes at its own rate.
        now[0] += rules.WINDOW + timedelta(minutes=1)
        recovered = score_now()
        assert recovered.health_paused_at is None and recovered.health_score == 100
        result = step()
        assert isinstance(result, Sent) and result.claim.rate_per_minute == 60
        assert session.scalar(
            select(Notification.id).where(Notification.kind == "instance_health_resumed")
        )
        session.commit()
    finally:
        worker.stop(timeout=5)
    assert max_in_any_window(send_times(session, instance.id)) <= 60
