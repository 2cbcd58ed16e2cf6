"""Campaign messages mirrored into Chatwoot, over real HTTP against the fake Chatwoot: one
outgoing message per sent recipient in the contact's conversation of the number's inbox, also
when an answer is lost or the worker dies mid-mirror; `evolution` and `off` post nothing; an
outage is retried later and shown on the number."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import crm, instances
from core.base import ValidationError, utcnow
from core.chatwoot import ChatwootClient
from core.models import ChatwootMirror, SenderInstance
from tests.builders import (
    connect_fake_chatwoot,
    make_campaign_row,
    make_contact,
    make_recipient_row,
    make_sender_instance,
)
from tests.fake_chatwoot import FakeChatwoot, Fault
from tests.fake_chatwoot import fake_chatwoot as fake_chatwoot  # noqa: F401  (fixture)


def factory(base_url: str, account_id: int, token: str) -> ChatwootClient:
    return ChatwootClient(base_url, account_id, token, timeout=2.0, sleep=lambda s: None)


@pytest.fixture
def cw(fake_chatwoot: FakeChatwoot, session, admin):
    return connect_fake_chatwoot(session, admin, fake_chatwoot)


@pytest.fixture
def inbox(cw):
    return cw.add_inbox("WhatsApp vendas", "Channel::Api")


def number(session, account, admin, inbox, mode: str = "ours") -> SenderInstance:
    row = make_sender_instance(session, account, f"line-{mode}")
    session.commit()
    instances.update_instance(
        session, admin, row.id, {"chatwoot_inbox_id": inbox.id, "chatwoot_mirror": mode}
    )
    session.commit()
    return row


def sends(session, account, instance, count: int, *, ago=timedelta(0), contacts=None):
    campaign = make_campaign_row(session, account, status="running", instances=[instance])
    rows = []
    for n in range(count):
        contact = contacts[n] if contacts else make_contact(session, account, name=f"C{n}")
        rows.append(
            make_recipient_row(
                session,
                campaign,
                contact=contact,
                status="delivered",
                instance_id=instance.id,
                sent_at=utcnow() - ago,
                rendered_text=f"Olá C{n}, promoção!",
            )  # fmt: skip
        )
    session.commit()
    return rows


def outgoing(cw) -> list:
    return cw.messages(message_type="outgoing")


def test_one_outgoing_message_per_sent_recipient_in_the_contacts_conversation(
    engine, session, account, admin, fake_chatwoot, cw, inbox
):
    line = number(session, account, admin, inbox)
    known = cw.add_contact("Synced", phone_number="+5511977776666")
    synced = make_contact(session, account, "+5511977776666", "Synced")
    synced.chatwoot_contact_id = known.id
    rows = sends(session, account, line, 3) + sends(session, account, line, 1, contacts=[synced])

    first = crm.mirror_sent(engine, client_factory=factory)
    again = crm.mirror_sent(engine, now=utcnow() + timedelta(hours=1), client_factory=factory)

    assert (first.queued, first.posted, again.queued, again.posted) == (4, 4, 0, 0)
    messages = outgoing(cw)
    assert len(messages) == 4
    assert sorted(m.content for m in messages) == sorted(r.rendered_text for r in rows)
    for row in rows:
        mirror = session.get(ChatwootMirror, row.id)
        conversation = cw.conversation(mirror.chatwoot_conversation_id)
        assert conversation.inbox_id == inbox.id and mirror.state == "done"
        assert cw.contact(conversation.contact_id).phone_number == row.phone
        [message] = cw.messages(conversation.id)
        assert message.id == mirror.chatwoot_message_id and message.content == row.rendered_text
    assert session.get(ChatwootMirror, rows[3].id).chatwoot_contact_id == known.id  # the link
    session.commit()


def test_a_lost_answer_is_found_in_chatwoot_not_posted_again(
    engine, session, account, admin, fake_chatwoot, cw, inbox
):
    line = number(session, account, admin, inbox)
    [row] = sends(session, account, line, 1)
    fake_chatwoot.fail(Fault.HANG, routes=["messages#create"], times=1, seconds=0.1)

    lost = crm.mirror_sent(engine, client_factory=factory)
    later = crm.mirror_sent(engine, now=utcnow() + timedelta(hours=2), client_factory=factory)

    assert (lost.retried, later.found, later.posted) == (1, 1, 0)
    assert len(outgoing(cw)) == 1
    assert session.get(ChatwootMirror, row.id).state == "done"
    session.commit()


class DiesAfterPosting(ChatwootClient):
    """The worker is killed right after Chatwoot took the message, before we stored its id."""

    def post_outgoing_message(self, *args, **kwargs):
        super().post_outgoing_message(*args, **kwargs)
        raise SystemExit("killed")


def test_a_worker_killed_mid_mirror_never_posts_twice(
    engine, session, account, admin, fake_chatwoot, cw, inbox
):
    line = number(session, account, admin, inbox)
    rows = sends(session, account, line, 2)

    with pytest.raises(SystemExit):
        crm.mirror_sent(
            engine,
            client_factory=lambda *a: DiesAfterPosting(*a, timeout=2.0, sleep=lambda s: None),
        )
    too_soon = crm.mirror_sent(engine, client_factory=factory)  # the dead worker's claim holds
    after = crm.mirror_sent(engine, now=utcnow() + timedelta(minutes=10), client_factory=factory)

    assert too_soon.posted == 1  # the other recipient
    assert after.found == 1 and after.posted == 0
    assert sorted(m.content for m in outgoing(cw)) == sorted(r.rendered_text for r in rows)
    assert all(session.get(ChatwootMirror, r.id).state == "done" for r in rows)
    session.commit()


def test_evolution_and_off_modes_post_nothing(engine, session, account, admin, cw, inbox):
    by_evolution = number(session, account, admin, inbox, "evolution")
    off = number(session, account, admin, inbox, "off")
    sends(session, account, by_evolution, 2)
    sends(session, account, off, 2)

    assert crm.mirror_sent(engine, client_factory=factory).queued == 0
    assert outgoing(cw) == []


def test_sends_before_mirroring_was_switched_on_are_not_replayed(
    engine, session, account, admin, cw, inbox
):
    line = number(session, account, admin, inbox)
    sends(session, account, line, 2, ago=timedelta(days=1))

    assert crm.mirror_sent(engine, client_factory=factory).queued == 0
    assert outgoing(cw) == []


def test_an_outage_is_retried_later_and_shown_on_the_number(
    engine, session, account, admin, fake_chatwoot, cw, inbox
):
    line = number(session, account, admin, inbox)
    [row] = sends(session, account, line, 1)
    fake_chatwoot.down()

    down = crm.mirror_sent(engine, client_factory=factory)

    assert down.retried == 1 and outgoing(cw) == []
    shown = instances.instance_json(session.get(SenderInstance, line.id, populate_existing=True))
    assert shown["chatwoot_mirror_error"] and shown["chatwoot_mirror"] == "ours"
    mirror = session.get(ChatwootMirror, row.id, populate_existing=True)
    assert mirror.state == "queued" and mirror.next_attempt_at > utcnow()
    session.commit()
    fake_chatwoot.up()
    assert crm.mirror_sent(engine, client_factory=factory).posted == 0  # backing off
    up = crm.mirror_sent(engine, now=utcnow() + timedelta(hours=2), client_factory=factory)
    assert up.posted == 1 and len(outgoing(cw)) == 1
    again = session.get(SenderInstance, line.id, populate_existing=True)
    assert again.chatwoot_mirror_error is None
    session.commit()


def test_mirror_settings_are_checked(session, account, admin, inbox):
    row = make_sender_instance(session, account, "line")
    session.commit()
    with pytest.raises(ValidationError, match="chatwoot_mirror"):
        instances.update_instance(session, admin, row.id, {"chatwoot_mirror": "both"})
    with pytest.raises(ValidationError, match="chatwoot_inbox_id"):
        instances.update_instance(session, admin, row.id, {"chatwoot_mirror": "ours"})


def test_a_campaign_to_synced_contacts_sends_through_an_outage_then_is_mirrored_once_each(
    engine, session, account, admin, fake_chatwoot, fake_evolution, cw, inbox
):
    from core.models import Campaign, CampaignRecipient, Contact
    from core.sending import Dispatcher
    from tests.worker_harness import fast_settings, make_instance, recipient_states, run_until_idle

    cw.seed_contacts(5)
    crm.sync_contacts(session, admin, client_factory=factory)
    synced = session.scalars(select(Contact).where(Contact.account_id == account.id)).all()
    line = make_instance(session, account, fake_evolution, rate=6000)
    line.chatwoot_inbox_id, line.chatwoot_mirror = inbox.id, "ours"
    line.chatwoot_mirror_since = utcnow() - timedelta(minutes=1)
    campaign = Campaign(
        account_id=account.id, title="Promo", message="Oi", audience={}, status="running",
        started_at=utcnow(),
    )  # fmt: skip
    campaign.instances = [line]
    session.add(campaign)
    session.flush()
    for contact in synced:
        session.add(
            CampaignRecipient(
                campaign_id=campaign.id,
                contact_id=contact.id,
                phone=contact.phone,
                name=contact.name,
                rendered_text=f"Oi {contact.name}",
            )  # fmt: skip
        )
    session.commit()
    fake_chatwoot.down()
    worker = Dispatcher(engine, fast_settings(), worker_id="worker-a", max_threads=2)
    try:
        run_until_idle(worker)  # Chatwoot is down: sending does not care
        assert recipient_states(session, campaign.id) == {"sent": 5}
        assert crm.mirror_sent(engine, client_factory=factory).retried == 5
    finally:
        session.rollback()
        worker.stop(timeout=5)
    fake_chatwoot.up()

    crm.mirror_sent(engine, now=utcnow() + timedelta(hours=2), client_factory=factory)
    crm.mirror_sent(engine, now=utcnow() + timedelta(hours=4), client_factory=factory)

    counts = cw.outgoing_counts()
    assert sorted(counts.values()) == [1] * 5  # one message in each of five conversations
    by_contact = {cw.conversation(c).contact_id for c in counts}
    assert by_contact == {c.chatwoot_contact_id for c in synced}
    assert not fake_chatwoot.requests("contacts#create")  # synced contacts: no new ones
    session.commit()
