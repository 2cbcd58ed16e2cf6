"""The deliverability fields of the instance API: long pauses, warm-up, the number's age and
the read-only allowance of today; bad values are 422 naming the field."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from core.models import InstanceSend, SenderInstance
from tests.builders import make_api_token

TOKEN = "evo-secret-token-123456"


@pytest.fixture
def auth(session, admin) -> dict[str, str]:
    token = make_api_token(session, admin)
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def base(account) -> str:
    return f"/api/v1/accounts/{account.id}/whatsapp_api_instances"


def body(**overrides) -> dict:
    return {
        "name": "Main number",
        "base_url": "http://127.0.0.1:9",
        "instance_name": "shop",
        "token": TOKEN,
        **overrides,
    }


def test_the_fields_round_trip_and_the_allowance_counts_todays_sends(
    client, session, account, auth
):
    answer = client.post(
        base(account),
        json=body(
            warmup="new_number",
            long_pause_every=40,
            long_pause_min_minutes=5,
            long_pause_max_minutes=15,
        ),
        headers=auth,
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["warmup"] == "new_number" and created["number_since"] is None
    assert (created["long_pause_every"], created["long_pause_max_minutes"]) == (40, 15.0)
    allowance = created["allowance_today"]
    assert (allowance["warmup"], allowance["limit"], allowance["left"]) == (20, 20, 20)
    assert allowance["age_days"] is None  # never sent: today will be day 1

    url = f"{base(account)}/{created['id']}"
    changed = client.patch(url, json={"warmup": [7, 70], "daily_cap": 5}, headers=auth)
    assert changed.status_code == 200, changed.text
    session.add_all([InstanceSend(instance_id=created["id"]) for _ in range(3)])
    session.commit()
    shown = client.get(url, headers=auth).json()
    assert shown["warmup"] == [7, 70]
    assert shown["allowance_today"] | {"resets_at": None} == {
        "warmup": 7,
        "daily_cap": 5,
        "limit": 5,
        "sent_today": 3,
        "left": 2,
        "age_days": None,
        "resets_at": None,
        "step": 1,
        "steps": 2,
        "judgement": None,
    }
    # The worker judged a poor day: the ladder held, and the API says why.
    row = session.get(SenderInstance, created["id"])
    row.warmup_step, row.warmup_step_on = 0, date.today() - timedelta(days=3)
    row.warmup_judgement = {"verdict": "held", "score": 70, "day": "2020-01-01"}
    session.commit()
    held = client.get(url, headers=auth).json()["allowance_today"]
    assert (held["step"], held["warmup"], held["judgement"]["verdict"]) == (1, 7, "held")
    assert held["judgement"]["score"] == 70
    since = client.patch(url, json={"number_since": "2020-01-31", "warmup": "off"}, headers=auth)
    assert since.json()["number_since"] == "2020-01-31"
    assert since.json()["allowance_today"]["warmup"] is None
    session.expire_all()
    assert session.get(SenderInstance, created["id"]).warmup is None
    session.commit()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"warmup": "fast"}, "warmup"),
        ({"warmup": [20, 0]}, "warmup"),
        ({"warmup": []}, "warmup"),
        ({"number_since": "31/01/2020"}, "number_since"),
        ({"number_since": "2999-01-01"}, "number_since"),
        ({"long_pause_every": -1}, "long_pause_every"),
        ({"long_pause_min_minutes": 10, "long_pause_max_minutes": 5}, "long_pause_min_minutes"),
        ({"long_pause_max_minutes": 10_000}, "long_pause_max_minutes"),
    ],
)
def test_bad_values_are_422_naming_the_field(client, account, auth, fields, field):
    answer = client.post(base(account), json=body(**fields), headers=auth)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"].split(".")[0] == field


def test_one_instance_shows_its_health_history_of_the_last_week(client, session, account, auth):
    from datetime import UTC, datetime

    from core.models import HealthSample

    created = client.post(base(account), json=body(), headers=auth).json()
    now = datetime.now(UTC)
    for days, score, paused in ((9, 90, False), (2, 70, False), (1, 35, True)):
        session.add(
            HealthSample(
                instance_id=created["id"],
                at=now - timedelta(days=days),
                score=score,
                worst="opt_outs" if score < 90 else None,
                paused=paused,
            )
        )
    session.commit()
    shown = client.get(f"{base(account)}/{created['id']}", headers=auth)
    assert shown.status_code == 200, shown.text
    history = shown.json()["health_history"]
    assert [(p["score"], p["worst"], p["paused"]) for p in history] == [
        (70, "opt_outs", False),
        (35, "opt_outs", True),
    ]
    # The list leaves it out (one query per number would be too many).
    assert client.get(base(account), headers=auth).json()["payload"][0]["health_history"] is None
