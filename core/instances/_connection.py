"""An instance's connection: asking Evolution for it, recording it (the one writer of an
instance's `state`, shared by the worker's checks, staff's "test connection" and the webhook
receiver), and registering our webhook on the server.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import closing
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import people
from core.base import get_settings, stored_text, utcnow
from core.instances._lookup import get_instance
from core.messaging import (
    DEFAULT_WEBHOOK_EVENTS,
    Endpoint,
    EvolutionError,
    Messenger,
    messenger_for,
)
from core.models import Circuit, CircuitCause, Notification, SenderInstance
from core.notifications import notify
from core.people import (
    Actor,
    SecretUnreadable,
    decrypt_secret,
    encrypt_secret,
    require,
)

log = logging.getLogger(__name__)
WEBHOOK_HEADER = "x-webhook-token"
MAX_STATE_LENGTH = 20


def webhook_url(instance: SenderInstance) -> str | None:
    base = get_settings().public_api_url
    if not base or instance.id is None:
        return None
    return f"{base}/webhooks/evolution/{instance.id}"


class NumberSettings(Protocol):
    base_url: str
    instance_name: str
    api_version: str
    token_encrypted: str


def endpoint_of(number: NumberSettings) -> Endpoint:
    """Where a number (an instance, or a claim that carries its settings) lives, token decrypted.
    Raises SecretUnreadable when SECRET_KEY no longer opens the token."""
    return Endpoint(
        number.base_url,
        number.instance_name,
        decrypt_secret(number.token_encrypted),
        api_version="v1" if number.api_version == "v1" else "v2",
    )


def messenger_of(instance: SenderInstance) -> Messenger:
    """A messenger for one-off calls (checks, webhook registration), with short timeouts."""
    settings = get_settings()
    return messenger_for(
        endpoint_of(instance),
        connect_timeout=settings.http_connect_timeout,
        read_timeout=min(settings.http_read_timeout, 15.0),
    )


def record_connection_state(
    session: Session,
    actor: Actor,
    instance: SenderInstance,
    state: str,
    now: datetime,
    reason: int | str | None = None,
) -> bool:
    """Store what is known of the instance's connection; returns whether it changed.

    The one writer of `state`: the worker's checks, staff's "test connection" and Evolution's
    `connection.update` all come here. A change is audited (as `actor`: the system's name says
    who saw it). An open circuit whose number answers `open` again is checked by the worker
    straight away (its check closes the circuit when that answer proves it fixed); one that
    waits for staff is announced, once per opening.
    """
    state = state.strip().lower()[:MAX_STATE_LENGTH]
    previous = instance.state
    instance.state = state
    instance.state_checked_at = now
    changed = previous != state
    if changed:
        people.record_audit(
            session,
            actor,
            "instance.connection",
            "instance",
            instance.id,
            {"from": previous, "to": state, "reason": reason},
        )
    if state == "open" and instance.circuit == Circuit.OPEN:
        if _closes_by_itself(instance):
            instance.next_check_at = now
        else:
            _announce_up(session, instance)
    session.flush()
    return changed


def _closes_by_itself(instance: SenderInstance) -> bool:
    try:
        return CircuitCause(instance.circuit_cause or CircuitCause.CONFIG).closes_by_itself
    except ValueError:
        return False


def _announce_up(session: Session, instance: SenderInstance) -> None:
    since = instance.circuit_opened_at
    announced = session.scalar(
        select(Notification.id)
        .where(
            Notification.instance_id == instance.id,
            Notification.kind == "instance_up",
            *([Notification.created_at >= since] if since is not None else []),
        )
        .limit(1)
    )
    if announced is None:
        log.info("instance is connected again", extra={"instance_id": instance.id})
        notify(
            session,
            instance.account_id,
            "instance_up",
            {"name": instance.name},
            stored_text.text(stored_text.INSTANCE_UP_REENABLE_BODY),
            instance_id=instance.id,
        )


def register_webhook(session: Session, actor: Actor, instance_id: int) -> bool:
    """Point the instance's Evolution webhook at this tool (when PUBLIC_API_URL is set).
    Records `webhook_registered_at` or `webhook_error`; returns whether it worked."""
    require(actor, "instances.write")
    instance = get_instance(session, actor, instance_id)
    url = webhook_url(instance)
    if url is None:
        instance.webhook_error = "PUBLIC_API_URL is not set: the webhook was not registered"
        session.flush()
        return False
    try:
        secret = decrypt_secret(instance.webhook_secret_encrypted or "")
    except SecretUnreadable:
        secret = None
    if not secret:
        secret = secrets.token_urlsafe(32)
        instance.webhook_secret_encrypted = encrypt_secret(secret)
    try:
        with closing(messenger_of(instance)) as client:
            client.register_webhook(url, DEFAULT_WEBHOOK_EVENTS, headers={WEBHOOK_HEADER: secret})
    except EvolutionError as error:
        result = error.result
        if result.trouble is CircuitCause.LICENCE:
            # Evolution 2.4 not activated: shown on the number, and the worker's next check
            # (at once) stops sending through it until staff activate the server.
            notice = stored_text.text(
                stored_text.NOT_ACTIVATED, register_url=result.activation_url or instance.base_url
            )
            instance.webhook_error = stored_text.english(notice)[:500]
            instance.activation_url = result.activation_url
            instance.next_check_at = utcnow()
            record_connection_state(session, actor, instance, "not_activated", utcnow())
        else:
            instance.webhook_error = (result.error or result.outcome.value)[:500]
        session.flush()
        return False
    except SecretUnreadable as error:
        instance.webhook_error = str(error)[:500]
        session.flush()
        return False
    instance.webhook_registered_at = utcnow()
    instance.webhook_error = None
    session.flush()
    people.record_audit(
        session, actor, "instance.webhook_registered", "instance", instance.id, {"url": url}
    )
    return True
