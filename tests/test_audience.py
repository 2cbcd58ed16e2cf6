"""The audience resolver: the seed's examples, every combination rule, exclusions, the cache."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from core import campaigns, contacts
from core.base import ValidationError, utcnow
from core.campaigns._audience import resolve_audience
from core.models import Account, WhatsAppStatus
from core.people import Actor
from tests.builders import make_account, make_contact


@pytest.fixture
def people(session: Session, account: Account) -> dict[str, int]:
    """A small address book: name -> contact id."""
    rows = {
        "ana": make_contact(
            session,
            account,
            name="Ana Souza",
            labels=["vip", "customer"],
            city="São Paulo",
            plan="gold",
        ),
        "bia": make_contact(
            session, account, name="Bia Lima", labels=["customer"], city="Rio", plan="basic"
        ),
        "caio": make_contact(
            session, account, name="Caio", labels=["vip"], city="são paulo ", age=30
        ),
        "duda": make_contact(session, account, name="Duda", labels=["lead"], city="Recife"),
        "edu": make_contact(session, account, name="Edu", labels=[], plan="gold"),
    }
    session.commit()
    return {name: contact.id for name, contact in rows.items()}


def ids_of(session: Session, account: Account, criteria: dict) -> set[int]:
    return set(resolve_audience(session, account.id, criteria)["id"].tolist())


def names(people: dict[str, int], *wanted: str) -> set[int]:
    return {people[name] for name in wanted}


# The seed's four examples, as its README wrote them.
def test_seed_example_contact_ids(session, account, people):
    criteria = {"contact_ids": [people["ana"], people["duda"]]}
    assert ids_of(session, account, criteria) == names(people, "ana", "duda")


def test_seed_example_labels(session, account, people):
    assert ids_of(session, account, {"labels": ["vip", "customer"]}) == names(
        people, "ana", "bia", "caio"
    )


def test_seed_example_custom_attributes(session, account, people):
    criteria = {"custom_attributes": {"city": "São Paulo"}}
    assert ids_of(session, account, criteria) == names(people, "ana", "caio")


def test_seed_example_combined(session, account, people):
    criteria = {
        "contact_ids": [people["ana"], people["bia"], people["caio"], people["duda"]],
        "labels": ["customer"],
        "custom_attributes": {"city": "São Paulo"},
    }
    assert ids_of(session, account, criteria) == names(people, "ana")


def test_labels_all_needs_every_label(session, account, people):
    criteria = {"labels": ["vip", "customer"], "labels_match": "all"}
    assert ids_of(session, account, criteria) == names(people, "ana")


def test_exclude_labels_removes_contacts(session, account, people):
    criteria = {"labels": ["customer", "vip"], "exclude_labels": ["vip"]}
    assert ids_of(session, account, criteria) == names(people, "bia")


def test_exclude_labels_alone_is_not_an_audience(session, account, people):
    with pytest.raises(ValidationError) as error:
        resolve_audience(session, account.id, {"exclude_labels": ["vip"]})
    assert error.value.field == "audience"


def test_attribute_list_matches_any_value_and_keys_combine(session, account, people):
    criteria = {"custom_attributes": {"city": ["Rio", "Recife"]}}
    assert ids_of(session, account, criteria) == names(people, "bia", "duda")
    criteria = {"custom_attributes": {"city": "são paulo", "plan": "gold"}}
    assert ids_of(session, account, criteria) == names(people, "ana")


def test_attribute_values_compare_as_text(session, account, people):
    assert ids_of(session, account, {"custom_attributes": {"age": "30"}}) == names(people, "caio")
    assert ids_of(session, account, {"custom_attributes": {"age": 30}}) == names(people, "caio")


def test_attribute_null_means_not_set(session, account, people):
    criteria = {"labels": ["vip", "customer", "lead"], "custom_attributes": {"plan": None}}
    assert ids_of(session, account, criteria) == names(people, "caio", "duda")


def test_labels_are_matched_case_insensitively(session, account, people):
    assert ids_of(session, account, {"labels": [" VIP "]}) == names(people, "ana", "caio")


def test_unknown_label_matches_nobody(session, account, people):
    assert ids_of(session, account, {"labels": ["nobody-has-this"]}) == set()


def test_opted_out_and_not_on_whatsapp_are_left_out(session, account, people):
    from core.models import Contact

    session.get(Contact, people["ana"]).opted_out_at = utcnow()
    not_on = session.get(Contact, people["caio"])
    not_on.whatsapp_status = WhatsAppStatus.NOT_ON_WHATSAPP
    session.commit()
    criteria = {"labels": ["vip", "customer"]}
    assert ids_of(session, account, criteria) == names(people, "bia")
    result = campaigns.preview_audience(session, Actor.system(account.id), criteria)
    assert result.count == 1
    assert result.excluded == 2


def test_other_accounts_contacts_never_appear(session, account, people):
    other = make_account(session, "Other")
    stranger = make_contact(session, other, labels=["vip"], city="São Paulo")
    session.commit()
    assert stranger.id not in ids_of(session, account, {"labels": ["vip"]})
    assert ids_of(session, account, {"contact_ids": [stranger.id]}) == set()
    assert ids_of(session, other, {"labels": ["vip"]}) == {stranger.id}


def test_preview_counts_and_samples_the_same_contacts_resolve_gives(session, account, people):
    criteria = {"labels": ["vip", "customer"]}
    result = campaigns.preview_audience(session, Actor.system(account.id), criteria, sample=2)
    frame = resolve_audience(session, account.id, criteria)
    assert result.count == len(frame) == 3
    assert [row["id"] for row in result.sample] == frame["id"].tolist()[:2]
    first = result.sample[0]
    assert first["name"] == "Ana Souza"
    assert first["labels"] == ["customer", "vip"]
    assert first["custom_attributes"]["city"] == "São Paulo"


def test_cache_sees_changes_made_after_it_was_loaded(session, account, people):
    from core.models import Contact

    criteria = {"labels": ["lead"]}
    assert campaigns.preview_audience(session, Actor.system(account.id), criteria).count == 1
    make_contact(session, account, name="Fábio", labels=["lead"])
    session.commit()
    assert campaigns.preview_audience(session, Actor.system(account.id), criteria).count == 2
    duda = session.get(Contact, people["duda"])
    duda.opted_out_at = utcnow()
    duda.updated_at = utcnow()
    session.commit()
    assert campaigns.preview_audience(session, Actor.system(account.id), criteria).count == 1
    session.delete(session.get(Contact, people["bia"]))
    session.commit()
    assert (
        campaigns.preview_audience(
            session, Actor.system(account.id), {"labels": ["customer"]}
        ).count
        == 1
    )


def test_a_write_that_commits_after_a_later_stamped_one_is_not_hidden_by_the_cache(
    session, account, people
):
    """An import stamps its rows with its start; an edit saved meanwhile stamps later. The
    contacts' count, ids and latest change time then say nothing happened: the revision does."""
    import io
    from datetime import timedelta

    from core.models import Contact

    manager = Actor.system(account.id)
    gold = {"custom_attributes": {"plan": "gold"}}
    assert campaigns.preview_audience(session, manager, gold).count == 2  # ana, edu
    edited_later = session.get(Contact, people["duda"])
    edited_later.updated_at = utcnow() + timedelta(hours=1)
    session.commit()
    assert campaigns.preview_audience(session, manager, gold).count == 2  # cache reloaded
    bia = session.get(Contact, people["bia"])
    csv = f"phone,plan\n{bia.phone},gold\n".encode()
    contacts.import_contacts(session, manager, io.BytesIO(csv), "plans.csv")
    session.commit()
    assert campaigns.preview_audience(session, manager, gold).count == 3


def test_attribute_keys_are_the_ones_contacts_use(session, account, people):
    viewer = Actor.system(account.id)
    assert contacts.attribute_keys(session, viewer) == ["age", "city", "plan"]


def test_empty_account_gives_an_empty_audience(session, account):
    assert (
        campaigns.preview_audience(session, Actor.system(account.id), {"labels": ["vip"]}).count
        == 0
    )


@pytest.mark.parametrize(
    ("criteria", "field"),
    [
        (None, "audience"),
        ({}, "audience"),
        ([1, 2], "audience"),
        ({"segment": "vip"}, "audience.segment"),
        ({"contact_ids": "1,2"}, "audience.contact_ids"),
        ({"contact_ids": [1, "x"]}, "audience.contact_ids"),
        ({"contact_ids": [True]}, "audience.contact_ids"),
        ({"labels": "vip"}, "audience.labels"),
        ({"labels": ["vip"], "labels_match": "most"}, "audience.labels_match"),
        ({"labels": ["  "]}, "audience.labels"),
        ({"exclude_labels": [3], "labels": ["vip"]}, "audience.exclude_labels"),
        ({"custom_attributes": ["city"]}, "audience.custom_attributes"),
        ({"custom_attributes": {"city": {"in": "x"}}}, "audience.custom_attributes.city"),
        ({"custom_attributes": {"city": []}}, "audience.custom_attributes.city"),
        ({"labels": [], "contact_ids": []}, "audience"),
    ],
)
def test_bad_criteria_name_the_key(criteria, field):
    with pytest.raises(ValidationError) as error:
        campaigns.validate_audience(criteria)
    assert error.value.field == field
    assert error.value.message


def test_validate_normalises(session):
    assert campaigns.validate_audience(
        {
            "contact_ids": ["3", 1, 3],
            "labels": ["VIP", "vip "],
            "custom_attributes": {"city": "Rio"},
        }
    ) == {
        "contact_ids": [1, 3],
        "labels": ["vip"],
        "labels_match": "any",
        "custom_attributes": {"city": ["Rio"]},
    }
