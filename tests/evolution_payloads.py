"""Builders for Evolution API webhook deliveries (the JSON Evolution POSTs to a webhook URL).

Shapes follow ../shared/evolution-api.md § Webhooks, checked against the server's source for
what changed in 2.3.x and 2.4 (DELETED, `messages.delete`, LID addressing). Every builder returns
a plain dict; post it with `tests.fake_evolution.post_webhook`, a FastAPI `TestClient`, or let the
fake server deliver it (`deliver_webhook`, `deliver_status`, `deliver_incoming`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

STATUSES = ("ERROR", "PENDING", "SERVER_ACK", "DELIVERY_ACK", "READ", "PLAYED")  # in order
# Outside that order: what 2.3.0-2.3.6 put in a `messages.update` that carries no status (a
# revoked message, for one). 2.3.7 and 2.4 say SERVER_ACK there and send `messages.delete`.
DELETED = "DELETED"
UPDATE_STATUSES = (*STATUSES, DELETED)
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
    deliberately different); v1 carries it in `data.id`. `status` is one of `UPDATE_STATUSES`.
    """
    if status not in UPDATE_STATUSES:
        raise ValueError(f"status must be one of {UPDATE_STATUSES}")
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
    lid: str | None = None,
    addressing_mode: Literal["lid", "pn"] = "lid",
    apikey: str | None = None,
    date_time: datetime | None = None,
) -> dict[str, Any]:
    """An incoming message (a reply, an opt-out keyword...). `extended` uses
    `extendedTextMessage` instead of `conversation`, as WhatsApp does for replies with context.

    `lid` (digits, or `…@lid`) addresses it by the sender's LID, as Baileys 7 does. By default
    as 2.3.5/2.3.6 pass it on: `key.remoteJid` the LID, `key.remoteJidAlt` the phone's JID.
    `addressing_mode="pn"` as 2.4 swaps them: the phone in `remoteJid`, the LID in
    `remoteJidAlt` (a receiver that prefers `remoteJidAlt` gets the LID there).
    """
    message = {"extendedTextMessage": {"text": text}} if extended else {"conversation": text}
    moment = date_time or datetime.now(UTC)
    key: dict[str, Any] = {
        "remoteJid": jid(number),
        "fromMe": from_me,
        "id": key_id or new_key_id(),
    }
    if lid is not None:
        lid_jid = lid if lid.endswith("@lid") else "".join(c for c in lid if c.isdigit()) + "@lid"
        remote, alt = (lid_jid, jid(number)) if addressing_mode == "lid" else (jid(number), lid_jid)
        key.update(remoteJid=remote, remoteJidAlt=alt, addressingMode=addressing_mode)
    data = {
        "key": key,
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


def message_delete(
    instance: str,
    key_id: str,
    *,
    number: str = "5511999990000",
    from_me: bool = True,
    apikey: str | None = None,
    date_time: datetime | None = None,
) -> dict[str, Any]:
    """A revoked message as 2.3.7+ report it (`messages.delete`, the message's key plus
    `status: DELETED`); 2.3.0-2.3.6 send a `messages.update` with status DELETED instead."""
    data = {"remoteJid": jid(number), "fromMe": from_me, "id": key_id, "status": DELETED}
    return envelope("messages.delete", instance, data, apikey=apikey, date_time=date_time)


def sign_hs256(claims: Mapping[str, Any], secret: str) -> str:
    """The `Authorization: Bearer` JWT a server sends when its webhook has a `jwt_key`: HS256 over
    claims such as Evolution's `{"iat", "exp", "app", "action"}`, signed with that key."""

    def encode(part: bytes) -> str:
        return base64.urlsafe_b64encode(part).rstrip(b"=").decode()

    header = encode(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = encode(json.dumps(dict(claims), separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{encode(signature)}"
