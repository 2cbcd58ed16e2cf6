"""Values the domain refuses (issue 16, item 2 and "Also"): non-finite numbers, oversized or NUL
text, loose types and another account's ids answer 422 naming the field, and nothing is written;
an Infinity stored before this was refused does not break the attribute filters."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from core.base import ValidationError
from core.contacts import check_attribute_value
from core.models import Campaign, Contact
from tests.builders import make_account, make_api_token, make_contact, make_sender_instance


@pytest.fixture
def world(session, account, manager):
    instance = make_sender_instance(session, account, "main", state="open")
    ana = make_contact(session, account, "+5511999990001", "Ana", ["vip"], city="Rio")
    other = make_account(session, "Elsewhere")
    stranger = make_contact(session, other, "+5511999990009", "Zé", ["vip"])
    headers = {"api_access_token": make_api_token(session, manager)}
    session.commit()
    return {"instance": instance, "ana": ana, "stranger": stranger, "headers": headers}


def contacts_url(account) -> str:
    return f"/api/v1/accounts/{account.id}/contacts"


def campaigns_url(account) -> str:
    return f"/api/v1/accounts/{account.id}/whatsapp_api_campaigns"


def count(engine, model) -> int:
    with Session(engine) as reader:  # closed at once: no SQLite lock held by the test
        return reader.scalar(select(func.count(model.id)))


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity"])
def test_a_non_finite_attribute_is_refused_with_422(client, engine, account, world, number):
    before = count(engine, Contact)
    body = '{"phone": "+5511999990002", "custom_attributes": {"score": NUMBER}}'.replace(
        "NUMBER", number
    )
    answer = client.post(
        contacts_url(account),
        content=body,
        headers={**world["headers"], "content-type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "custom_attributes.score"
    assert "finite number" in answer.json()["error"]
    assert count(engine, Contact) == before


def test_a_non_finite_attribute_is_refused_on_update(client, engine, account, world):
    answer = client.patch(
        f"{contacts_url(account)}/{world['ana'].id}",
        content='{"custom_attributes": {"score": NaN}}',
        headers={**world["headers"], "content-type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    with Session(engine) as reader:
        assert reader.get(Contact, world["ana"].id).custom_attributes == {"city": "Rio"}


@pytest.mark.parametrize(
    ("attributes", "field"),
    [
        ({"note": "x" * 1001}, "custom_attributes.note"),
        ({"note": "a\x00b"}, "custom_attributes.note"),
        ({f"k{i}": i for i in range(101)}, "custom_attributes"),
        ({"k" * 101: 1}, "custom_attributes"),
    ],
)
def test_attribute_limits_answer_422_naming_the_field(
    client, engine, account, world, attributes, field
):
    before = count(engine, Contact)
    answer = client.post(
        contacts_url(account),
        json={"phone": "+5511999990002", "custom_attributes": attributes},
        headers=world["headers"],
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == field
    assert count(engine, Contact) == before


def test_attribute_limits_take_what_is_inside_them(client, account, world):
    attributes = {f"k{i}": "x" * 1000 for i in range(100)}
    answer = client.post(
        contacts_url(account),
        json={"phone": "+5511999990002", "custom_attributes": attributes},
        headers=world["headers"],
    )
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("value", [float("inf"), float("nan"), -float("inf")])
def test_core_refuses_non_finite_values(value):
    with pytest.raises(ValidationError, match="finite number"):
        check_attribute_value("score", value)


def test_csv_import_rejects_a_number_that_overflows_to_infinity(client, engine, account, world):
    huge = "1" + "0" * 400 + ".5"
    csv = f"phone,score\n+5511999990002,{huge}\n+5511999990003,12.5\n".encode()
    answer = client.post(
        f"{contacts_url(account)}/import",
        files={"file": ("c.csv", csv, "text/csv")},
        data={"mapping": '{"phone": "phone", "score": "number"}'},
        headers=world["headers"],
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert (report["created"], report["rejected"]) == (1, 1)
    assert report["errors"][0]["row"] == 2
    assert "finite number" in report["errors"][0]["reason"]


def test_csv_import_rejects_a_value_longer_than_the_limit(client, account, world):
    csv = f"phone,note\n+5511999990002,{'x' * 1001}\n".encode()
    answer = client.post(
        f"{contacts_url(account)}/import",
        files={"file": ("c.csv", csv, "text/csv")},
        headers=world["headers"],
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["rejected"] == 1
    assert "longer than 1000" in answer.json()["errors"][0]["reason"]


def _campaign(world, **overrides):
    body = {
        "title": "Promo",
        "message": "Hi",
        "audience": {"labels": ["vip"]},
        "instance_ids": [world["instance"].id],
    }
    return {**body, **overrides}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "Pro\x00mo"}, "title"),
        ({"message": "Hi\x00"}, "message"),
        ({"audience": {"contact_ids": [True]}}, "audience.contact_ids.0"),
        ({"instance_ids": [True]}, "instance_ids.0"),
        ({"window_days": [True]}, "window_days.0"),
        ({"auto_retry_hours": True}, "auto_retry_hours"),
        ({"audience": {"labels": ["vip"], "custom_attributes": {"score": float("nan")}}}, None),
    ],
)
def test_campaign_fields_refuse_nul_and_loose_types(
    client, engine, account, world, overrides, field
):
    import json

    before = count(engine, Campaign)
    answer = client.post(
        campaigns_url(account),
        content=json.dumps(_campaign(world, **overrides)),  # allows NaN, as a careless client
        headers={**world["headers"], "content-type": "application/json"},
    )
    assert answer.status_code == 422, answer.text
    if field:
        assert answer.json()["errors"][0]["field"] == field
    assert count(engine, Campaign) == before


def test_another_accounts_contact_ids_are_refused_naming_them(client, engine, account, world):
    stranger, ana = world["stranger"].id, world["ana"].id
    answer = client.post(
        campaigns_url(account),
        json=_campaign(world, audience={"contact_ids": [ana, stranger, 2_000_000]}),
        headers=world["headers"],
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["errors"][0]
    assert error["field"] == "audience.contact_ids"
    assert f"{stranger}, 2000000" in error["message"]
    assert count(engine, Campaign) == 0
    ok = client.post(
        campaigns_url(account),
        json=_campaign(world, audience={"contact_ids": [ana]}),
        headers=world["headers"],
    )
    assert ok.status_code == 201, ok.text


def test_a_contact_name_or_label_with_nul_is_refused(client, engine, account, world):
    for body, field in (
        ({"phone": "+5511999990002", "name": "A\x00"}, "name"),
        ({"phone": "+5511999990002", "labels": ["v\x00ip"]}, "labels"),
    ):
        answer = client.post(contacts_url(account), json=body, headers=world["headers"])
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == field
    assert count(engine, Contact) == 2


def test_an_infinity_stored_before_does_not_break_the_attribute_filters(
    client, engine, session, account, world
):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's jsonb never held Infinity")
    broken = make_contact(session, account, "+5511999990005", "Old")
    session.commit()
    with engine.begin() as connection:  # as the old code stored 1e400
        connection.execute(
            text("UPDATE contacts SET custom_attributes = :raw WHERE id = :id"),
            {"raw": '{"score": Infinity, "city": "Rio"}', "id": broken.id},
        )
    for params in ({"attribute": "city", "attribute_value": "Rio"}, {"attribute": "score"}):
        answer = client.get(contacts_url(account), params=params, headers=world["headers"])
        assert answer.status_code == 200, answer.text
    listed = client.get(
        contacts_url(account),
        params={"attribute": "city", "attribute_value": "rio"},
        headers=world["headers"],
    ).json()
    assert world["ana"].id in {row["id"] for row in listed["payload"]}
