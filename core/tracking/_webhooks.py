"""Evolution webhook deliveries: delivery/read receipts, opt-out replies, connection state.

One call per HTTP delivery (`handle_delivery`). Evolution retries failed deliveries and may send
an update late, twice or out of order, so every change here is forward-only and idempotent:
a recipient's status only ever moves up the ladder

    unknown/sent  ->  failed (WhatsApp's ERROR)  ->  delivered  ->  read

and each move is a conditional UPDATE (`WHERE status IN (lower states)`), so two deliveries
racing on the same message cannot move it backwards either. The final state is the highest
state any received event implies, whatever order the events came in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core import campaigns, contacts, people
from core.base import DomainError, NotFound, ValidationError, stored_text, utcnow
from core.models import (
    DEFAULT_OPT_OUT_KEYWORDS,
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Contact,
    RecipientStatus,
    SenderInstance,
    WebhookEventCount,
)
from core.people import Actor, SecretUnreadable, decrypt_secret

log = logging.getLogger(__name__)

TOKEN_HEADER = "x-webhook-token"
KNOWN_EVENTS = ("messages.update", "messages.upsert", "connection.update")
JWT_LEEWAY_SECONDS = 60
MAX_STATE_LENGTH = 20

# Evolution's status names (and Baileys' numeric codes, which older v1 servers pass through).
EVOLUTION_STATUSES = ("ERROR", "PENDING", "SERVER_ACK", "DELIVERY_ACK", "READ", "PLAYED")
_TARGET = {
    "PENDING": RecipientStatus.SENT,
    "SERVER_ACK": RecipientStatus.SENT,
    "DELIVERY_ACK": RecipientStatus.DELIVERED,
    "READ": RecipientStatus.READ,
    "PLAYED": RecipientStatus.READ,
    "ERROR": RecipientStatus.FAILED,
}
# Which states each target may be reached from. `pending`/`sending` are the worker's (a re-queued
# recipient may still carry an old message id) and `skipped` is final, so receipts never touch them.
_FROM = {
    RecipientStatus.SENT: (RecipientStatus.UNKNOWN,),
    RecipientStatus.FAILED: (RecipientStatus.UNKNOWN, RecipientStatus.SENT),
    RecipientStatus.DELIVERED: (
        RecipientStatus.UNKNOWN,
        RecipientStatus.SENT,
        RecipientStatus.FAILED,
    ),
    RecipientStatus.READ: (
        RecipientStatus.UNKNOWN,
        RecipientStatus.SENT,
        RecipientStatus.FAILED,
        RecipientStatus.DELIVERED,
    ),
}
OPT_OUT_CAMPAIGN_STATUSES = (
    CampaignStatus.PENDING,
    CampaignStatus.RUNNING,
    CampaignStatus.PAUSED,
)


class WebhookUnauthorized(DomainError):
    """The delivery carries none of the instance's credentials (answered 401)."""


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


def handle_delivery(
    session: Session,
    instance_id: int,
    body: bytes,
    headers: Mapping[str, str],
    query_token: str | None = None,
    now: datetime | None = None,
) -> WebhookResult:
    """Authenticate, parse and apply one delivery for `instance_id`. The caller commits.

    Raises NotFound (no such instance), WebhookUnauthorized, MalformedPayload.
    """
    now = now or utcnow()
    instance = session.get(SenderInstance, instance_id)
    if instance is None:
        raise NotFound("instance {id} does not exist", id=instance_id)
    lowered = {key.lower(): value for key, value in headers.items()}
    if _authenticated_by_secret(instance, lowered, query_token, now):
        payload = parse_payload(body)
    else:
        # v1 servers cannot send headers: the body's `apikey` (the instance's token) is all there is.
        try:
            payload = parse_payload(body)
        except MalformedPayload:
            raise WebhookUnauthorized("missing or wrong webhook credentials") from None
        if not _authenticated_by_apikey(instance, payload.get("apikey")):
            raise WebhookUnauthorized("missing or wrong webhook credentials")

    event = normalize_event(payload["event"])
    count_event(session, event if event in KNOWN_EVENTS else "other", now)
    data = payload.get("data")
    if event == "messages.update":
        result = _messages_update(session, instance, data, now)
    elif event == "messages.upsert":
        result = _messages_upsert(session, instance, data, now)
    elif event == "connection.update":
        result = _connection_update(session, instance, data, now)
    else:
        return WebhookResult(event, handled=False)
    # One refresh per campaign per delivery, however many recipients changed.
    for campaign_id in sorted(set(result.campaign_ids)):
        campaigns.refresh_delivery_stats(session, campaign_id)
    log.info(
        "webhook event=%s instance_id=%s changed=%s campaigns=%s",
        event,
        instance.id,
        result.changed,
        sorted(set(result.campaign_ids)),
    )
    return result


# -- parsing and authentication -------------------------------------------------------------


def parse_payload(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise MalformedPayload("the body is not valid JSON", "body") from None
    if not isinstance(payload, dict):
        raise MalformedPayload("the body must be a JSON object", "body")
    if not isinstance(payload.get("event"), str) or not payload["event"].strip():
        raise MalformedPayload("the body has no `event` name", "event")
    return payload


def normalize_event(name: str) -> str:
    """`MESSAGES_UPDATE` (v1 configuration style) and `messages.update` are the same event."""
    return name.strip().lower().replace("_", ".")


def _authenticated_by_secret(
    instance: SenderInstance, headers: Mapping[str, str], query_token: str | None, now: datetime
) -> bool:
    secret = _decrypt(instance.webhook_secret_encrypted)
    if not secret:
        return False
    for candidate in (headers.get(TOKEN_HEADER), query_token):
        if candidate and hmac.compare_digest(candidate.encode(), secret.encode()):
            return True
    authorization = headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return verify_hs256(credentials.strip(), secret, now)
    return False


def _authenticated_by_apikey(instance: SenderInstance, apikey: Any) -> bool:
    if not isinstance(apikey, str) or not apikey:
        return False
    token = _decrypt(instance.token_encrypted)
    return bool(token) and hmac.compare_digest(apikey.encode(), token.encode())


def _decrypt(stored: str | None) -> str | None:
    if not stored:
        return None
    try:
        return decrypt_secret(stored)
    except SecretUnreadable:
        log.warning("webhook secret of an instance cannot be decrypted (SECRET_KEY changed?)")
        return None


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify_hs256(token: str, secret: str, now: datetime) -> bool:
    """True when `token` is an HS256 JWT signed with `secret` and not expired (60 s leeway).

    Evolution signs `{"iat", "exp", "app", "action"}` with the `jwt_key` header configured on
    the webhook; this checks the signature and the expiry, nothing else.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return False
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        return False
    signed = f"{parts[0]}.{parts[1]}".encode()
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        return False
    expires = claims.get("exp")
    expired = isinstance(expires, int | float) and expires + JWT_LEEWAY_SECONDS < now.timestamp()
    return not expired


def sign_hs256(claims: Mapping[str, Any], secret: str) -> str:
    """The JWT Evolution would send (used by tests and by anyone scripting deliveries)."""

    def encode(part: bytes) -> str:
        return base64.urlsafe_b64encode(part).rstrip(b"=").decode()

    header = encode(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = encode(json.dumps(dict(claims), separators=(",", ":")).encode())
    signature = hmac.new(secret.encode(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{encode(signature)}"


# -- metrics --------------------------------------------------------------------------------


def count_event(session: Session, event: str, now: datetime) -> None:
    """Add one to the event's counter with a single upsert (safe with concurrent receivers)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(WebhookEventCount).values(event=event, count=1, last_received_at=now)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[WebhookEventCount.event],
            set_={"count": WebhookEventCount.count + 1, "last_received_at": now},
        )
    )


# -- messages.update: receipts ----------------------------------------------------------------


def _items(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, list):
        return [item for item in data if isinstance(item, dict)]
    if isinstance(data, dict):
        if isinstance(data.get("messages"), list):  # batched v1 deliveries
            return [item for item in data["messages"] if isinstance(item, dict)]
        return [data]
    return []


def _message_id(item: Mapping[str, Any]) -> str | None:
    """v2: `keyId` (its `messageId` is the server's own row id, not WhatsApp's); v1: `id`."""
    key = item.get("key") if isinstance(item.get("key"), dict) else {}
    for candidate in (item.get("keyId"), key.get("id"), item.get("id")):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()
    return None


def _status_name(item: Mapping[str, Any]) -> str | None:
    status = item.get("status")
    if status is None and isinstance(item.get("update"), dict):  # Baileys-style {update: {status}}
        status = item["update"].get("status")
    if isinstance(status, bool):
        return None
    if isinstance(status, int) and 0 <= status < len(EVOLUTION_STATUSES):
        return EVOLUTION_STATUSES[status]
    if isinstance(status, str) and status.strip().upper() in _TARGET:
        return status.strip().upper()
    return None


def _messages_update(
    session: Session, instance: SenderInstance, data: Any, now: datetime
) -> WebhookResult:
    result = WebhookResult("messages.update", handled=True)
    for item in _items(data):
        if item.get("fromMe") is False:
            continue  # a receipt for a message the contact sent us
        message_id, status = _message_id(item), _status_name(item)
        if message_id is None or status is None:
            continue
        target = _TARGET[status]
        candidates = session.execute(
            select(CampaignRecipient.id, CampaignRecipient.campaign_id)
            .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
            .where(
                CampaignRecipient.provider_message_id == message_id,
                Campaign.account_id == instance.account_id,
                or_(
                    CampaignRecipient.instance_id == instance.id,
                    CampaignRecipient.instance_id.is_(None),
                ),
            )
        ).all()
        if not candidates:
            continue  # not one of ours (a message typed on the phone, or another tool's)
        changed = session.execute(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.id.in_([row.id for row in candidates]),
                CampaignRecipient.status.in_([str(s) for s in _FROM[target]]),
            )
            .values(status=str(target), **_timestamps(target, now))
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed:
            result.changed += changed
            result.campaign_ids.extend(row.campaign_id for row in candidates)
    return result


def _timestamps(target: RecipientStatus, now: datetime) -> dict[str, Any]:
    recipient = CampaignRecipient
    if target == RecipientStatus.SENT:
        return {"sent_at": func.coalesce(recipient.sent_at, now)}
    if target == RecipientStatus.DELIVERED:
        return {"delivered_at": func.coalesce(recipient.delivered_at, now)}
    if target == RecipientStatus.READ:
        return {
            "delivered_at": func.coalesce(recipient.delivered_at, now),
            "read_at": func.coalesce(recipient.read_at, now),
        }
    return {
        "failed_at": now,
        "error_kind": "whatsapp_error",
        "last_error": stored_text.WHATSAPP_DELIVERY_ERROR,
    }


# -- messages.upsert: opt-out replies ---------------------------------------------------------

_EDGE_PUNCTUATION = string.punctuation + "¡¿。！？"


def normalize_keyword(text: str) -> str:
    """Case, accents, surrounding spaces/punctuation and inner runs of spaces do not matter."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(plain.casefold().split()).strip(_EDGE_PUNCTUATION + " ")


def is_opt_out(text: str, keywords: Iterable[str]) -> bool:
    normalized = normalize_keyword(text)
    return bool(normalized) and normalized in {normalize_keyword(k) for k in keywords}


def message_text(message: Any) -> str | None:
    if not isinstance(message, dict):
        return None
    if isinstance(message.get("conversation"), str):
        return message["conversation"]
    extended = message.get("extendedTextMessage")
    if isinstance(extended, dict) and isinstance(extended.get("text"), str):
        return extended["text"]
    return None


def phone_candidates(jid: str) -> list[str]:
    """E.164 forms a WhatsApp JID may stand for (`5511...@s.whatsapp.net` -> `+5511...`).

    Brazilian mobiles registered before the ninth digit often keep a JID without it, so both
    forms are tried for +55 numbers. Groups, broadcasts and @lid ids are not phones.
    """
    user, _, server = jid.partition("@")
    if server and server not in ("s.whatsapp.net", "c.us"):
        return []
    digits = "".join(ch for ch in user.split(":")[0] if ch.isdigit())
    if not 8 <= len(digits) <= 15:
        return []
    forms = ["+" + digits]
    if digits.startswith("55") and len(digits) == 12 and digits[4] in "6789":
        forms.append("+" + digits[:4] + "9" + digits[4:])
    elif digits.startswith("55") and len(digits) == 13 and digits[4] == "9":
        forms.append("+" + digits[:4] + digits[5:])
    return forms


def _sender_jid(item: Mapping[str, Any]) -> str | None:
    key = item.get("key") if isinstance(item.get("key"), dict) else {}
    jid = key.get("remoteJid")
    if isinstance(jid, str) and jid.endswith("@lid"):
        # Newer servers address some chats by an opaque LID and give the phone JID alongside.
        for alternative in (key.get("remoteJidAlt"), key.get("senderPn"), item.get("senderPn")):
            if isinstance(alternative, str) and "@" in alternative:
                return alternative
    return jid if isinstance(jid, str) else None


def _messages_upsert(
    session: Session, instance: SenderInstance, data: Any, now: datetime
) -> WebhookResult:
    result = WebhookResult("messages.upsert", handled=True)
    account = session.get(Account, instance.account_id)
    keywords = (account.opt_out_keywords if account else None) or DEFAULT_OPT_OUT_KEYWORDS
    for item in _items(data):
        key = item.get("key") if isinstance(item.get("key"), dict) else {}
        if key.get("fromMe") is not False:
            continue  # our own messages (and anything that does not say) are never opt-outs
        text = message_text(item.get("message"))
        jid = _sender_jid(item)
        if text is None or jid is None or not is_opt_out(text, keywords):
            continue
        contact = session.scalar(
            select(Contact).where(
                Contact.account_id == instance.account_id,
                Contact.phone.in_(phone_candidates(jid)),
            )
        )
        if contact is None:
            continue  # not in our contacts: nothing to opt out of
        if contact.opted_out_at is None:
            contacts.opt_out_by_phone(session, Actor.system(instance.account_id), contact.phone)
            result.changed += 1
        campaign_ids, skipped = skip_pending_recipients(session, instance.account_id, contact.id)
        result.changed += skipped
        result.campaign_ids.extend(campaign_ids)
    return result


def skip_pending_recipients(
    session: Session, account_id: int, contact_id: int
) -> tuple[list[int], int]:
    """Take an opted-out contact out of the queues of unfinished campaigns.

    Only `pending` recipients: one already claimed (`sending`) is on its way and cannot be
    recalled. Returns the affected campaign ids and how many recipients were skipped.
    """
    open_campaigns = select(Campaign.id).where(
        Campaign.account_id == account_id,
        Campaign.status.in_([str(s) for s in OPT_OUT_CAMPAIGN_STATUSES]),
    )
    condition = (
        CampaignRecipient.contact_id == contact_id,
        CampaignRecipient.status == str(RecipientStatus.PENDING),
        CampaignRecipient.campaign_id.in_(open_campaigns),
    )
    campaign_ids = list(session.scalars(select(CampaignRecipient.campaign_id).where(*condition)))
    if not campaign_ids:
        return [], 0
    skipped = session.execute(
        update(CampaignRecipient)
        .where(*condition)
        .values(status=str(RecipientStatus.SKIPPED), last_error=stored_text.CONTACT_OPTED_OUT)
        .execution_options(synchronize_session=False)
    ).rowcount
    return campaign_ids, skipped


# -- connection.update ------------------------------------------------------------------------


def _connection_update(
    session: Session, instance: SenderInstance, data: Any, now: datetime
) -> WebhookResult:
    result = WebhookResult("connection.update", handled=True)
    state = data.get("state") if isinstance(data, dict) else None
    if not isinstance(state, str) or not state.strip():
        return result
    state = state.strip().lower()[:MAX_STATE_LENGTH]
    previous = instance.state
    instance.state = state
    instance.state_checked_at = now
    if previous != state:
        result.changed = 1
        people.record_audit(
            session,
            Actor.system(instance.account_id, "evolution"),
            "instance.connection",
            "instance",
            instance.id,
            {"from": previous, "to": state, "reason": _reason(data)},
        )
    return result


def _reason(data: Mapping[str, Any]) -> int | str | None:
    reason = data.get("statusReason")
    return reason if isinstance(reason, int | str) and not isinstance(reason, bool) else None
