"""Spintax: `{a|b|c}` picks one alternative per recipient, nested, deterministically; braces that
do not balance are refused when the campaign is saved; the editor's variation figures."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from core import campaigns
from core.base import ValidationError
from core.campaigns import _spintax as spintax
from core.models import CampaignRecipient
from tests.builders import make_contact, make_sender_instance

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def texts_for(text: str, recipients: int = 400, campaign_id: int = 7) -> set[str]:
    return {spintax.spin(text, campaign_id, key) for key in range(recipients)}


def test_every_alternative_is_rendered():
    assert texts_for("{Olá|Oi|E aí}, tudo bem?") == {
        "Olá, tudo bem?",
        "Oi, tudo bem?",
        "E aí, tudo bem?",
    }


def test_nested_choices_reach_every_leaf():
    text = "{Oi|{Olá|Bom dia} {amigo|cliente}}!"
    expected = {"Oi!", "Olá amigo!", "Olá cliente!", "Bom dia amigo!", "Bom dia cliente!"}
    assert texts_for(text) == expected
    assert set(spintax.all_variants(text)) == expected
    assert spintax.distinct_texts(text) == 5


def test_the_same_recipient_always_gets_the_same_text():
    text = "{a|b|c|d|e|f|g|h} {1|2|3|4|5|6|7|8}"
    first = [spintax.spin(text, 3, key) for key in range(50)]
    assert first == [spintax.spin(text, 3, key) for key in range(50)]
    # Another campaign chooses afresh (the seed holds the campaign too).
    assert first != [spintax.spin(text, 4, key) for key in range(50)]


def test_variables_keep_their_meaning_inside_and_outside_choices():
    text = "{Oi|Olá} {{first_name|there}}, {{{city}}|você}!"
    rendered = {
        campaigns.render_message(
            text, {"id": key, "name": "Ana Souza", "custom_attributes": {"city": "Rio"}}, 1
        )
        for key in range(200)
    }
    assert rendered == {"Oi Ana, Rio!", "Olá Ana, Rio!", "Oi Ana, você!", "Olá Ana, você!"}
    # `{{x|fallback}}` is a variable, never a choice.
    assert campaigns.render_message("Hi {{first_name|there}}", {"name": ""}) == "Hi there"
    assert spintax.distinct_texts("Hi {{first_name|there}}") == 1


def test_plain_braces_pass_through():
    assert spintax.spin("{single} and {{name}}", 1, 1) == "{single} and {{name}}"
    assert spintax.distinct_texts("{single}") == 1


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{Olá|Oi", "at character 1 without its closing"),
        ("Oi {a|{b|c}", "at character 4 without its closing"),
        ("Oi} tudo", "at character 3 that closes nothing"),
        ("{a|b}}", "closes nothing"),
        ("Hi {{first_name", "without its closing"),
    ],
)
def test_unbalanced_braces_are_refused_with_a_clear_message(text, needle):
    with pytest.raises(ValidationError) as raised:
        campaigns.validate_message(text, [])
    assert needle in str(raised.value)
    assert raised.value.field == "message"
    variation = campaigns.message_variation(text)
    assert variation.error is not None and variation.distinct == 0


def test_unknown_variable_inside_a_choice_is_refused():
    with pytest.raises(ValidationError, match="unknown variable"):
        campaigns.validate_message("{Oi {{nick}}|Olá}", [])


def test_variation_figures_and_the_identical_blast_flag():
    varied = campaigns.message_variation("{Oi|Olá|E aí}, {tudo bem|como vai}?")
    assert varied.distinct == 6 and len(varied.samples) == 3 and len(set(varied.samples)) == 3
    assert not varied.identical_blast(10_000)
    same = campaigns.message_variation("Promo today only!")
    assert same.distinct == 1 and same.identical_blast(spintax.IDENTICAL_BLAST_AUDIENCE)
    assert not same.identical_blast(spintax.IDENTICAL_BLAST_AUDIENCE - 1)
    assert not campaigns.message_variation("Hi {{first_name}}").identical_blast(10_000)
    # Identical alternatives are one text, and the count says so.
    assert campaigns.message_variation("{Oi|Oi}").distinct == 1


def test_a_started_campaign_stores_each_recipients_choice(session, manager, account):
    make_sender_instance(session, account, "main")
    people = [make_contact(session, account, name=f"P {i}", labels=["vip"]) for i in range(40)]
    session.commit()
    campaign = campaigns.create(
        session,
        manager,
        {"title": "Hi", "message": "{Oi|Olá|E aí} {{first_name}}", "audience": {"labels": ["vip"]}},
    )
    campaigns.trigger(session, manager, campaign.id, now=NOW)
    session.commit()
    rows = session.scalars(
        select(CampaignRecipient).where(CampaignRecipient.campaign_id == campaign.id)
    ).all()
    assert len(rows) == len(people)
    by_contact = {r.contact_id: r.rendered_text for r in rows}
    assert {text.split()[0] for text in by_contact.values()} == {"Oi", "Olá", "E"}
    for contact in people:
        # The same text the editor's preview and a test send show for that contact.
        assert by_contact[contact.id] == campaigns.render_message(
            "{Oi|Olá|E aí} {{first_name}}", {"id": contact.id, "name": contact.name}, campaign.id
        )
