"""The seed's campaign routes over the campaign service: every route, status code and role."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from api.schemas import CampaignOut
from core import campaigns
from core.base import utcnow
from core.sending import Dispatcher
from tests.builders import (
    make_account,
    make_actor,
    make_api_token,
    make_campaign_row,
    make_contact,
    make_recipient_row,
    make_sender_instance,
)
from tests.worker_harness import fast_settings

STATS_KEYS = {"total", "pending", "sent", "delivered", "read", "failed", "unknown"}


@pytest.fixture
def headers(session, admin, manager, viewer) -> dict[str, dict[str, str]]:
    tokens = {
        "admin": make_api_token(session, admin),
        "manager": make_api_token(session, manager),
        "viewer": make_api_token(session, viewer),
    }
    session.commit()
    return {
        "admin": {"api_access_token": tokens["admin"]},
        "manager": {"Authorization": f"Bearer {tokens['manager']}"},
        "viewer": {"api_access_token": tokens["viewer"]},
    }


@pytest.fixture
def setup(session, account) -> dict[str, Any]:
    instance = make_sender_instance(session, account, "main", state="open")
    ana = make_contact(session, account, "+5511999990001", "Ana", ["vip"], city="São Paulo")
    bia = make_contact(session, account, "+5511999990002", "Bia", ["vip", "new"], city="Rio")
    caio = make_contact(session, account, "+5511999990003", "Caio", [], city="Rio")
    session.commit()
    return {"instance": instance, "contacts": [ana, bia, caio]}


def base(account) -> str:
    return f"/api/v1/accounts/{account.id}/whatsapp_api_campaigns"


def seed_body(setup: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    body = {
        "title": "Black Friday",
        "message": "Hi {{name}}, 20% off today!",
        "audience": {"labels": ["vip"], "custom_attributes": {"city": "Rio"}},
        "scheduled_at": None,
        "multimedia": {
            "type": "image",
            "url": "https://example.com/promo.jpg",
            "filename": "promo.jpg",
        },
        "instance_ids": [setup["instance"].id],
    }
    body.update(overrides)
    return body


def create(client, account, headers, setup, **overrides) -> dict[str, Any]:
    answer = client.post(base(account), json=seed_body(setup, **overrides), headers=headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


# -- create / read ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_create_takes_the_seeds_json_and_answers_the_campaign(
    client, account, headers, setup, session, role, manager, admin
):
    campaign = create(client, account, headers[role], setup)
    assert campaign["title"] == "Black Friday"
    assert campaign["message"] == "Hi {{name}}, 20% off today!"
    assert campaign["status"] == "draft"
    assert campaign["audience"]["labels"] == ["vip"]
    assert campaign["multimedia"]["url"] == "https://example.com/promo.jpg"
    assert campaign["multimedia"]["type"] == "image"
    assert campaign["instance_ids"] == [setup["instance"].id]
    assert campaign["sender_id"] == (manager if role == "manager" else admin).user_id
    assert set(campaign["delivery_stats"]) >= STATS_KEYS
    for key in ("scheduled_at", "error_message", "created_at", "updated_at"):
        assert key in campaign
    fetched = client.get(f"{base(account)}/{campaign['id']}", headers=headers["viewer"])
    assert fetched.status_code == 200 and fetched.json() == campaign


def test_list_and_get_show_the_same_campaign_as_the_service_with_its_numbers(
    client, session, account, headers, setup, manager
):
    # The routes read plain rows (the numbers' ids aggregated in SQL); the service's ORM
    # objects are the reference.
    second = make_sender_instance(session, account, "second", state="open")
    session.commit()
    both = create(
        client, account, headers["manager"], setup, instance_ids=[second.id, setup["instance"].id]
    )
    none = create(client, account, headers["manager"], setup, instance_ids=[])
    assert both["instance_ids"] == sorted([second.id, setup["instance"].id])
    assert none["instance_ids"] == []
    listed = client.get(base(account), headers=headers["viewer"]).json()["payload"]
    session.expire_all()
    for campaign in (both, none):
        shown = client.get(f"{base(account)}/{campaign['id']}", headers=headers["viewer"]).json()
        reference = CampaignOut.model_validate(
            campaigns.campaign_json(campaigns.get(session, manager, campaign["id"]))
        ).model_dump(mode="json")
        assert shown == reference == next(c for c in listed if c["id"] == campaign["id"])


@pytest.mark.parametrize(
    "audience",
    [
        {"contact_ids": [1, 2]},
        {"labels": ["vip"]},
        {"custom_attributes": {"city": "Rio"}},
        {"contact_ids": [1], "labels": ["vip"], "custom_attributes": {"city": ["Rio", "SP"]}},
    ],
)
def test_the_seeds_audience_examples_are_accepted(client, account, headers, setup, audience):
    assert create(client, account, headers["manager"], setup, audience=audience)["audience"]


def test_scheduling_makes_it_pending(client, account, headers, setup):
    when = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    campaign = create(
        client, account, headers["manager"], setup, status="pending", scheduled_at=when.isoformat()
    )
    assert campaign["status"] == "pending"
    assert campaign["scheduled_at"].startswith(when.strftime("%Y-%m-%dT%H:%M"))


def test_a_campaign_created_with_only_scheduled_at_starts_at_that_time(
    client, engine, session, account, headers, setup
):
    when = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    body = seed_body(setup, scheduled_at=when.isoformat())
    body.pop("status", None)
    answer = client.post(base(account), json=body, headers=headers["manager"])
    assert answer.status_code == 201, answer.text
    campaign = answer.json()
    assert campaign["status"] == "pending" and "edit" in campaign["allowed_actions"]

    moments = iter([when - timedelta(seconds=1), when])
    worker = Dispatcher(engine, fast_settings(), worker_id="w", clock=lambda: next(moments))
    try:
        assert worker.poll_due() == []  # a second early
        assert worker.poll_due() == [campaign["id"]]  # on time
    finally:
        worker.stop(timeout=5)
    started = client.get(f"{base(account)}/{campaign['id']}", headers=headers["viewer"]).json()
    assert started["status"] == "running"
    recipients = client.get(
        f"{base(account)}/{campaign['id']}/recipients", headers=headers["viewer"]
    ).json()
    assert [r["name"] for r in recipients["payload"]] == ["Bia"]


def test_a_dated_campaign_stays_a_draft_when_the_client_asks_for_one(
    client, engine, account, headers, setup
):
    when = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    campaign = create(
        client, account, headers["manager"], setup, status="draft", scheduled_at=when.isoformat()
    )
    assert campaign["status"] == "draft"
    worker = Dispatcher(engine, fast_settings(), worker_id="w", clock=lambda: when)
    try:
        assert worker.poll_due() == []
    finally:
        worker.stop(timeout=5)
    changed = client.patch(
        f"{base(account)}/{campaign['id']}",
        json={"scheduled_at": (when + timedelta(hours=1)).isoformat()},
        headers=headers["manager"],
    ).json()
    assert changed["status"] == "draft"  # a change keeps the status unless it is sent


def test_a_scheduled_campaign_needs_a_number_and_says_so(client, session, account, headers, setup):
    make_sender_instance(session, account, "second", state="open")  # no longer the only one
    session.commit()
    when = (utcnow() + timedelta(hours=2)).isoformat()
    body = {"title": "t", "message": "x", "audience": {"labels": ["vip"]}, "scheduled_at": when}
    answer = client.post(base(account), json=body, headers=headers["manager"])
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["instance_ids"]


def test_automatic_retries_are_set_shown_and_checked(client, account, headers, setup):
    campaign = create(
        client, account, headers["manager"], setup, auto_retry_hours=6, auto_retry_limit=2
    )
    assert (campaign["auto_retry_hours"], campaign["auto_retry_limit"]) == (6, 2)
    assert campaign["auto_retries_done"] == 0 and campaign["auto_retry_at"] is None
    url = f"{base(account)}/{campaign['id']}"
    off = client.patch(url, json={"auto_retry_hours": 0}, headers=headers["manager"]).json()
    assert off["auto_retry_hours"] is None and off["auto_retry_limit"] is None
    for wrong in ({"auto_retry_hours": 73}, {"auto_retry_limit": 3}, {"auto_retry_hours": 1.5}):
        answer = client.patch(url, json=wrong, headers=headers["manager"])
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == next(iter(wrong))


def test_a_viewer_cannot_create(client, account, headers, setup):
    answer = client.post(base(account), json=seed_body(setup), headers=headers["viewer"])
    assert answer.status_code == 403 and answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "x"}, "title"),
        ({"title": "", "message": "x"}, "title"),
        ({"title": "t", "message": "x", "status": "running"}, "status"),
        ({"title": "t", "message": "x", "audience": {"lables": ["vip"]}}, "audience.lables"),
        (
            {"title": "t", "message": "x", "multimedia": {"type": "image", "url": "ftp://x"}},
            "multimedia.url",
        ),
        ({"title": "t", "message": "x", "instance_ids": [999]}, "instance_ids"),
        ({"title": "t", "message": "x", "scheduled_at": "tomorrow"}, "scheduled_at"),
        ({"title": "t", "message": "Hi {{no_such_field}}"}, "message"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(client, account, headers, setup, body, field):
    answer = client.post(base(account), json=body, headers=headers["manager"])
    assert answer.status_code == 422, answer.text
    fields = [error["field"] for error in answer.json()["errors"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), fields


def test_a_campaigns_json_can_be_sent_back_as_it_came(client, account, headers, setup):
    campaign = create(client, account, headers["manager"], setup)
    campaign["title"] = "Renamed"
    answer = client.patch(
        f"{base(account)}/{campaign['id']}", json=campaign, headers=headers["manager"]
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["title"] == "Renamed"


def test_list_is_paginated_and_filtered_by_status(client, session, account, headers, setup):
    for index in range(3):
        create(client, account, headers["manager"], setup, title=f"Draft {index}")
    make_campaign_row(session, account, status="completed", title="Done")
    session.commit()
    first = client.get(base(account), params={"per_page": 2}, headers=headers["viewer"]).json()
    assert first["meta"]["count"] == 4 and first["meta"]["page"] == 1
    assert len(first["payload"]) == 2
    second = client.get(
        base(account), params={"per_page": 2, "page": 2}, headers=headers["viewer"]
    ).json()
    assert len(second["payload"]) == 2
    assert {c["id"] for c in first["payload"]}.isdisjoint(c["id"] for c in second["payload"])
    done = client.get(base(account), params={"status": "completed"}, headers=headers["viewer"])
    assert [c["title"] for c in done.json()["payload"]] == ["Done"]
    assert done.json()["meta"]["count"] == 1


@pytest.mark.parametrize(
    "params", [{"status": "bogus"}, {"page": 0}, {"per_page": 0}, {"per_page": 101}]
)
def test_bad_list_parameters_are_422(client, account, headers, params):
    answer = client.get(base(account), params=params, headers=headers["viewer"])
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] in params


def test_another_accounts_campaign_is_404_for_every_route(client, session, account, headers, setup):
    other = make_account(session, "Other shop")
    theirs = make_campaign_row(session, other, status="draft", title="Secret plan")
    session.commit()
    url = f"{base(account)}/{theirs.id}"
    admin = headers["admin"]
    answers = [
        client.get(url, headers=admin),
        client.patch(url, json={"title": "x"}, headers=admin),
        client.delete(url, headers=admin),
        client.get(f"{url}/recipients", headers=admin),
        *[
            client.post(f"{url}/{action}", headers=admin)
            for action in ("trigger", "pause", "resume", "cancel", "retry_failed")
        ],
    ]
    assert [a.status_code for a in answers] == [404] * len(answers)
    assert all("Secret plan" not in a.text for a in answers)
    # And the other account's path itself is 404 for a non-member.
    assert client.get(base(other), headers=admin).status_code == 404


def test_a_missing_campaign_is_404(client, account, headers):
    assert client.get(f"{base(account)}/424242", headers=headers["viewer"]).status_code == 404


def test_every_campaign_route_is_403_when_campaigns_are_disabled(
    client, session, account, headers, setup
):
    campaign = create(client, account, headers["admin"], setup)
    account.campaigns_enabled = False
    session.commit()
    url = f"{base(account)}/{campaign['id']}"
    admin = headers["admin"]
    answers = [
        client.get(base(account), headers=admin),
        client.post(base(account), json=seed_body(setup), headers=admin),
        client.post(f"{base(account)}/audience_preview", json={"audience": {}}, headers=admin),
        client.get(url, headers=admin),
        client.patch(url, json={"title": "x"}, headers=admin),
        client.delete(url, headers=admin),
        client.post(f"{url}/trigger", headers=admin),
        client.get(f"{url}/recipients", headers=admin),
    ]
    assert [a.status_code for a in answers] == [403] * len(answers)
    assert "not enabled" in answers[0].json()["error"]


def test_no_token_is_401_before_anything_else(client, account):
    assert client.get(base(account)).status_code == 401
    assert client.post(base(account), json={}).status_code == 401


# -- update / delete ---------------------------------------------------------------------------


def test_patch_changes_only_what_was_sent(client, account, headers, setup):
    campaign = create(client, account, headers["manager"], setup)
    answer = client.patch(
        f"{base(account)}/{campaign['id']}", json={"title": "New title"}, headers=headers["manager"]
    )
    assert answer.status_code == 200
    assert answer.json()["title"] == "New title"
    assert answer.json()["message"] == campaign["message"]
    assert answer.json()["multimedia"] == campaign["multimedia"]


def test_a_viewer_cannot_patch_or_delete(client, account, headers, setup):
    campaign = create(client, account, headers["manager"], setup)
    url = f"{base(account)}/{campaign['id']}"
    assert client.patch(url, json={"title": "x"}, headers=headers["viewer"]).status_code == 403
    assert client.delete(url, headers=headers["viewer"]).status_code == 403


def test_delete_is_204_then_the_campaign_is_gone(client, account, headers, setup):
    campaign = create(client, account, headers["manager"], setup)
    url = f"{base(account)}/{campaign['id']}"
    answer = client.delete(url, headers=headers["manager"])
    assert answer.status_code == 204 and answer.content == b""
    assert client.get(url, headers=headers["manager"]).status_code == 404


# -- life cycle --------------------------------------------------------------------------------


def test_trigger_pause_resume_cancel(client, session, account, headers, setup):
    campaign = create(client, account, headers["manager"], setup, audience={"labels": ["vip"]})
    url = f"{base(account)}/{campaign['id']}"
    manager = headers["manager"]

    started = client.post(f"{url}/trigger", headers=manager)
    assert started.status_code == 200, started.text
    assert started.json()["status"] == "running"
    again = client.post(f"{url}/trigger", headers=manager)
    assert again.status_code == 409 and "running" in again.json()["error"]
    edit = client.patch(url, json={"title": "x"}, headers=manager)
    assert edit.status_code == 409
    assert client.delete(url, headers=manager).status_code == 409

    recipients = client.get(f"{url}/recipients", headers=headers["viewer"]).json()
    assert recipients["meta"]["count"] == 2
    assert {r["phone"] for r in recipients["payload"]} == {"+5511999990001", "+5511999990002"}
    assert {r["status"] for r in recipients["payload"]} == {"pending"}

    assert client.post(f"{url}/pause", headers=manager).json()["status"] == "paused"
    assert client.post(f"{url}/pause", headers=manager).status_code == 409
    assert client.post(f"{url}/resume", headers=manager).json()["status"] == "running"
    cancelled = client.post(f"{url}/cancel", headers=manager)
    assert cancelled.json()["status"] == "cancelled"
    skipped = client.get(f"{url}/recipients", params={"status": "skipped"}, headers=manager)
    assert skipped.json()["meta"]["count"] == 2
    assert client.post(f"{url}/resume", headers=manager).status_code == 409


def test_trigger_without_a_reachable_audience_is_422(client, account, headers, setup):
    campaign = create(
        client, account, headers["manager"], setup, audience={"labels": ["nobody-has-this"]}
    )
    answer = client.post(f"{base(account)}/{campaign['id']}/trigger", headers=headers["manager"])
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "audience"


@pytest.mark.parametrize("action", ["trigger", "pause", "resume", "cancel", "retry_failed"])
def test_a_viewer_cannot_change_a_campaigns_life(client, account, headers, setup, action):
    campaign = create(client, account, headers["manager"], setup)
    answer = client.post(f"{base(account)}/{campaign['id']}/{action}", headers=headers["viewer"])
    assert answer.status_code == 403


def test_retry_failed_requeues_a_completed_campaigns_failures(
    client, session, account, headers, setup
):
    instance = setup["instance"]
    campaign = make_campaign_row(session, account, status="completed", instances=[instance])
    ana, bia, _ = setup["contacts"]
    make_recipient_row(session, campaign, contact=ana, status="failed", error_kind="server_error")
    make_recipient_row(session, campaign, contact=bia, status="read")
    session.commit()
    url = f"{base(account)}/{campaign.id}"
    answer = client.post(f"{url}/retry_failed", headers=headers["manager"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "running"
    pending = client.get(
        f"{url}/recipients", params={"status": "pending"}, headers=headers["manager"]
    )
    assert [r["phone"] for r in pending.json()["payload"]] == [ana.phone]
    # Nothing left to retry now.
    client.post(f"{url}/pause", headers=headers["manager"])
    assert client.post(f"{url}/retry_failed", headers=headers["manager"]).status_code == 409


def test_recipients_are_paginated(client, session, account, headers, setup):
    campaign = make_campaign_row(session, account, status="running")
    for _ in range(5):
        make_recipient_row(session, campaign, status="sent")
    session.commit()
    url = f"{base(account)}/{campaign.id}/recipients"
    answer = client.get(url, params={"per_page": 2, "page": 3}, headers=headers["viewer"]).json()
    assert answer["meta"] == {"count": 5, "page": 3, "per_page": 2}
    assert len(answer["payload"]) == 1


# -- audience preview --------------------------------------------------------------------------


def test_audience_preview_counts_and_samples(client, session, account, headers, setup):
    ana, bia, caio = setup["contacts"]
    caio.opted_out_at = utcnow()
    session.commit()
    url = f"{base(account)}/audience_preview"
    answer = client.post(
        url, json={"audience": {"custom_attributes": {"city": "Rio"}}}, headers=headers["viewer"]
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["count"] == 1  # Caio opted out
    assert [c["phone"] for c in body["sample"]] == [bia.phone]
    vip = client.post(url, json={"audience": {"labels": ["VIP"]}}, headers=headers["viewer"])
    assert vip.json()["count"] == 2
    empty = client.post(url, json={"audience": {}}, headers=headers["viewer"])
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "audience"
    ids = client.post(
        url, json={"audience": {"contact_ids": [ana.id, caio.id]}}, headers=headers["viewer"]
    ).json()
    assert [c["id"] for c in ids["sample"]] == [ana.id]


def test_audience_preview_rejects_unknown_criteria(client, account, headers):
    answer = client.post(
        f"{base(account)}/audience_preview",
        json={"audience": {"label": ["vip"]}},
        headers=headers["viewer"],
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "audience.label"


def test_a_member_of_two_accounts_sees_only_the_paths_accounts_campaigns(
    client, session, account, headers, setup, manager
):
    other = make_account(session, "Second shop")
    make_actor(session, other, "admin", "zed")
    make_campaign_row(session, other, status="draft", title="Theirs")
    session.commit()
    listed = client.get(base(account), headers=headers["manager"]).json()
    assert "Theirs" not in [c["title"] for c in listed["payload"]]
