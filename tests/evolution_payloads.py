"""Builders for Evolution API webhook deliveries (the JSON Evolution POSTs to a webhook URL).

Shapes follow ../shared/evolution-api.md § Webhooks. Every builder returns a plain dict; post it
with `tests.fake_evolution.post_webhook` or a FastAPI `TestClient`.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, Literal

STATUSES = ("ERROR", "PENDING", "SERVER_ACK", "DELIVERY_ACK", "READ", "PLAYED")
SERVER_URL = "http://127.0.0.1:8080"


def jid(number: str) -> str:
    return (
        number if "@" in number else "".join(c for c in number if c.isdigit()) + "@s.whatsapp.net"
    )


def new_key_id() -> str:
    return "3EB0" + secrets.token_hex(10).upper()


def envelope(
    event: str,
    instance: str,
    data: dict[str, Any],
    *,
    apikey: str | None = None,
    sender: str = "5511900000000@s.whatsapp.net",
    server_url: str = SERVER_URL,
    date_time: datetime | None = None,
) -> dict[str, Any]:
    """The outer body of every delivery; `event` is dotted lower case (`messages.update`)."""
    return {
        "event": event,
        "instance": instance,
        "data": data,
        "destination": "",
        "date_time": (date_time or datetime.now(UTC)).isoformat(),
        "sender": sender,
        "server_url": server_url,
        "apikey": apikey,
    }


def message_update(
    instance: str,
    key_id: str,
    status: str = "DELIVERY_ACK",
    *,
    number: str = "5511999990000",
    api_version: Literal["v1", "v2"] = "v2",
    apikey: str | None = None,
    date_time: datetime | None = None,
) -> dict[str, Any]:
    """A status update for the message whose send answered `key.id == key_id`.

    v2 carries the WhatsApp id in `data.keyId` (`data.messageId` is the server's own row id,
    deliberately different); v1 carries it in `data.id`.
    """
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}")
    if api_version == "v2":
        data: dict[str, Any] = {
            "messageId": "cm" + secrets.token_hex(11),
            "keyId": key_id,
            "remoteJid": jid(number),
            "fromMe": True,
            "participant": None,
            "status": status,
            "instanceId": "inst-" + instance,
        }
    else:
        data = {
            "id": key_id,
            "remoteJid": jid(number),
            "fromMe": True,
            "participant": None,
            "status": status,
            "datetime": int((date_time or datetime.now(UTC)).timestamp() * 1000),
            "owner": instance,
        }
    return envelope("messages.update", instance, data, apikey=apikey, date_time=date_time)


def message_upsert(
    instance: str,
    number: str,
    text: str,
    *,
    key_id: str | None = None,
    push_name: str = "Customer",
    extended: bool = False,
    from_me: bool = False,
    apikey: str | None = None,
    date_time: datetime | None = None,
) -> dict[str, Any]:
    """An incoming message (a reply, an opt-out keyword...). `extended` uses
    `extendedTextMessage` instead of `conversation`, as WhatsApp does for replies with context."""
    message = {"extendedTextMessage": {"text": text}} if extended else {"conversation": text}
    moment = date_time or datetime.now(UTC)
    data = {
        "key": {"remoteJid": jid(number), "fromMe": from_me, "id": key_id or new_key_id()},
        "pushName": push_name,
        "message": message,
        "messageType": "extendedTextMessage" if extended else "conversation",
        "messageTimestamp": int(moment.timestamp()),
        "instanceId": "inst-" + instance,
        "source": "android",
    }
    return envelope("messages.upsert", instance, data, apikey=apikey, date_time=date_time)


def connection_update(
    instance: str,
    state: Literal["open", "connecting", "close", "refused"],
    *,
    status_reason: int = 200,
    apikey: str | None = None,
    date_time: datetime | None = None,
) -> dict[str, Any]:
    data = {"instance": instance, "state": state, "statusReason": status_reason}
    return envelope("connection.update", instance, data, apikey=apikey, date_time=date_time)
