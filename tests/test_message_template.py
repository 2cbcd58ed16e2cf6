"""Message templates: variables, fallbacks, WhatsApp formatting, errors caught at save."""

from __future__ import annotations

import pytest

from core import message_template
from core.errors import ValidationError

ANA = {
    "name": "Ana Maria Souza",
    "phone": "+5511987654321",
    "custom_attributes": {"city": "Lisboa", "points": 120.0},
}


def test_builtin_variables_render():
    text = "Oi {{first_name}}! {{name}} ({{phone}})"
    assert message_template.render(text, ANA) == "Oi Ana! Ana Maria Souza (+5511987654321)"


def test_custom_attributes_render_and_whole_numbers_lose_their_point():
    assert message_template.render("{{ city }}: {{points}} pts", ANA) == "Lisboa: 120 pts"


def test_fallback_used_when_value_is_missing_or_empty():
    text = "Hi {{first_name|there}}, see you in {{city|your city}}"
    assert (
        message_template.render(text, {"name": "", "phone": "+1"})
        == "Hi there, see you in your city"
    )
    assert message_template.render(text, ANA) == "Hi Ana, see you in Lisboa"


def test_missing_value_without_fallback_renders_nothing():
    assert message_template.render("Hi {{first_name}}!", {"phone": "+1"}) == "Hi !"


def test_whatsapp_formatting_passes_through():
    text = "*Promo* _today_ ~only~ ```code``` {single} {{first_name}}"
    assert message_template.render(text, ANA) == "*Promo* _today_ ~only~ ```code``` {single} Ana"


def test_renders_from_model_like_objects():
    class Row:
        name = "Bia"
        phone = "+5511900000000"
        custom_attributes = {"city": "Rio"}

    assert message_template.render("{{first_name}} {{city}}", Row()) == "Bia Rio"


def test_variables_lists_names():
    assert message_template.variables("{{a}} {{ b | x }} {{a}}") == {"a", "b"}


def test_known_variables_validate():
    text = "Hi {{first_name|there}} from {{city}}"
    assert message_template.validate(text, ["city"]) == text


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
        message_template.validate(text, ["city"])
    assert problem in error.value.message
    assert error.value.field == "message"
