"""Dates entering from outside are bounded to years 2000-2100 (issue 16, item 1): the API, the
command line and the editor answer a clear error naming the field, and the estimate never breaks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from core import campaigns
from core.base import ValidationError, parse_datetime
from core.campaigns import Pace, describe_estimate, estimate
from core.cli import main
from core.models import Campaign
from tests.builders import make_api_token, make_campaign_row, make_contact, make_sender_instance

ROOT = Path(__file__).resolve().parent.parent
EDGES = [
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59Z",
    "2101-01-01T00:00:00Z",
    "1999-12-31T23:59:59Z",
]


@pytest.fixture
def world(session, account, manager):
    instance = make_sender_instance(session, account, "main", state="open")
    make_contact(session, account, "+5511999990001", "Ana", ["vip"])
    headers = {"api_access_token": make_api_token(session, manager)}
    session.commit()
    return {"instance": instance, "headers": headers}


def _url(account) -> str:
    return f"/api/v1/accounts/{account.id}/whatsapp_api_campaigns"


def _body(world, **overrides):
    body = {
        "title": "Promo",
        "message": "Hi",
        "audience": {"labels": ["vip"]},
        "instance_ids": [world["instance"].id],
    }
    return {**body, **overrides}


def _count(engine) -> int:
    # A session of its own, closed at once: the test's session must not hold SQLite's lock.
    with Session(engine) as reader:
        return reader.scalar(select(func.count(Campaign.id)))


@pytest.mark.parametrize("value", EDGES)
def test_core_parser_refuses_dates_outside_the_range_naming_the_field(value):
    with pytest.raises(ValidationError) as caught:
        parse_datetime(value, "scheduled_at", "America/Sao_Paulo")
    assert caught.value.field == "scheduled_at"
    assert "between the years 2000 and 2100" in str(caught.value)


def test_core_parser_takes_the_range_and_local_times():
    assert parse_datetime("2100-12-31T23:59:59Z", "x") == datetime(
        2100, 12, 31, 23, 59, 59, tzinfo=UTC
    )
    assert parse_datetime("2030-01-01T09:00", "x", "America/Sao_Paulo") == datetime(
        2030, 1, 1, 12, 0, tzinfo=UTC
    )
    assert parse_datetime("", "x") is None
    with pytest.raises(ValidationError, match="not an ISO 8601"):
        parse_datetime("99999-01-01", "x")


@pytest.mark.parametrize("value", EDGES)
def test_api_create_refuses_an_edge_date_with_422_and_writes_nothing(
    client, engine, account, world, value
):
    before = _count(engine)
    answer = client.post(
        _url(account), json=_body(world, scheduled_at=value), headers=world["headers"]
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "scheduled_at"
    assert _count(engine) == before


@pytest.mark.parametrize("value", EDGES)
def test_api_update_refuses_an_edge_date_with_422_and_changes_nothing(
    client, engine, account, world, value
):
    created = client.post(_url(account), json=_body(world), headers=world["headers"]).json()
    answer = client.patch(
        f"{_url(account)}/{created['id']}", json={"scheduled_at": value}, headers=world["headers"]
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "scheduled_at"
    with Session(engine) as reader:
        assert reader.get(Campaign, created["id"]).scheduled_at is None


def test_api_takes_a_date_inside_the_range(client, account, world):
    answer = client.post(
        _url(account),
        json=_body(world, scheduled_at="2099-06-01T10:00:00Z"),
        headers=world["headers"],
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["scheduled_at"].startswith("2099-06-01T10:00:00")


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+05:00"])
def test_cli_schedule_at_an_edge_is_a_clear_error_without_traceback(
    engine, session, account, world, capsys, value
):
    before = _count(engine)
    argv = ["create-campaign", "--account", str(account.id), "--title", "T", "--message", "Hi"]
    argv += ["--audience", '{"labels": ["vip"]}', "--instance", str(world["instance"].id)]
    code = main([*argv, "--schedule", value])
    _out, err = capsys.readouterr()
    assert code == 2
    assert "scheduled_at must be between the years 2000 and 2100" in err
    assert "Traceback" not in err
    assert _count(engine) == before


def test_estimate_of_a_date_stored_before_the_bounds_does_not_break():
    start = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    result = estimate(100, [Pace(10)], start, "Pacific/Kiritimati")
    assert result.ends_at is None
    assert describe_estimate(result, "Pacific/Kiritimati", start - timedelta(days=1))


def test_estimate_at_the_end_of_the_range_has_an_end():
    start = datetime(2100, 12, 31, 12, 0, tzinfo=UTC)
    result = estimate(100, [Pace(10, window_days=[0])], start, "Pacific/Kiritimati")
    assert result.ends_at is not None and result.ends_at > start


def test_editor_opens_a_campaign_stored_with_year_9999(session, account, manager, world):
    campaign = make_campaign_row(
        session,
        account,
        status="pending",
        instances=[world["instance"]],
        audience={"labels": ["vip"]},
        scheduled_at=datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    )
    session.commit()
    at = AppTest.from_file(str(ROOT / "views" / "campaign_edit.py"), default_timeout=30)
    at.session_state["actor"] = manager
    at.query_params["id"] = str(campaign.id)
    at.run()
    assert not at.exception
    date_input = next(w for w in at.date_input if w.label == "Date")
    assert date_input.value.year <= 2100
    assert campaigns.get(session, manager, campaign.id).scheduled_at.year == 9999
