"""Evolution's webhook deliveries: one call per HTTP delivery (`handle_delivery`).

A delivery is authenticated (`_webhook_auth`), counted, and handed to the handler of its event:
receipts (`_receipts`), replies and opt-outs (`_replies`), or the instance's connection state
(below). Evolution retries failed deliveries and may send an update late, twice or out of order,
so every handler is idempotent and moves things forward only; events we do not handle are
counted and answered 200, so Evolution does not retry them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core import campaigns, instances
from core.base import utcnow
from core.models import SenderInstance, WebhookEventCount
from core.people import Actor
from core.tracking._delivery import WebhookResult, normalize_event
from core.tracking._receipts import apply_receipts
from core.tracking._replies import apply_replies
from core.tracking._webhook_auth import (
    WebhookUnauthorized,
    authenticate_headers,
    authenticated_payload,
)

log = logging.getLogger(__name__)

KNOWN_EVENTS = ("messages.update", "messages.upsert", "connection.update", "messages.delete")


def handle_delivery(
    session: Session,
    instance_id: int,
    body: bytes,
    headers: Mapping[str, str],
    query_token: str | None = None,
    now: datetime | None = None,
) -> WebhookResult:
    """Authenticate, parse and apply one delivery for `instance_id`. The caller commits (a big
    `messages.update` batch is committed in chunks on the way, see `apply_receipts`).

    No actor: the delivery's credentials are the instance's own, and it touches only the
    instance's account. Raises WebhookUnauthorized (no such instance, or no credentials),
    MalformedPayload.
    """
    now = now or utcnow()
    instance = session.get(SenderInstance, instance_id)
    if instance is None:  # as a wrong secret: ids cannot be probed without one
        raise WebhookUnauthorized("missing or wrong webhook credentials")
    payload = authenticated_payload(instance, body, headers, query_token, now)

    event = normalize_event(payload["event"])
    count_event(session, event if event in KNOWN_EVENTS else "other", now)
    data = payload.get("data")
    if event == "messages.update":
        # A big batch commits as it goes (the caller commits the rest): see apply_receipts.
        result = apply_receipts(session, instance, data, now, checkpoint=session.commit)
    elif event == "messages.upsert":
        result = apply_replies(session, instance, data, now)
    elif event == "connection.update":
        result = _connection_update(session, instance, data, now)
    elif event == "messages.delete":
        # Evolution 2.3.7+ tells a deleted message apart (2.3.0-2.3.6 sent a DELETED status,
        # which receipts ignore): what was sent, delivered or read stays so. Nothing changes.
        return WebhookResult(event, handled=True)
    else:
        return WebhookResult(event, handled=False)
    # Once per campaign, however many of its recipients the delivery changed.
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


def check_headers(
    session: Session,
    instance_id: int,
    headers: Mapping[str, str],
    query_token: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Before the body is read: whether the headers or query prove the delivery (True), offer
    nothing (False: the body's `apikey` may), or raise WebhookUnauthorized."""
    instance = session.get(SenderInstance, instance_id)
    return authenticate_headers(instance, headers, query_token, now or utcnow())


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


# -- connection.update ------------------------------------------------------------------------


def _connection_update(
    session: Session, instance: SenderInstance, data: Any, now: datetime
) -> WebhookResult:
    result = WebhookResult("connection.update", handled=True)
    state = data.get("state") if isinstance(data, dict) else None
    if not isinstance(state, str) or not state.strip():
        return result
    evolution = Actor.system(instance.account_id, "evolution")
    if instances.record_connection_state(session, evolution, instance, state, now, _reason(data)):
        result.changed = 1
    return result


def _reason(data: Mapping[str, Any]) -> int | str | None:
    reason = data.get("statusReason")
    return reason if isinstance(reason, int | str) and not isinstance(reason, bool) else None
