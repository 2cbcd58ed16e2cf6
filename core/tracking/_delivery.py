"""One webhook delivery: the JSON body Evolution POSTs, and what applying it changed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from core.base import MAX_JSON_DEPTH, ValidationError, json_depth_exceeds


class MalformedPayload(ValidationError):
    """The body is not an Evolution delivery (answered 400: Evolution does not retry it)."""


@dataclass
class WebhookResult:
    event: str
    handled: bool
    changed: int = 0  # recipients, contacts or instances changed by this delivery
    campaign_ids: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"event": self.event, "handled": self.handled, "changed": self.changed}


def parse_payload(body: bytes) -> dict[str, Any]:
    if json_depth_exceeds(body):  # `[` x 100,000 would be a RecursionError in the parser
        raise MalformedPayload(
            "the body is nested deeper than {limit} levels", "body", limit=MAX_JSON_DEPTH
        )
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise MalformedPayload("the body is not valid JSON", "body") from None
    if not isinstance(payload, dict):
        raise MalformedPayload("the body must be a JSON object", "body")
    if not isinstance(payload.get("event"), str) or not payload["event"].strip():
        raise MalformedPayload("the body has no `event` name", "event")
    return payload


def normalize_event(name: str) -> str:
    """`MESSAGES_UPDATE` (v1 configuration style) and `messages.update` are the same event."""
    return name.strip().lower().replace("_", ".")


def items(data: Any) -> list[dict[str, Any]]:
    """The messages of a delivery's `data`: one object, a list, or v1's batch `{messages: [...]}`.

    Anything else (or a non-object inside the list) is not a message and is left out.
    """
    if isinstance(data, list):
        return [item for item in data if isinstance(item, dict)]
    if isinstance(data, dict):
        if isinstance(data.get("messages"), list):
            return [item for item in data["messages"] if isinstance(item, dict)]
        return [data]
    return []
