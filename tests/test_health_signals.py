"""The health signals added to the score: replies give points back, receipts that stop arriving
(while they still reach us for the account) weigh against the number — but a webhook that
delivers nothing does not — and a STOP reply over the webhook counts as an opt-out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from core.base import utcnow
from core.instances import Signals, gather_signals, score
from core.instances import _health as rules
from core.models import Account
from tests import evolution_payloads as evo
from tests.builders import make_campaign_row, make_contact, make_recipient_row, make_sender_instance


def replay(sequence: list[str], *, flowing: bool = True) -> list[int]:
    """Scores after each recorded outcome, all sent long enough ago for a receipt to be due:
    ok (delivered), silent (no receipt came), reply (delivered and answered), off (not on
    WhatsApp)."""
    counts = dict.fromkeys(
        ("attempts", "sent", "not_on_whatsapp", "delivered", "replied", "overdue"), 0
    )
    counts["overdue_unconfirmed"] = 0
    scores = []
    for outcome in sequence:
        counts["attempts"] += 1
        if outcome == "off":
            counts["not_on_whatsapp"] += 1
        else:
            counts["sent"] += 1
            counts["overdue"] += 1
            if outcome == "silent":
                counts["overdue_unconfirmed"] += 1
            else:
                counts["delivered"] += 1
            if outcome == "reply":
                counts["replied"] += 1
        scores.append(score(Signals(**counts, receipts_flowing=flowing)).score)
    return scores


def test_receipts_that_stop_arriving_lower_the_score_then_pause():
    scores = replay(["ok"] * 30 + ["silent"] * 300)
    assert scores[29] == 100
    tail = scores[30:]
    assert all(b <= a for a, b in zip(tail, tail[1:], strict=False))
    assert min(tail) < rules.PAUSE_BELOW  # a number WhatsApp stopped delivering: paused
    health = score(Signals(attempts=100, sent=100, overdue=100, overdue_unconfirmed=95,
                           delivered=5, receipts_flowing=True))  # fmt: skip
    assert health.worst == "missing_receipts" and health.penalties["missing_receipts"] == 65


def test_a_silent_webhook_is_not_held_against_the_number():
    assert set(replay(["silent"] * 150, flowing=False)) == {100}
    # Too few sends old enough to expect a receipt: no judgement on receipts yet.
    few = Signals(attempts=30, sent=30, overdue=rules.MIN_FOR_RECEIPTS - 1,
                  overdue_unconfirmed=rules.MIN_FOR_RECEIPTS - 1, receipts_flowing=True)  # fmt: skip
    assert "missing_receipts" not in score(few).penalties


def test_replies_give_some_points_back_but_never_hide_a_bad_list():
    quiet = replay(["ok"] * 80 + ["off"] * 20)[-1]
    answered = replay(["reply"] * 8 + ["ok"] * 72 + ["off"] * 20)[-1]
    assert answered == quiet + rules.REPLY_CREDIT
    health = score(Signals(attempts=100, sent=80, not_on_whatsapp=20, replied=8))
    assert health.credit == rules.REPLY_CREDIT and health.json()["credit"] == rules.REPLY_CREDIT
    assert score(Signals(attempts=50, sent=50, replied=50)).score == 100  # never above 100
    burnt = replay(["reply"] * 40 + ["off"] * 60)[-1]
    assert burnt < rules.PAUSE_BELOW  # forty per cent answering does not save a bought list


def sends(session, account, campaign, instance, n, *, ago, delivered: bool):
    now = utcnow()
    for _ in range(n):
        make_recipient_row(
            session,
            campaign,
            contact=make_contact(session, account),
            status="delivered" if delivered else "sent",
            instance_id=instance.id,
            sent_at=now - ago,
            last_attempt_at=now - ago,
            delivered_at=(now - ago + timedelta(seconds=5)) if delivered else None,
        )


def test_overdue_receipts_count_only_while_receipts_reach_us(session: Session, account: Account):
    registered = {"webhook_registered_at": utcnow() - timedelta(days=2)}
    blocked = make_sender_instance(session, account, "blocked", **registered)
    healthy = make_sender_instance(session, account, "healthy", **registered)
    broken = make_sender_instance(session, account, "unregistered")
    campaign = make_campaign_row(session, account, instances=[blocked, healthy, broken])
    session.flush()
    # Earlier sends of the blocked number had receipts; the last 40 got none, while the
    # healthy number's receipts kept arriving after them.
    sends(session, account, campaign, blocked, 10, ago=timedelta(hours=5), delivered=True)
    sends(session, account, campaign, blocked, 40, ago=timedelta(hours=2), delivered=False)
    sends(session, account, campaign, healthy, 30, ago=timedelta(hours=1), delivered=True)
    sends(session, account, campaign, broken, 40, ago=timedelta(hours=2), delivered=False)
    session.commit()
    now = utcnow()
    signals = gather_signals(session, [blocked.id, healthy.id, broken.id], now - rules.WINDOW, now)
    session.commit()
    assert signals[blocked.id].receipts_flowing
    assert (signals[blocked.id].overdue, signals[blocked.id].overdue_unconfirmed) == (50, 40)
    assert score(signals[blocked.id]).worst == "missing_receipts"
    assert score(signals[healthy.id]).score == 100
    # Its webhook is not registered: no receipt can come, so none is held against it.
    assert not signals[broken.id].receipts_flowing
    assert "missing_receipts" not in score(signals[broken.id]).penalties


def test_an_account_whose_receipts_all_stopped_has_a_webhook_problem(
    session: Session, account: Account
):
    one = make_sender_instance(session, account, "one", webhook_registered_at=utcnow())
    campaign = make_campaign_row(session, account, instances=[one])
    session.flush()
    sends(session, account, campaign, one, 10, ago=timedelta(hours=6), delivered=True)
    sends(session, account, campaign, one, 40, ago=timedelta(hours=3), delivered=False)
    session.commit()
    now = utcnow()
    signals = gather_signals(session, [one.id], now - rules.WINDOW, now)[one.id]
    session.commit()
    assert not signals.receipts_flowing and score(signals).score == 100


def test_a_stop_reply_over_the_webhook_counts_as_an_opt_out_and_a_reply_as_a_reply(
    client, session: Session, account: Account
):
    instance = make_sender_instance(session, account, "main", webhook_secret="s3cret")
    campaign = make_campaign_row(session, account, instances=[instance])
    session.flush()
    contacts = [make_contact(session, account, phone=f"+5511988{i:06d}") for i in range(3)]
    for contact in contacts:
        make_recipient_row(
            session, campaign, contact=contact, instance_id=instance.id, status="delivered",
            sent_at=utcnow() - timedelta(minutes=5), last_attempt_at=utcnow() - timedelta(minutes=5),
        )  # fmt: skip
    session.commit()
    for contact, text in zip(contacts, ("STOP", "Quero saber mais", "ok"), strict=False):
        answer = client.post(
            f"/webhooks/evolution/{instance.id}",
            json=evo.message_upsert("main", contact.phone[1:], text),
            headers={"x-webhook-token": "s3cret"},
        )
        assert answer.status_code == 200, answer.text
    now = utcnow()
    signals = gather_signals(session, [instance.id], now - rules.WINDOW, now)[instance.id]
    session.commit()
    assert signals.opt_outs == 1
    assert signals.replied == 2
