"""The contact sync from Chatwoot, over real HTTP against the fake Chatwoot: the first run,
incremental runs (changed, new, deleted contacts; labels in step), 429 back-off, outages,
and the ways to start it (core, API, CLI, the worker's schedule)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import crm
from core.base import Conflict, utcnow
from core.chatwoot import ChatwootClient
from core.cli import main
from core.models import ChatwootLink, Contact
from tests.builders import connect_fake_chatwoot, make_api_token, make_contact
from tests.fake_chatwoot import PAGE_SIZE, FakeChatwoot, Fault
from tests.fake_chatwoot import fake_chatwoot as fake_chatwoot  # noqa: F401  (fixture)

TEN_DAYS_AGO = time.time() - 10 * 86400


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def factory(sleeps: Sleeps):
    def make(base_url: str, account_id: int, token: str) -> ChatwootClient:
        return ChatwootClient(base_url, account_id, token, timeout=10, sleep=sleeps)

    return make


@pytest.fixture
def cw(fake_chatwoot: FakeChatwoot, session, admin):
    return connect_fake_chatwoot(session, admin, fake_chatwoot)


def seed(acct, count: int) -> list[int]:
    return acct.seed_contacts(
        count,
        labels=lambda i: (["VIP"] if i % 3 == 0 else []) + (["Cold"] if i % 5 == 0 else []),
        custom_attributes=lambda i: {"city": "Recife" if i % 2 else "Natal", "n": i},
        created_at=lambda i: TEN_DAYS_AGO + i,
    )


def ours(session: Session, account) -> dict[int, Contact]:
    session.expire_all()
    rows = session.scalars(select(Contact).where(Contact.account_id == account.id)).all()
    session.commit()
    return {c.chatwoot_contact_id: c for c in rows if c.chatwoot_contact_id}


def test_a_first_sync_reads_1000_contacts_across_pages_with_labels_and_attributes(
    session, admin, account, fake_chatwoot, cw, factory
):
    ids = seed(cw, 1000)
    bad = cw.add_contact("Shorty", phone_number="+5512", created_at=TEN_DAYS_AGO)
    cw.add_contact("Mail only", email="m@example.com", created_at=TEN_DAYS_AGO)
    # Already ours (a CSV import), opted out: linked, not copied, and still opted out.
    known = cw.contact(ids[7])
    before = make_contact(session, account, known.phone_number, "Old name", ["csv"])
    before.opted_out_at = utcnow()
    session.commit()

    report = crm.sync_contacts(session, admin, client_factory=factory)

    assert report.mode == "full"
    assert (report.created, report.updated, report.rejected, report.skipped) == (999, 1, 1, 1)
    assert report.errors[0]["chatwoot_contact_id"] == bad.id
    assert report.errors[0]["template"] == "phone {phone!r}: {problem}"  # the importer's reason
    assert "too short" in report.errors[0]["reason"]
    synced = ours(session, account)
    assert set(synced) == set(ids)
    for i, cid in enumerate(ids):
        contact = synced[cid]
        fake = cw.contact(cid)
        assert contact.phone == fake.phone_number and contact.name == fake.name
        wanted = (["cold"] if i % 5 == 0 else []) + (["vip"] if i % 3 == 0 else [])
        assert contact.label_names == sorted(wanted)
        assert contact.custom_attributes == {"city": "Recife" if i % 2 else "Natal", "n": i}
    assert synced[ids[7]].id == before.id and synced[ids[7]].opted_out_at is not None
    # Pages of 15, labels per label: never a request per contact.
    assert not fake_chatwoot.requests("contacts/labels#index")
    assert not fake_chatwoot.requests("contacts#show")
    listing = [r for r in fake_chatwoot.requests("contacts#index") if "labels[]" not in r.query]
    assert len(listing) == 1 + -(-1002 // PAGE_SIZE)  # the count, then every page
    link = session.scalar(select(ChatwootLink))
    assert link.last_report["created"] == 999 and link.sync_started_at is None
    assert link.last_full_sync_at is not None


def test_an_incremental_sync_picks_up_a_changed_a_new_and_a_deleted_contact(
    session, admin, account, fake_chatwoot, cw, factory
):
    ids = seed(cw, 300)
    crm.sync_contacts(session, admin, client_factory=factory)
    fake_chatwoot.reset_log()

    cw.update_contact(ids[1], name="Renamed by the customer")
    cw.record_activity(ids[1])  # the contact wrote: Chatwoot's "changed since" sees it
    cw.set_contact_labels(ids[3], [])  # its last label removed by an agent
    cw.set_contact_labels(ids[4], ["Cold", "Newsletter"])  # labels changed by an agent
    new = cw.add_contact("Brand New", phone_number="+5511988887777", labels=["VIP"])

    report = crm.sync_contacts(session, admin, client_factory=factory)

    assert report.mode == "incremental"
    assert (report.created, report.updated, report.unlinked) == (1, 3, 0)
    synced = ours(session, account)
    assert synced[ids[1]].name == "Renamed by the customer"
    assert synced[ids[3]].label_names == []
    assert synced[ids[4]].label_names == ["cold", "newsletter"]
    assert synced[new.id].label_names == ["vip"] and synced[new.id].phone == "+5511988887777"
    # Not the whole list again: one page for the count, the label lists, the changes.
    assert (
        len([r for r in fake_chatwoot.requests("contacts#index") if "labels[]" not in r.query]) == 1
    )

    # Deleted in Chatwoot: one with labels, one without. Unlinked, never deleted here.
    fake_chatwoot.reset_log()
    cw.delete_contact(ids[0])  # VIP and Cold
    cw.delete_contact(ids[2])  # no labels
    kept = {cid: synced[cid].id for cid in (ids[0], ids[2])}

    report = crm.sync_contacts(session, admin, client_factory=factory)

    assert report.unlinked == 2 and report.created == 0
    synced = ours(session, account)
    assert ids[0] not in synced and ids[2] not in synced
    for contact_id in kept.values():
        assert session.get(Contact, contact_id) is not None  # history kept
    shows = {r.path.rsplit("/", 1)[-1] for r in fake_chatwoot.requests("contacts#show")}
    assert shows == {str(ids[0]), str(ids[2])}  # confirmed gone by id before unlinking


def test_429_is_backed_off_and_the_sync_completes(
    session, admin, account, fake_chatwoot, cw, factory, sleeps
):
    ids = seed(cw, 100)
    fake_chatwoot.fail(Fault.TOO_MANY_REQUESTS, routes=["contacts#index"], times=4)

    report = crm.sync_contacts(session, admin, client_factory=factory)

    assert report.created == 100 and set(ours(session, account)) == set(ids)
    assert len(sleeps) == 4 and all(s > 0 for s in sleeps)
    throttled = [r for r in fake_chatwoot.requests("contacts#index") if r.status == 429]
    assert len(throttled) == 4


def test_an_outage_stops_the_run_keeps_the_cursor_and_the_next_run_recovers(
    session, admin, account, fake_chatwoot, cw, factory
):
    ids = seed(cw, 60)
    fake_chatwoot.fail(Fault.SERVER_ERROR, routes=["contacts#index"])

    with pytest.raises(Conflict):
        crm.sync_contacts(session, admin, client_factory=factory)

    link = session.scalar(select(ChatwootLink).execution_options(populate_existing=True))
    assert "500" in link.last_error and link.sync_started_at is None
    assert link.synced_from is None and link.last_full_sync_at is None
    fake_chatwoot.clear_faults()
    report = crm.sync_contacts(session, admin, client_factory=factory)
    assert report.mode == "full" and set(ours(session, account)) == set(ids)
    assert session.scalar(select(ChatwootLink)).last_error is None


def test_two_syncs_never_run_at_once(session, admin, cw, factory):
    link = session.scalar(select(ChatwootLink))
    link.sync_started_at = utcnow()
    session.commit()

    with pytest.raises(Conflict):
        crm.sync_contacts(session, admin, client_factory=factory)


def test_the_worker_syncs_when_due_and_not_when_off(
    engine, session, admin, account, fake_chatwoot, cw, factory
):
    seed(cw, 20)
    now = utcnow()

    assert crm.run_due_syncs(engine, now=now, client_factory=factory) == 1
    link = session.scalar(select(ChatwootLink).execution_options(populate_existing=True))
    assert link.next_sync_at == now + timedelta(minutes=15)
    assert len(ours(session, account)) == 20
    session.rollback()  # SQLite: a reader's open transaction would hold the write lock
    assert crm.run_due_syncs(engine, now=now + timedelta(minutes=5), client_factory=factory) == 0

    crm.connect_chatwoot(session, admin, {"sync_every_minutes": 0})
    session.commit()
    assert crm.run_due_syncs(engine, now=now + timedelta(days=1), client_factory=factory) == 0


def test_sync_now_from_the_api_and_the_cli(
    client, session, admin, viewer, account, fake_chatwoot, cw, capsys
):
    seed(cw, 30)
    headers = {"api_access_token": make_api_token(session, admin)}
    viewer_headers = {"api_access_token": make_api_token(session, viewer)}
    session.commit()
    url = f"/api/v1/accounts/{account.id}/chatwoot/sync"

    assert client.post(url, headers=viewer_headers).status_code == 403
    answer = client.post(url, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == 30 and answer.json()["mode"] == "full"

    code = main(["sync-chatwoot", "--account", str(account.id)])
    out, err = capsys.readouterr()
    assert code == 0, err
    labelled = sum(1 for i in range(30) if i % 3 == 0 or i % 5 == 0)  # only they are re-read
    assert f"incremental sync: created 0, updated 0, unchanged {labelled}, rejected 0" in out
