"""Health falling and recovering, end to end: the real worker (injected clock) sends through the
fake Evolution server on loopback; numbers not on WhatsApp answer 400 and contacts reply STOP as
Evolution `messages.upsert` webhooks to the real API routes. The worker's own maintenance
lowers the number's rate, then pauses it with a notification naming the signal; once the bad
signals have aged out of the window it resumes at its own rate. No 60 s ever holds more than
the rate."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import campaigns
from core.base import stored_text, utcnow
from core.instances import _health as rules
from core.models import Notification, SenderInstance
from core.people import Actor
from core.sending import Dispatcher, Idle, Sent, Wait
from tests import evolution_payloads as evo
from tests.pacing_model import max_in_any_window
from tests.worker_harness import (
    fast_settings,
    make_instance,
    make_running_campaign,
    recipient_states,
    send_times,
)

RATE = 10


class Clock:
    def __init__(self) -> None:
        # In the past: the webhook marks opt-outs at the real time, after the sends they answer.
        self.now = utcnow().replace(microsecond=0) - timedelta(days=3)

    def __call__(self):  # type: ignore[no-untyped-def]
        return self.now


def test_stop_replies_and_numbers_not_on_whatsapp_slow_then_pause_and_ageing_out_resumes(
    engine, session: Session, account, fake_evolution, client
):
    instance = make_instance(session, account, fake_evolution, rate=RATE, label="Loja")
    warm = make_running_campaign(session, account, [instance], contacts=20, title="regulars")
    # The old list: one in four not on WhatsApp, one in eight of the others answers STOP.
    phones = [f"+551197{i:06d}" for i in range(80)]
    fake_evolution.set_not_on_whatsapp(*phones[::4])
    reached = [p for p in phones if p not in phones[::4]]
    stoppers = set(reached[::8])
    session.commit()
    clock = Clock()
    worker = Dispatcher(
        engine,
        fast_settings(lease_seconds=10**6),
        worker_id="w",
        clock=clock,
        rng=random.Random(3),
    )

    def stop_reply(phone: str) -> None:
        answer = client.post(
            f"/webhooks/evolution/{instance.id}",
            json=evo.message_upsert(instance.instance_name, phone[1:], "STOP"),
            headers={"x-webhook-token": "hook-secret"},
        )
        assert answer.status_code == 200, answer.text

    def run(steps: int) -> list[Sent | Idle]:
        """The worker's lane by hand, its maintenance between steps (scores once a minute)."""
        seen: list[Sent | Idle] = []
        for _ in range(steps):
            worker.maintain()
            result = worker.process_instance(instance.id, now=clock.now)
            if isinstance(result, Wait):
                clock.now = max(clock.now, result.until)
                continue
            if isinstance(result, Idle):
                seen.append(result)
                break
            assert isinstance(result, Sent)
            seen.append(result)
            clock.now += timedelta(milliseconds=400)
            if result.claim.phone in stoppers and result.status == "sent":
                stop_reply(result.claim.phone)
        return seen

    def number() -> SenderInstance:
        session.expire_all()
        row = session.get(SenderInstance, instance.id)
        session.commit()
        return row

    try:
        first = [s for s in run(60) if isinstance(s, Sent)]
        assert len(first) == 20 and number().health_score == 100
        assert {s.claim.campaign_id for s in first} == {warm.id}
        old_list = make_running_campaign(session, account, [instance], phones=phones, title="old")
        session.commit()
        worker.campaign_cache.forget()

        falling = run(400)
        rates = [s.claim.rate_per_minute for s in falling if isinstance(s, Sent)]
        assert isinstance(falling[-1], Idle)  # paused
        assert rates[0] == RATE and min(rates) < RATE  # slower before the pause
        assert all(b <= a for a, b in zip(rates, rates[1:], strict=False))
        paused = number()
        assert paused.health_paused_at is not None and paused.health_score < rules.PAUSE_BELOW
        # Both signals cost points; the STOP replies (one in eight reached) the most.
        assert set(paused.health_details["penalties"]) == {"not_on_whatsapp", "opt_outs"}
        worst = paused.health_details["worst"]
        assert worst == "opt_outs"
        [note] = session.scalars(
            select(Notification).where(Notification.kind == "instance_health_paused")
        ).all()
        session.commit()
        assert "Loja" in note.title
        assert stored_text.HEALTH_SIGNALS[worst] in note.body  # names the signal that tripped it
        # Paused: nothing more goes out however long the worker tries, this hour.
        sent_before = len(fake_evolution.sends())
        for _ in range(5):
            clock.now += timedelta(minutes=5)
            assert isinstance(run(1)[-1], Idle)
        assert len(fake_evolution.sends()) == sent_before
        stops = sum(
            1 for p in stoppers if p in {s.claim.phone for s in falling if isinstance(s, Sent)}
        )
        assert stops >= 1

        # Staff drop the old list; a day later its signals have left the window.
        campaigns.cancel(session, Actor.system(account.id), old_list.id)
        fresh = make_running_campaign(session, account, [instance], contacts=15, title="fresh")
        session.commit()
        worker.campaign_cache.forget()
        clock.now += rules.WINDOW + timedelta(minutes=2)
        recovered = [s for s in run(100) if isinstance(s, Sent)]
        assert len(recovered) == 15
        assert {s.claim.rate_per_minute for s in recovered} == {RATE}
        assert number().health_paused_at is None and number().health_score == 100
        assert session.scalar(
            select(Notification.id).where(Notification.kind == "instance_health_resumed")
        )
        session.commit()
        assert recipient_states(session, fresh.id) == {"sent": 15}
    finally:
        worker.stop(timeout=5)
    assert max_in_any_window(send_times(session, instance.id)) <= RATE
