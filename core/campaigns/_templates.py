"""Message templates: `{{name}}`, `{{first_name}}`, `{{phone}}`, `{{<attribute>}}`, `{{x|fallback}}`.

Only `{{...}}` is special, so WhatsApp formatting (`*bold*`, `_italic_`, `~strike~`) passes
through untouched. Variables are checked when a campaign is saved (`validate`), and each
recipient's text is rendered once, when the campaign starts, and stored on its row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from core.base import ValidationError
from core.campaigns import _spintax as spintax

BUILTIN_VARIABLES = ("name", "first_name", "phone")
MAX_LENGTH = 4096  # WhatsApp's limit for a text message

# {{ variable }} or {{ variable | fallback text }}; a variable is a word that may hold . or -
# (CSV headers such as "plan-type" become attribute names as they are).
_VARIABLE = re.compile(r"\{\{\s*([^{}|]*?)\s*(?:\|([^{}]*))?\}\}")
_NAME = re.compile(r"^[^\W\d][\w.-]*$")


def _matches(text: str) -> Iterable[re.Match[str]]:
    return _VARIABLE.finditer(text or "")


def message_variables(text: str) -> set[str]:
    """The variable names the text uses (well-formed or not)."""
    return {match.group(1) for match in _matches(text)}


def validate_message(text: str, known_attributes: Iterable[str], field: str = "message") -> str:
    """The text, or `ValidationError` naming the first unknown or malformed variable."""
    if text is None or not text.strip():
        raise ValidationError("message must not be empty", field)
    if len(text) > MAX_LENGTH:
        raise ValidationError(
            "message is {length} characters long; WhatsApp allows {limit}",
            field,
            length=len(text),
            limit=MAX_LENGTH,
        )
    known = set(BUILTIN_VARIABLES) | set(known_attributes)
    for match in _matches(text):
        name = match.group(1)
        if not _NAME.match(name):
            raise ValidationError(
                "message has a malformed variable {variable!r}", field, variable=match.group(0)
            )
        if name not in known:
            suggestions = ", ".join("{{" + k + "}}" for k in sorted(known))
            raise ValidationError(
                "message uses the unknown variable {variable} (known: {known})",
                field,
                variable="{{" + name + "}}",
                known=suggestions,
            )
    try:
        spintax.parse(text, field)
    except ValidationError:
        # An unclosed variable is the likelier slip, and its message the clearer one.
        if "{{" in re.sub(_VARIABLE, "", text):
            raise ValidationError("message has a '{{' without its closing '}}'", field) from None
        raise
    return text


def _field(contact: Any, name: str) -> Any:
    if isinstance(contact, Mapping):
        return contact.get(name)
    return getattr(contact, name, None)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


Fill = Callable[[str | None, str | None, Mapping[str, Any] | None], str]


def message_renderer(text: str) -> Fill:
    """`text` parsed once: a function (name, phone, custom_attributes) -> the contact's text.

    Freezing a campaign renders the same template for every recipient; parsing it once keeps
    100,000 renders well under a second.
    """
    pieces: list[str | tuple[str, str]] = []
    position = 0
    for match in _matches(text):
        pieces.append(text[position : match.start()])
        fallback = match.group(2)
        pieces.append((match.group(1), fallback.strip() if fallback is not None else ""))
        position = match.end()
    pieces.append((text or "")[position:])
    if len(pieces) == 1:
        constant = pieces[0]
        return lambda name, phone, attributes: constant  # type: ignore[return-value]

    def fill(name: str | None, phone: str | None, attributes: Mapping[str, Any] | None) -> str:
        out = []
        for piece in pieces:
            if type(piece) is str:
                out.append(piece)
                continue
            variable, fallback = piece
            if variable == "first_name":
                words = (name or "").split(None, 1)
                value = words[0] if words else ""
            elif variable == "name":
                value = (name or "").strip()
            elif variable == "phone":
                value = phone or ""
            else:
                value = _text(attributes.get(variable)) if attributes else ""
            out.append(value or fallback)
        return "".join(out)

    return fill


def campaign_renderer(text: str, campaign_id: int | None) -> Callable[..., str]:
    """`text` parsed once, spintax included: a function (key, name, phone, attributes) -> the
    text of the campaign's recipient known by `key` (its contact id, else its phone)."""
    pieces = spintax.parse(text)
    if not spintax.has_spintax(pieces):
        plain = message_renderer(text)
        return lambda key, name, phone, attributes: plain(name, phone, attributes)
    fills: dict[str, Fill] = {}  # one parsed template per distinct choice (usually few)

    def fill(key: object, name: str | None, phone: str | None, attributes: Any) -> str:
        chosen = spintax.choose(pieces, spintax.seed_for(campaign_id, key))
        renderer = fills.get(chosen)
        if renderer is None:
            renderer = fills[chosen] = message_renderer(chosen)
        return renderer(name, phone, attributes)

    return fill


def render_message(
    text: str, contact_like: Any, campaign_id: int | None = None, key: object = None
) -> str:
    """The text for one contact; a missing or empty value gives the fallback (or nothing).
    Spintax is chosen for (`campaign_id`, `key`), by default the contact's id, else its phone."""
    attributes = _field(contact_like, "custom_attributes")
    if key is None:
        key = _field(contact_like, "id") or _field(contact_like, "phone")
    return campaign_renderer(text, campaign_id)(
        key,
        _field(contact_like, "name"),
        _field(contact_like, "phone"),
        attributes if isinstance(attributes, Mapping) else None,
    )
