"""What the fake Evolution server (tests/fake_evolution.py) accepts in a body, and what a send
answers.

Follows ../shared/evolution-api.md and the server's JSON schemas (v2 line to 2.4, v1 to 1.8): a
body of the other API line fails like Evolution's schema check does, 400 with a nested list of
messages; the typing `delay` is read where each line reads it.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Any

MEDIA_TYPES = ("image", "video", "document", "audio")

# Required properties per route and API line.
REQUIRED = {
    ("sendText", "v2"): ("number", "text"),
    ("sendText", "v1"): ("number", "textMessage"),
    ("sendMedia", "v2"): ("number", "mediatype"),
    ("sendMedia", "v1"): ("number", "mediaMessage"),
    ("sendWhatsAppAudio", "v2"): ("number", "audio"),
    ("sendWhatsAppAudio", "v1"): ("number", "audioMessage"),
    ("set", "v2"): ("webhook",),
    ("set", "v1"): ("enabled", "url"),
    ("whatsappNumbers", "v2"): ("numbers",),
    ("whatsappNumbers", "v1"): ("numbers",),
}
_V1_INNER = {"sendText": "textMessage", "sendMedia": "mediaMessage"}


def digits(number: str) -> str:
    """The number as the server normalises it (JIDs are kept as given)."""
    return number if "@" in number else re.sub(r"\D", "", number)


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def is_base64(value: str) -> bool:
    if not value or len(value) % 4:
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def schema_errors(body: Any, required: Iterable[str]) -> list[str]:
    if not isinstance(body, dict):
        return ["instance is not of a type(s) object"]
    return [f'instance requires property "{prop}"' for prop in required if prop not in body]


def send_fields(action: str, api_version: str, body: Mapping[str, Any]) -> Any:
    """The part of a send's body that carries the message (v1 nests it)."""
    if api_version == "v2":
        return body
    return body[_V1_INNER.get(action, "audioMessage")]


def send_error(action: str, api_version: str, body: Mapping[str, Any]) -> Any | None:
    """The 400 `response.message` for a send body with all its required properties, or None."""
    if not isinstance(body["number"], str) or not digits(body["number"]):
        return [["instance.number is not of a type(s) string"]]
    delay = _delay_field(body, api_version)
    if delay is not None and not _is_integer(delay):
        # `delay: {type: integer, description: ...}`: the schema check reports the description.
        return [["Enter a value in milliseconds"]]
    fields = send_fields(action, api_version, body)
    if api_version == "v1" and not isinstance(fields, dict):
        inner = _V1_INNER.get(action, "audioMessage")
        return [[f"instance.{inner} is not of a type(s) object"]]
    if action == "sendText" and not str(fields.get("text") or "").strip():
        if api_version == "v2":
            return [["text must not be empty"]]
        return [['instance.textMessage requires property "text"']]
    if action == "sendMedia" and (error := _media_error(fields)):
        return [error]
    if action == "sendWhatsAppAudio" and not _audio_ok(fields.get("audio")):
        return ["Owned media must be a url or base64"]
    return None


def delay_ms(body: Any, api_version: str) -> int:
    """The typing delay a valid send asks for, in ms (0 and negatives: none, as on Evolution)."""
    if not isinstance(body, dict):
        return 0
    delay = _delay_field(body, api_version)
    return int(delay) if _is_integer(delay) and delay > 0 else 0


def sent_answer(
    action: str, api_version: str, fields: Mapping[str, Any], key: dict[str, Any],
    instance: str, timestamp: int,
) -> dict[str, Any]:  # fmt: skip
    """The 201 body of a send. Both lines say PENDING: Baileys' status for a message just
    handed to WhatsApp (SERVER_ACK and the rest come later, by webhook)."""
    message_type, content = _sent_message(action, fields)
    if api_version == "v1":
        # v1 answers Baileys' message itself, as protobuf JSON: enums and longs as strings.
        return {"key": key, "message": content, "messageTimestamp": str(timestamp),
                "status": "PENDING"}  # fmt: skip
    return {
        "key": key,
        "pushName": "Você",  # what Evolution puts for a message of its own without a name
        "status": "PENDING",
        "message": content,
        "messageType": message_type,
        "messageTimestamp": timestamp,
        "instanceId": "inst-" + instance,
        "source": "web",  # what Evolution derives from a "3EB0" + 18 hex id
    }


def _sent_message(action: str, fields: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if action == "sendText":
        return "conversation", {"conversation": fields.get("text", "")}
    if action == "sendWhatsAppAudio":
        return "audioMessage", {"audioMessage": {"ptt": True}}
    kind = f"{fields.get('mediatype')}Message"
    return kind, {kind: {k: fields[k] for k in ("caption", "fileName", "mimetype") if k in fields}}


def _media_error(fields: Mapping[str, Any]) -> str | None:
    mediatype = fields.get("mediatype")
    if mediatype not in MEDIA_TYPES:
        return f"mediatype must be one of {', '.join(MEDIA_TYPES)}"
    media = fields.get("media")
    if not isinstance(media, str) or not media:
        return "Owned media must be a url or base64"
    if not is_url(media) and not is_base64(media):
        return "Owned media must be a url or base64"
    if mediatype == "document" and not is_url(media) and not fields.get("fileName"):
        return "fileName is required for a base64 document"
    return None


def _audio_ok(audio: Any) -> bool:
    return isinstance(audio, str) and (is_url(audio) or is_base64(audio))


def _delay_field(body: Mapping[str, Any], api_version: str) -> Any:
    # v2 reads only the top-level `delay`, v1 only `options.delay`; the other is ignored.
    if api_version == "v2":
        return body.get("delay")
    options = body.get("options")
    return options.get("delay") if isinstance(options, dict) else None


def _is_integer(value: Any) -> bool:
    # JSON has one number type: 1200.0 is an integer to the schema check; true is not.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
