"""Message templates: `{{name}}`, `{{first_name}}`, `{{phone}}`, `{{<attribute>}}`, `{{x|fallback}}`.

Only `{{...}}` is special, so WhatsApp formatting (`*bold*`, `_italic_`, `~strike~`) passes
through untouched. Variables are checked when a campaign is saved (`validate`), and each
recipient's text is rendered once, when the campaign starts, and stored on its row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from core.errors import ValidationError

BUILTIN_VARIABLES = ("name", "first_name", "phone")
MAX_LENGTH = 4096  # WhatsApp's limit for a text message

# {{ variable }} or {{ variable | fallback text }}; a variable is a word that may hold . or -
# (CSV headers such as "plan-type" become attribute names as they are).
_VARIABLE = re.compile(r"\{\{\s*([^{}|]*?)\s*(?:\|([^{}]*))?\}\}")
_NAME = re.compile(r"^[^\W\d][\w.-]*$")


def _matches(text: str) -> Iterable[re.Match[str]]:
    return _VARIABLE.finditer(text or "")


def variables(text: str) -> set[str]:
    """The variable names the text uses (well-formed or not)."""
    return {match.group(1) for match in _matches(text)}


def validate(text: str, known_attributes: Iterable[str], field: str = "message") -> str:
    """The text, or `ValidationError` naming the first unknown or malformed variable."""
    if text is None or not text.strip():
        raise ValidationError("message must not be empty", field)
    if len(text) > MAX_LENGTH:
        raise ValidationError(
            f"message is {len(text)} characters long; WhatsApp allows {MAX_LENGTH}", field
        )
    known = set(BUILTIN_VARIABLES) | set(known_attributes)
    for match in _matches(text):
        name = match.group(1)
        if not _NAME.match(name):
            raise ValidationError(f"message has a malformed variable {match.group(0)!r}", field)
        if name not in known:
            suggestions = ", ".join("{{" + k + "}}" for k in sorted(known))
            raise ValidationError(
                f"message uses the unknown variable {{{{{name}}}}} (known: {suggestions})", field
            )
    unclosed = re.sub(_VARIABLE, "", text)
    if "{{" in unclosed:
        raise ValidationError("message has a '{{' without its closing '}}'", field)
    return text


def _field(contact: Any, name: str) -> Any:
    if isinstance(contact, Mapping):
        return contact.get(name)
    return getattr(contact, name, None)


def context(contact: Any) -> dict[str, str]:
    """The values a contact (a Contact, a dict or a pandas row) offers to templates."""
    values: dict[str, str] = {}
    attributes = _field(contact, "custom_attributes") or {}
    if isinstance(attributes, Mapping):
        for key, value in attributes.items():
            if value is None:
                continue
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            values[str(key)] = str(value).strip()
    name = (_field(contact, "name") or "").strip()
    values["name"] = name
    values["first_name"] = name.split()[0] if name else ""
    values["phone"] = _field(contact, "phone") or ""
    return values


def render(text: str, contact_like: Any) -> str:
    """The text for one contact; a missing or empty value gives the fallback (or nothing)."""
    values = context(contact_like)

    def substitute(match: re.Match[str]) -> str:
        value = values.get(match.group(1), "")
        if value:
            return value
        fallback = match.group(2)
        return fallback.strip() if fallback is not None else ""

    return _VARIABLE.sub(substitute, text or "")
