"""Message templates: variables, fallbacks, WhatsApp formatting, errors caught at save."""

from __future__ import annotations

import pytest

from core import campaigns
from core.base import ValidationError
from core.campaigns._templates import message_variables

ANA = {
    "name": "Ana Maria Souza",
    "phone": "+5511987654321",
    "custom_attributes": {"city": "Lisboa", "points": 120.0},
}


def test_builtin_variables_render():
    text = "Oi {{first_name}}! {{name}} ({{phone}})"
    assert campaigns.render_message(text, ANA) == "Oi Ana! Ana Maria Souza (+5511987654321)"


def test_custom_attributes_render_and_whole_numbers_lose_their_point():
    assert campaigns.render_message("{{ city }}: {{points}} pts", ANA) == "Lisboa: 120 pts"


def test_fallback_used_when_value_is_missing_or_empty():
    text = "Hi {{first_name|there}}, see you in {{city|your city}}"
    assert (
        campaigns.render_message(text, {"name": "", "phone": "+1"})
        == "Hi there, see you in your city"
    )
    assert campaigns.render_message(text, ANA) == "Hi Ana, see you in Lisboa"


def test_missing_value_without_fallback_renders_nothing():
    assert campaigns.render_message("Hi {{first_name}}!", {"phone": "+1"}) == "Hi !"


def test_whatsapp_formatting_passes_through():
    text = "*Promo* _today_ ~only~ ```code``` {single} {{first_name}}"
    assert campaigns.render_message(text, ANA) == "*Promo* _today_ ~only~ ```code``` {single} Ana"


def test_renders_from_model_like_objects():
    class Row:
        name = "Bia"
        phone = "+5511900000000"
        custom_attributes = {"city": "Rio"}

    assert campaigns.render_message("{{first_name}} {{city}}", Row()) == "Bia Rio"


def test_variables_lists_names():
    assert message_variables("{{a}} {{ b | x }} {{a}}") == {"a", "b"}


def test_known_variables_validate():
    text = "Hi {{first_name|there}} from {{city}}"
    assert campaigns.validate_message(text, ["city"]) == text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Hi {{nickname}}", "unknown variable {{nickname}}"),
        ("Hi {{first name}}", "malformed variable"),
        ("Hi {{first_name", "without its closing"),
        ("   ", "must not be empty"),
        ("x" * 4097, "WhatsApp allows 4096"),
    ],
)
def test_bad_templates_are_refused_with_a_reason(text, problem):
    with pytest.raises(ValidationError) as error:
        campaigns.validate_message(text, ["city"])
    assert problem in error.value.message
    assert error.value.field == "message"
