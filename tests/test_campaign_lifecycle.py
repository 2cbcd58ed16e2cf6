"""The campaign service: authoring, every allowed and refused transition, starting exactly once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import campaigns
from core.base import Conflict, NotFound, PermissionDenied, ValidationError, utcnow
from core.campaigns import Pace, campaign_counts, describe_estimate, estimate
from core.models import (
    AuditLog,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Notification,
    RecipientStatus,
)
from tests.builders import (
    make_account,
    make_actor,
    make_campaign_row,
    make_contact,
    make_recipient_row,
    make_sender_instance,
)

S = CampaignStatus
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def vips(session, account):
    contacts = [
        make_contact(session, account, name=f"Vip {i}", labels=["vip"], city="Rio")
        for i in range(3)
    ]
    session.commit()
    return contacts


def data(**overrides):
    base = {
        "title": "Spring sale",
        "message": "Hi {{first_name|there}}, *20% off* in {{city}}",
        "audience": {"labels": ["vip"]},
    }
    base.update(overrides)
    return base


def recipients(
    session: Session, campaign_id: int, is_test: bool = False
) -> list[CampaignRecipient]:
    return list(
        session.scalars(
            select(CampaignRecipient)
            .where(
                CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.is_test.is_(is_test)
            )
            .order_by(CampaignRecipient.contact_id)
        )
    )


def audit_actions(session: Session, campaign_id: int) -> list[str]:
    return list(
        session.scalars(
            select(AuditLog.action)
            .where(AuditLog.object_type == "campaign", AuditLog.object_id == str(campaign_id))
            .order_by(AuditLog.id)
        )
    )


# -- authoring ----------------------------------------------------------------------------------


def test_create_records_sender_default_number_and_audit(session, manager, number, vips):
    campaign = campaigns.create(session, manager, data())
    session.commit()
    assert campaign.status == S.DRAFT
    assert campaign.sender_id == manager.user_id
    assert [i.id for i in campaign.instances] == [number.id]  # the account's only number
    assert audit_actions(session, campaign.id) == ["campaign.create"]
    as_json = campaigns.campaign_json(campaign)
    assert as_json["audience"] == {"labels": ["vip"], "labels_match": "any"}
    assert as_json["instance_ids"] == [number.id]


def test_create_collects_every_field_problem(session, manager, number):
    with pytest.raises(ValidationError) as error:
        campaigns.create(
            session,
            manager,
            {
                "title": " ",
                "message": "Hi {{nickname}}",
                "audience": {"segment": "x"},
                "multimedia": {"type": "gif", "url": "https://x.io/a.gif"},
                "scheduled_at": "yesterday",
                "status": "running",
                "instance_ids": [number.id + 100],
                "colour": "red",
            },
            now=NOW,
        )
    fields = {item["field"] for item in error.value.errors}
    assert {
        "title",
        "message",
        "audience.segment",
        "multimedia.type",
        "scheduled_at",
        "status",
        "instance_ids",
        "colour",
    } <= fields


def test_scheduling_in_the_past_is_refused_only_when_the_time_is_set(
    session, manager, number, vips
):
    with pytest.raises(ValidationError) as error:
        campaigns.create(
            session, manager, data(status="pending", scheduled_at="2026-03-01T09:00:00Z"), now=NOW
        )
    assert error.value.field == "scheduled_at"
    campaign = campaigns.create(
        session, manager, data(status="pending", scheduled_at="2026-03-02T12:30:00Z"), now=NOW
    )
    # Its time passes; editing something else must still work (the seed's bug).
    later = NOW + timedelta(hours=1)
    campaigns.update(session, manager, campaign.id, {"title": "Renamed"}, now=later)
    assert campaign.title == "Renamed"
    assert campaign.scheduled_at == datetime(2026, 3, 2, 12, 30, tzinfo=UTC)


def test_scheduled_time_without_offset_is_in_the_accounts_timezone(session, manager, number, vips):
    campaign = campaigns.create(
        session, manager, data(status="pending", scheduled_at="2026-03-02T15:00"), now=NOW
    )
    assert campaign.scheduled_at == datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # São Paulo is -3


def test_pending_needs_a_number_and_someone_to_send_to(session, manager, account, vips):
    make_sender_instance(session, account, "one")
    make_sender_instance(session, account, "two")  # two numbers: none is chosen by default
    with pytest.raises(ValidationError) as error:
        campaigns.create(session, manager, data(status="pending"), now=NOW)
    assert error.value.field == "instance_ids"
    with pytest.raises(ValidationError) as error:
        campaigns.create(session, manager, data(status="pending", audience={"labels": ["nobody"]}))
    assert {e["field"] for e in error.value.errors} >= {"instance_ids"}


def test_instances_of_another_account_are_refused(session, manager, number, vips):
    other = make_account(session, "Other")
    foreign = make_sender_instance(session, other, "theirs")
    with pytest.raises(ValidationError) as error:
        campaigns.create(session, manager, data(instance_ids=[foreign.id]))
    assert error.value.field == "instance_ids"


def test_viewer_may_not_create_and_others_campaigns_are_not_found(
    session, viewer, manager, number, vips
):
    with pytest.raises(PermissionDenied):
        campaigns.create(session, viewer, data())
    campaign = campaigns.create(session, manager, data())
    other = make_account(session, "Other")
    stranger = make_actor(session, other)
    with pytest.raises(NotFound):
        campaigns.get(session, stranger, campaign.id)
    with pytest.raises(NotFound):
        campaigns.trigger(session, stranger, campaign.id)


def test_campaigns_turned_off_for_the_account(session, manager, account, number, vips):
    account.campaigns_enabled = False
    session.commit()
    with pytest.raises(PermissionDenied):
        campaigns.create(session, manager, data())


def test_media_only_campaign_needs_no_text(session, manager, number, vips):
    campaign = campaigns.create(
        session,
        manager,
        data(message="", multimedia={"type": "image", "url": "https://x.io/p.png"}),
    )
    assert campaign.message == ""
    assert campaign.multimedia["mimetype"] == "image/png"


def test_duplicate_is_a_new_unscheduled_draft(session, manager, number, vips):
    source = campaigns.create(
        session, manager, data(status="pending", scheduled_at="2026-03-03T10:00:00Z"), now=NOW
    )
    copy = campaigns.duplicate(session, manager, source.id)
    assert (copy.status, copy.scheduled_at, copy.title) == (S.DRAFT, None, "Spring sale (copy)")
    assert copy.audience == source.audience
    assert [i.id for i in copy.instances] == [number.id]


def test_list_filters_by_status_and_pages(session, manager, number, vips):
    for i in range(3):
        campaigns.create(session, manager, data(title=f"c{i}"))
    scheduled = campaigns.create(
        session, manager, data(status="pending", scheduled_at="2026-03-03T10:00:00Z"), now=NOW
    )
    rows, total = campaigns.list_campaigns(session, manager, status="pending")
    assert (total, [r.id for r in rows]) == (1, [scheduled.id])
    rows, total = campaigns.list_campaigns(session, manager, page=2, per_page=3)
    assert total == 4 and len(rows) == 1
    with pytest.raises(ValidationError):
        campaigns.list_campaigns(session, manager, status="sleeping")


# -- transitions --------------------------------------------------------------------------------

ACTIONS = ["trigger", "pause", "resume", "cancel", "retry_failed", "update", "delete"]
ALLOWED = {
    "trigger": {S.DRAFT, S.PENDING},
    "pause": {S.RUNNING},
    "resume": {S.PAUSED},
    "cancel": {S.PENDING, S.RUNNING, S.PAUSED},
    "retry_failed": {S.COMPLETED},
    "update": {S.DRAFT, S.PENDING},
    "delete": set(S) - {S.RUNNING},
}


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize("action", ACTIONS)
def test_every_transition_is_allowed_or_refused(session, manager, number, vips, status, action):
    campaign = make_campaign_row(
        session,
        manager_account(session, manager),
        status=status,
        instances=[number],
        audience={"labels": ["vip"]},
    )
    make_recipient_row(session, campaign, status="failed")  # something to retry
    session.commit()
    call = {
        "update": lambda: campaigns.update(session, manager, campaign.id, {"title": "New"}),
        "delete": lambda: campaigns.delete(session, manager, campaign.id),
    }.get(action, lambda: getattr(campaigns, action)(session, manager, campaign.id))
    if status in ALLOWED[action]:
        call()
        session.commit()
        if action == "delete":
            assert session.get(Campaign, campaign.id) is None
        else:
            session.refresh(campaign)
            expected = (
                campaigns.TRANSITIONS[action][1] if action in campaigns.TRANSITIONS else status
            )
            assert campaign.status == expected
    else:
        with pytest.raises(Conflict):
            call()
        session.rollback()
        assert session.get(Campaign, campaign.id).status == status


@pytest.mark.parametrize("status", list(S))
def test_allowed_actions_say_what_the_life_cycle_does(status):
    """Pages and the API draw their buttons from allowed_actions: it must agree with the table
    the services above are held to (`update` is the page's "edit")."""
    offered = campaigns.allowed_actions(status)
    expected = {
        ("edit" if action == "update" else action)
        for action, statuses in ALLOWED.items()
        if status in statuses
    }
    assert offered - {"duplicate", "test_send"} == expected
    assert "duplicate" in offered
    assert ("test_send" in offered) == (status in campaigns.TEST_SEND_STATUSES)


def manager_account(session, manager):
    from core.models import Account

    return session.get(Account, manager.account_id)


def test_trigger_freezes_rendered_recipients_once(session, manager, number, vips):
    from core.models import Contact

    vips[1].opted_out_at = utcnow()
    make_contact(session, manager_account(session, manager), name="Not vip", labels=["lead"])
    session.commit()
    campaign = campaigns.create(session, manager, data())
    campaigns.trigger(session, manager, campaign.id, now=NOW)
    session.commit()
    assert campaign.status == S.RUNNING and campaign.started_at == NOW
    rows = recipients(session, campaign.id)
    assert [r.contact_id for r in rows] == [vips[0].id, vips[2].id]
    assert rows[0].rendered_text == "Hi Vip, *20% off* in Rio"
    assert {r.status for r in rows} == {RecipientStatus.PENDING}
    assert rows[0].phone == session.get(Contact, vips[0].id).phone
    with pytest.raises(Conflict):
        campaigns.trigger(session, manager, campaign.id)
    session.rollback()
    assert not campaigns.start(session, campaign.id, NOW, campaigns.EDITABLE)
    assert len(recipients(session, campaign.id)) == 2
    assert audit_actions(session, campaign.id) == ["campaign.create", "campaign.trigger"]


def test_trigger_refuses_an_empty_audience_and_no_number(session, manager, account, vips):
    make_sender_instance(session, account, "a")
    make_sender_instance(session, account, "b")
    campaign = campaigns.create(session, manager, data())
    with pytest.raises(ValidationError) as error:
        campaigns.trigger(session, manager, campaign.id)
    assert error.value.field == "instance_ids"


def test_start_of_an_audience_that_emptied_fails_with_a_reason(session, manager, number, vips):
    campaign = campaigns.create(session, manager, data(audience={"labels": ["vip"]}))
    for contact in vips:
        contact.opted_out_at = utcnow()
    session.commit()
    assert campaigns.start(session, campaign.id, NOW, campaigns.EDITABLE)
    session.commit()
    session.refresh(campaign)
    assert campaign.status == S.FAILED
    assert "no contacts" in campaign.error_message
    assert session.scalar(select(func.count()).select_from(Notification)) == 1


def test_start_due_starts_only_pending_campaigns_whose_time_came(session, manager, number, vips):
    due = campaigns.create(
        session, manager, data(status="pending", scheduled_at="2026-03-02T12:05:00Z"), now=NOW
    )
    later = campaigns.create(
        session, manager, data(status="pending", scheduled_at="2026-03-02T13:00:00Z"), now=NOW
    )
    draft = campaigns.create(session, manager, data())
    session.commit()
    assert campaigns.start_due(session, NOW + timedelta(minutes=10)) == [due.id]
    session.commit()
    assert campaigns.start_due(session, NOW + timedelta(minutes=10)) == []
    statuses = {c.id: session.get(Campaign, c.id).status for c in (due, later, draft)}
    assert statuses == {due.id: S.RUNNING, later.id: S.PENDING, draft.id: S.DRAFT}
    assert len(recipients(session, due.id)) == 3


def test_update_loses_to_a_start_that_came_first(session, manager, number, vips, engine):
    campaign = campaigns.create(
        session, manager, data(status="pending", scheduled_at="2026-03-02T12:05:00Z"), now=NOW
    )
    session.commit()
    with Session(engine) as worker:
        assert campaigns.start_due(worker, NOW + timedelta(minutes=6)) == [campaign.id]
        worker.commit()
    with pytest.raises(Conflict):
        campaigns.update(session, manager, campaign.id, {"title": "Too late"})


def test_cancel_skips_recipients_not_yet_sent(session, manager, number, vips):
    campaign = campaigns.create(session, manager, data())
    campaigns.trigger(session, manager, campaign.id, now=NOW)
    first = recipients(session, campaign.id)[0]
    first.status = RecipientStatus.SENT
    session.commit()
    campaigns.cancel(session, manager, campaign.id, now=NOW)
    session.commit()
    assert sorted(r.status for r in recipients(session, campaign.id)) == [
        "sent",
        "skipped",
        "skipped",
    ]
    assert campaign.completed_at == NOW


def test_retry_failed_requeues_failed_and_unknown_but_not_numbers_off_whatsapp(
    session, manager, number, vips
):
    campaign = make_campaign_row(
        session, manager_account(session, manager), status="completed", instances=[number]
    )
    failed = make_recipient_row(
        session, campaign, contact=vips[0], status="failed", attempts=5, error_kind="retry"
    )
    unknown = make_recipient_row(session, campaign, contact=vips[1], status="unknown", attempts=1)
    off = make_recipient_row(
        session, campaign, contact=vips[2], status="failed", error_kind="not_on_whatsapp"
    )
    sent = make_recipient_row(session, campaign, status="sent")
    session.commit()
    assert campaigns.retry_failed(session, manager, campaign.id) == 2
    session.commit()
    for row in (failed, unknown, off, sent):
        session.refresh(row)
    assert (failed.status, failed.attempts, unknown.status) == ("pending", 0, "pending")
    assert (off.status, sent.status) == ("failed", "sent")
    assert session.get(Campaign, campaign.id).status == S.RUNNING
    assert audit_actions(session, campaign.id) == ["campaign.retry"]


def test_retry_with_nothing_to_retry_is_refused(session, manager, number):
    campaign = make_campaign_row(
        session, manager_account(session, manager), status="completed", instances=[number]
    )
    make_recipient_row(session, campaign, status="delivered")
    session.commit()
    with pytest.raises(Conflict):
        campaigns.retry_failed(session, manager, campaign.id)


def test_send_test_queues_marked_recipients_outside_the_stats(session, manager, number, vips):
    campaign = campaigns.create(session, manager, data())
    queued = campaigns.send_test(
        session, manager, campaign.id, ["+55 11 91234-5678", vips[2].phone]
    )
    session.commit()
    assert [r.is_test for r in queued] == [True, True]
    assert queued[0].phone == "+5511912345678"
    assert queued[0].rendered_text == "Hi Vip, *20% off* in Rio"  # the audience's first contact
    assert campaign.status == S.DRAFT
    assert campaign_counts(session, campaign.id)["total"] == 0
    with pytest.raises(ValidationError):
        campaigns.send_test(session, manager, campaign.id, ["not a phone"])
    with pytest.raises(ValidationError):
        campaigns.send_test(session, manager, campaign.id, [])


def test_audit_trail_of_a_life(session, manager, number, vips):
    campaign = campaigns.create(session, manager, data())
    campaigns.update(session, manager, campaign.id, {"message": "Hello {{name}}"})
    campaigns.trigger(session, manager, campaign.id)
    campaigns.pause(session, manager, campaign.id)
    campaigns.resume(session, manager, campaign.id)
    campaigns.cancel(session, manager, campaign.id)
    campaigns.delete(session, manager, campaign.id)
    session.commit()
    assert audit_actions(session, campaign.id) == [
        "campaign.create",
        "campaign.update",
        "campaign.trigger",
        "campaign.pause",
        "campaign.resume",
        "campaign.cancel",
        "campaign.delete",
    ]


def test_two_concurrent_triggers_start_the_campaign_once(pg_engine):
    """Two connections race the compare-and-set on PostgreSQL; one wins, one is told so."""
    with Session(pg_engine, expire_on_commit=False) as session:
        account = make_account(session, "Race")
        actor = make_actor(session, account)
        instance = make_sender_instance(session, account, "n")
        for _ in range(50):
            make_contact(session, account, labels=["all"])
        campaign = campaigns.create(
            session,
            actor,
            data(audience={"labels": ["all"]}, message="Hi", instance_ids=[instance.id]),
        )
        session.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def click() -> None:
        with Session(pg_engine) as mine:
            campaigns.get(mine, actor, campaign.id)
            barrier.wait()
            try:
                campaigns.trigger(mine, actor, campaign.id)
                mine.commit()
                outcomes.append("started")
            except Conflict:
                mine.rollback()
                outcomes.append("conflict")

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["conflict", "started"]
    with Session(pg_engine) as session:
        assert len(recipients(session, campaign.id)) == 50
        triggers = session.scalar(select(func.count()).where(AuditLog.action == "campaign.trigger"))
        assert triggers == 1


# -- the estimate -------------------------------------------------------------------------------


def test_estimate_two_numbers_without_windows():
    result = estimate(1240, [Pace(12), Pace(12)], NOW, "UTC")
    assert result.numbers == 2
    assert abs(result.duration.total_seconds() - 1240 / 24 * 60) < 60
    text = describe_estimate(result, "UTC", NOW).replace("\u202f", " ")
    assert text == "1,240 recipients · 2 numbers at 12/min · about 52 min · ends today 12:51 PM"


def test_estimate_waits_for_the_send_window():
    # The campaign's window is 09:00-18:00 local; it is scheduled at 20:00 in São Paulo.
    evening = datetime(2026, 3, 2, 23, 0, tzinfo=UTC)
    result = estimate(120, [Pace(60)], evening, "America/Sao_Paulo", (time(9), time(18), None))
    assert result.ends_at == datetime(2026, 3, 3, 12, 2, tzinfo=UTC)  # 09:02 next morning
    assert "ends tomorrow" in describe_estimate(result, "America/Sao_Paulo", evening)


def test_estimate_respects_daily_caps_and_weekdays():
    result = estimate(250, [Pace(60, daily_cap=100)], NOW, "UTC", (None, None, [0, 1, 2, 3, 4]))
    # Monday 100, Tuesday 100, Wednesday the last 50.
    assert result.ends_at.date() == datetime(2026, 3, 4).date()


def test_estimate_never_ends_without_numbers_or_open_days():
    assert estimate(10, [], NOW, "UTC").ends_at is None
    assert estimate(10, [Pace(12, window_days=[])], NOW, "UTC").ends_at is None


def test_confirmation_above_the_accounts_threshold(session, manager, account):
    account.confirm_above_recipients = 100
    session.commit()
    assert not campaigns.needs_confirmation(session, manager, 100)
    assert campaigns.needs_confirmation(session, manager, 101)


# -- the command line ---------------------------------------------------------------------------


def test_cli_create_campaign(session, account, number, vips, capsys):
    from core.cli import main

    code = main(
        [
            "create-campaign",
            "--account",
            str(account.id),
            "--title",
            "From a script",
            "--message",
            "Hi {{first_name}}",
            "--audience",
            '{"labels": ["vip"]}',
            "--instance",
            str(number.id),
            "--schedule",
            "2099-01-01T10:00",
            "--media",
            '{"type": "image", "url": "https://x.io/a.jpg"}',
        ]
    )
    assert code == 0
    campaign_id = int(capsys.readouterr().out.strip())
    session.expire_all()
    campaign = session.get(Campaign, campaign_id)
    assert (campaign.status, campaign.multimedia["type"]) == (S.PENDING, "image")
    assert (
        main(
            [
                "create-campaign",
                "--account",
                str(account.id),
                "--title",
                "x",
                "--message",
                "m",
                "--audience",
                "{bad",
            ]
        )
        == 2
    )
    assert "not valid JSON" in capsys.readouterr().err


def _statements_to_list(engine, session, actor) -> int:
    from sqlalchemy import event

    seen: list[str] = []

    def count(*args) -> None:  # type: ignore[no-untyped-def]
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        session.expire_all()
        rows, _total = campaigns.list_campaigns(session, actor, per_page=50)
        counts = campaigns.recipient_counts(session, actor, [row.id for row in rows])
        shown = [(row.title, [i.name for i in row.instances], counts[row.id]) for row in rows]
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(shown) == len(rows)
    return len(seen)


def test_the_campaign_list_costs_the_same_queries_for_two_or_twenty(
    engine, session, manager, number
):
    """What the list page shows (numbers, progress) is loaded in a fixed number of queries."""
    account = manager_account(session, manager)
    for index in range(2):
        make_recipient_row(
            session, make_campaign_row(session, account, instances=[number], title=f"a{index}")
        )
    session.commit()
    few = _statements_to_list(engine, session, manager)
    for index in range(18):
        make_recipient_row(
            session, make_campaign_row(session, account, instances=[number], title=f"b{index}")
        )
    session.commit()
    many = _statements_to_list(engine, session, manager)
    assert many == few


def test_staff_opting_a_contact_out_takes_them_out_of_unfinished_queues(session, manager, number):
    account = manager_account(session, manager)
    contact = make_contact(session, account, name="Zé")
    running = make_campaign_row(session, account, instances=[number], title="running")
    finished = make_campaign_row(session, account, status="completed", title="done")
    queued = make_recipient_row(session, running, contact=contact, status="pending")
    sent_before = make_recipient_row(session, finished, contact=contact, status="sent")
    session.commit()

    campaigns.set_opted_out(session, manager, contact.id, True)
    session.commit()

    session.refresh(queued)
    session.refresh(sent_before)
    assert (queued.status, sent_before.status) == ("skipped", "sent")
