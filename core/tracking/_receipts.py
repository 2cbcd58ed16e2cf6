"""`messages.update`: WhatsApp's receipts move our recipients forward, never back.

Evolution may send a receipt late, twice or out of order, so a recipient's status only ever
moves up the ladder

    unknown/sent  ->  failed (WhatsApp's ERROR)  ->  delivered  ->  read

and each move is a conditional UPDATE (`WHERE status IN (lower states)`), so two deliveries
racing on the same message cannot move it backwards either. The final state is the highest
state any received receipt implies, whatever order they came in.

`DELETED` (Evolution 2.3.0-2.3.6 sends it for an update without a status, e.g. a message deleted
on the phone) is no step of the ladder and changes nothing; newer servers send a separate
`messages.delete` event instead, which changes nothing either (`_webhooks`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from core.base import stored_text
from core.models import Campaign, CampaignRecipient, RecipientStatus, SenderInstance
from core.tracking._delivery import WebhookResult, items

# Receipts applied per transaction: about 50 ms of SQLite's write lock on a loaded machine.
RECEIPT_CHUNK = 500

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
    if isinstance(status, bool):  # JSON true is an int to Python, and no status code
        return None
    if isinstance(status, int) and 0 <= status < len(EVOLUTION_STATUSES):
        return EVOLUTION_STATUSES[status]
    if isinstance(status, str) and status.strip().upper() in _TARGET:
        return status.strip().upper()
    return None


def apply_receipts(
    session: Session,
    instance: SenderInstance,
    data: Any,
    now: datetime,
    checkpoint: Callable[[], None] | None = None,
) -> WebhookResult:
    """Move each of our recipients a receipt names as far as it says, in the order received.

    Applied `RECEIPT_CHUNK` receipts at a time, with `checkpoint` (the caller's commit) after
    each chunk: a batch of 60,000 receipts must not hold the database's write lock (SQLite has
    one) for seconds while the worker waits to record its sends. Receipts are idempotent, so a
    batch cut short by a crash is completed by Evolution's retry.
    """
    result = WebhookResult("messages.update", handled=True)
    receipts = []
    for item in items(data):
        if item.get("fromMe") is False:
            continue  # a receipt for a message the contact sent us
        message_id, status = _message_id(item), _status_name(item)
        if message_id is not None and status is not None:
            receipts.append((message_id, _TARGET[status]))
    for start in range(0, len(receipts), RECEIPT_CHUNK):
        if start and checkpoint is not None:
            checkpoint()
        _apply_chunk(session, instance, receipts[start : start + RECEIPT_CHUNK], now, result)
    return result


def _apply_chunk(
    session: Session,
    instance: SenderInstance,
    receipts: list[tuple[str, RecipientStatus]],
    now: datetime,
    result: WebhookResult,
) -> None:
    # An instance's delivery may move only its own account's rows, and of those the ones it
    # sent (or that name no instance): its credentials vouch for nothing else. One look-up for
    # the chunk: most ids of a big batch are not ours (messages typed on the phone).
    ours: dict[str, list[tuple[int, int]]] = {}
    for row in session.execute(
        select(
            CampaignRecipient.id,
            CampaignRecipient.campaign_id,
            CampaignRecipient.provider_message_id,
        )
        .join(Campaign, Campaign.id == CampaignRecipient.campaign_id)
        .where(
            CampaignRecipient.provider_message_id.in_({mid for mid, _t in receipts}),
            Campaign.account_id == instance.account_id,
            or_(
                CampaignRecipient.instance_id == instance.id,
                CampaignRecipient.instance_id.is_(None),
            ),
        )
    ):
        ours.setdefault(row.provider_message_id, []).append((row.id, row.campaign_id))
    for message_id, target in receipts:
        candidates = ours.get(message_id)
        if not candidates:
            continue  # not one of ours (a message typed on the phone, or another tool's)
        changed = session.execute(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.id.in_([rid for rid, _c in candidates]),
                CampaignRecipient.status.in_([str(earlier) for earlier in _FROM[target]]),
            )
            .values(status=str(target), **_timestamps(target, now))
            .execution_options(synchronize_session=False)
        ).rowcount
        if changed:
            result.changed += changed
            result.campaign_ids.extend(campaign_id for _r, campaign_id in candidates)


def _timestamps(target: RecipientStatus, now: datetime) -> dict[str, Any]:
    """The times a move sets; coalesce keeps the first, since a repeated receipt is no news."""
    if target == RecipientStatus.SENT:
        return {"sent_at": func.coalesce(CampaignRecipient.sent_at, now)}
    if target == RecipientStatus.DELIVERED:
        return {"delivered_at": func.coalesce(CampaignRecipient.delivered_at, now)}
    if target == RecipientStatus.READ:
        # A read receipt may be the first we hear: being read implies it was delivered.
        return {
            "delivered_at": func.coalesce(CampaignRecipient.delivered_at, now),
            "read_at": func.coalesce(CampaignRecipient.read_at, now),
        }
    return {
        "failed_at": now,
        "error_kind": "whatsapp_error",
        "last_error": stored_text.WHATSAPP_DELIVERY_ERROR,
    }
