"""Sender instances: one Evolution instance = one WhatsApp number (DESIGN.md § Data).

The Evolution token and the webhook secret are encrypted at rest and write-only: no function here
returns them (`instance_json` shows a mask). Every save registers the tool's webhook on the
Evolution server when PUBLIC_API_URL is set; a failure is recorded on the instance, not raised.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import people
from core.base import Conflict, ValidationError, get_settings, utcnow
from core.messaging import DEFAULT_WEBHOOK_EVENTS, EvolutionClient, EvolutionError
from core.models import Circuit, SenderInstance
from core.people import (
    Actor,
    SecretUnreadable,
    decrypt_secret,
    encrypt_secret,
    load_owned,
    require,
)

EDITABLE = (
    "name",
    "base_url",
    "instance_name",
    "api_version",
    "rate_per_minute",
    "extra_delay_max_seconds",
    "daily_cap",
    "window_start",
    "window_end",
    "window_days",
    "is_active",
)
WEBHOOK_HEADER = "x-webhook-token"
TOKEN_MASK = "•" * 8


# -- reading ---------------------------------------------------------------------------------


def list_instances(session: Session, actor: Actor) -> list[SenderInstance]:
    require(actor, "instances.read")
    return list(
        session.scalars(
            select(SenderInstance)
            .where(SenderInstance.account_id == actor.account_id)
            .order_by(SenderInstance.name)
        )
    )


def get_instance(session: Session, actor: Actor, instance_id: int) -> SenderInstance:
    require(actor, "instances.read")
    return load_owned(session, actor, SenderInstance, instance_id, "WhatsApp number")


def instance_json(instance: SenderInstance) -> dict[str, Any]:
    """What UI and API may show: never the token or the webhook secret."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    def hhmm(value: time | None) -> str | None:
        return value.strftime("%H:%M") if value else None

    return {
        "id": instance.id,
        "name": instance.name,
        "base_url": instance.base_url,
        "instance_name": instance.instance_name,
        "api_version": instance.api_version,
        "token": TOKEN_MASK,
        "is_active": instance.is_active,
        "rate_per_minute": instance.rate_per_minute,
        "extra_delay_max_seconds": instance.extra_delay_max_seconds,
        "daily_cap": instance.daily_cap,
        "window_start": hhmm(instance.window_start),
        "window_end": hhmm(instance.window_end),
        "window_days": instance.window_days,
        "state": instance.state,
        "state_checked_at": iso(instance.state_checked_at),
        "circuit": instance.circuit,
        "circuit_reason": instance.circuit_reason,
        "circuit_opened_at": iso(instance.circuit_opened_at),
        "webhook_url": webhook_url(instance),
        "webhook_registered_at": iso(instance.webhook_registered_at),
        "webhook_error": instance.webhook_error,
        "created_at": iso(instance.created_at),
    }


def webhook_url(instance: SenderInstance) -> str | None:
    base = get_settings().public_api_url
    if not base or instance.id is None:
        return None
    return f"{base}/webhooks/evolution/{instance.id}"


# -- validation ------------------------------------------------------------------------------


def _time(value: Any, field: str) -> time | None:
    if value in (None, ""):
        return None
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    try:
        return time.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(
            "{name}: use HH:MM (24 hours), not {value!r}", field, name=field, value=value
        ) from None


def _int(value: Any, field: str, low: int, high: int | None = None) -> int:
    try:
        number = int(value)
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
    except (TypeError, ValueError):
        raise ValidationError(
            "{name} must be a whole number, not {value!r}", field, name=field, value=value
        ) from None
    if number < low or (high is not None and number > high):
        if high is None:
            raise ValidationError(
                "{name} must be at least {low} (got {number})",
                field,
                name=field,
                low=low,
                number=number,
            )
        raise ValidationError(
            "{name} must be between {low} and {high} (got {number})",
            field,
            name=field,
            low=low,
            high=high,
            number=number,
        )
    return number


def validate(data: dict[str, Any], creating: bool) -> dict[str, Any]:
    """Check and normalise instance fields; raises ValidationError naming the field."""
    unknown = set(data) - set(EDITABLE) - {"token"}
    if unknown:
        raise ValidationError(
            "unknown field(s): {names}", sorted(unknown)[0], names=", ".join(sorted(unknown))
        )
    clean: dict[str, Any] = {}
    required = ("name", "base_url", "instance_name", "token") if creating else ()
    for field in required:
        if not str(data.get(field) or "").strip():
            raise ValidationError("{name} is required", field, name=field)
    if "name" in data:
        name = str(data["name"] or "").strip()
        if not name or len(name) > 100:
            raise ValidationError("name must have 1 to 100 characters", "name")
        clean["name"] = name
    if "base_url" in data:
        url = str(data["base_url"] or "").strip().rstrip("/")
        if not url.startswith(("http://", "https://")) or len(url) > 500 or " " in url:
            raise ValidationError(
                "base_url must be an http(s) URL, e.g. https://evo.example.com", "base_url"
            )
        clean["base_url"] = url
    if "instance_name" in data:
        instance_name = str(data["instance_name"] or "").strip()
        if not instance_name or "/" in instance_name or len(instance_name) > 200:
            raise ValidationError(
                "instance_name must be the Evolution instance's name", "instance_name"
            )
        clean["instance_name"] = instance_name
    if "token" in data and data["token"] not in (None, ""):
        token = str(data["token"]).strip()
        if not token or token == TOKEN_MASK:
            raise ValidationError("token must not be empty", "token")
        clean["token"] = token
    if "api_version" in data:
        version = str(data["api_version"] or "v2").strip().lower()
        if version not in ("v1", "v2"):
            raise ValidationError("api_version must be v2 or v1", "api_version")
        clean["api_version"] = version
    if "rate_per_minute" in data:
        clean["rate_per_minute"] = _int(data["rate_per_minute"], "rate_per_minute", 1, 60)
    if "extra_delay_max_seconds" in data:
        try:
            extra = float(data["extra_delay_max_seconds"] or 0)
        except (TypeError, ValueError):
            raise ValidationError(
                "extra_delay_max_seconds must be a number", "extra_delay_max_seconds"
            ) from None
        if not 0 <= extra <= 3600:
            raise ValidationError(
                "extra_delay_max_seconds must be between 0 and 3600", "extra_delay_max_seconds"
            )
        clean["extra_delay_max_seconds"] = extra
    if "daily_cap" in data:
        cap = data["daily_cap"]
        clean["daily_cap"] = None if cap in (None, "", 0) else _int(cap, "daily_cap", 1)
    for field in ("window_start", "window_end"):
        if field in data:
            clean[field] = _time(data[field], field)
    if "window_days" in data:
        days = data["window_days"]
        if days in (None, ""):
            clean["window_days"] = None
        else:
            if not isinstance(days, list | tuple) or not days:
                raise ValidationError(
                    "window_days must list weekdays 0 (Monday) to 6", "window_days"
                )
            clean["window_days"] = sorted({_int(d, "window_days", 0, 6) for d in days})
    if "is_active" in data:
        clean["is_active"] = bool(data["is_active"])
    return clean


def _check_unique_name(
    session: Session, account_id: int, name: str, instance_id: int | None
) -> None:
    clash = session.scalar(
        select(SenderInstance.id).where(
            SenderInstance.account_id == account_id, SenderInstance.name == name
        )
    )
    if clash is not None and clash != instance_id:
        raise ValidationError("an instance named {name!r} already exists", "name", name=name)


# -- writing ---------------------------------------------------------------------------------


def create_instance(session: Session, actor: Actor, data: dict[str, Any]) -> SenderInstance:
    require(actor, "instances.write")
    clean = validate(data, creating=True)
    _check_unique_name(session, actor.account_id, clean["name"], None)
    token = clean.pop("token")
    instance = SenderInstance(
        account_id=actor.account_id,
        token_encrypted=encrypt_secret(token),
        webhook_secret_encrypted=encrypt_secret(secrets.token_urlsafe(32)),
        api_version=clean.pop("api_version", "v2"),
        **clean,
    )
    session.add(instance)
    session.flush()
    people.record_audit(
        session, actor, "instance.create", "sender_instance", instance.id, _audit(clean)
    )
    register_webhook(session, actor, instance.id)
    return instance


def update_instance(
    session: Session, actor: Actor, instance_id: int, data: dict[str, Any]
) -> SenderInstance:
    """Change fields; a blank or absent `token` keeps the stored one (write-only field)."""
    require(actor, "instances.write")
    instance = get_instance(session, actor, instance_id)
    clean = validate(data, creating=False)
    if "name" in clean:
        _check_unique_name(session, actor.account_id, clean["name"], instance.id)
    token = clean.pop("token", None)
    if token:
        instance.token_encrypted = encrypt_secret(token)
    for field, value in clean.items():
        setattr(instance, field, value)
    session.flush()
    details = _audit(clean) | ({"token": "changed"} if token else {})
    people.record_audit(session, actor, "instance.update", "sender_instance", instance.id, details)
    register_webhook(session, actor, instance.id)
    return instance


def delete_instance(session: Session, actor: Actor, instance_id: int) -> None:
    require(actor, "instances.write")
    instance = get_instance(session, actor, instance_id)
    if instance.lease_owner and instance.lease_expires_at and instance.lease_expires_at > utcnow():
        from core.models import CampaignRecipient, RecipientStatus

        busy = session.scalar(
            select(CampaignRecipient.id)
            .where(
                CampaignRecipient.instance_id == instance.id,
                CampaignRecipient.status == RecipientStatus.SENDING,
            )
            .limit(1)
        )
        if busy:
            raise Conflict("the instance is sending right now; deactivate it first, then delete")
    people.record_audit(
        session, actor, "instance.delete", "sender_instance", instance.id, {"name": instance.name}
    )
    session.delete(instance)
    session.flush()


def reset_circuit(session: Session, actor: Actor, instance_id: int) -> SenderInstance:
    """An admin re-enables a number after fixing it (campaigns paused by it are resumed by staff)."""
    require(actor, "instances.write")
    instance = get_instance(session, actor, instance_id)
    previous = instance.circuit_reason
    instance.circuit = Circuit.CLOSED
    instance.circuit_reason = None
    instance.circuit_opened_at = None
    session.flush()
    people.record_audit(
        session,
        actor,
        "instance.reset_circuit",
        "sender_instance",
        instance.id,
        {"reason": previous},
    )
    return instance


def _audit(clean: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, time) else v) for k, v in clean.items() if k != "token"
    }


# -- talking to Evolution --------------------------------------------------------------------


def client_for(instance: SenderInstance) -> EvolutionClient:
    settings = get_settings()
    return EvolutionClient(
        instance.base_url,
        instance.instance_name,
        decrypt_secret(instance.token_encrypted),
        api_version="v1" if instance.api_version == "v1" else "v2",
        connect_timeout=settings.http_connect_timeout,
        read_timeout=min(settings.http_read_timeout, 15.0),
    )


@dataclass(frozen=True)
class InstanceCheck:
    state: str  # open / connecting / close / refused, or "unreachable"
    error: str | None = None  # why the server could not say (never a secret)


def check_instance(
    session: Session, actor: Actor, instance_id: int, now: datetime | None = None
) -> InstanceCheck:
    """Ask Evolution for the connection state (`connectionState`) and store it."""
    require(actor, "instances.write")
    instance = get_instance(session, actor, instance_id)
    error = None
    try:
        with client_for(instance) as client:
            state = client.connection_state()
    except EvolutionError as failure:
        state, error = "unreachable", failure.result.error or failure.outcome.value
    except SecretUnreadable as failure:
        state, error = "unreachable", str(failure)
    instance.state = state[:20]
    instance.state_checked_at = now or utcnow()
    session.flush()
    return InstanceCheck(state, error)


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
        with client_for(instance) as client:
            client.set_webhook(url, DEFAULT_WEBHOOK_EVENTS, headers={WEBHOOK_HEADER: secret})
    except EvolutionError as error:
        instance.webhook_error = (error.result.error or error.outcome.value)[:500]
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
        session, actor, "instance.webhook_registered", "sender_instance", instance.id, {"url": url}
    )
    return True


def webhook_secret_matches(instance: SenderInstance, presented: str | None) -> bool:
    """For the webhook receiver: constant-time check of the `x-webhook-token` header."""
    if not presented or not instance.webhook_secret_encrypted:
        return False
    try:
        expected = decrypt_secret(instance.webhook_secret_encrypted)
    except SecretUnreadable:
        return False
    return secrets.compare_digest(expected, presented)


__all__ = [
    "TOKEN_MASK",
    "InstanceCheck",
    "check_instance",
    "client_for",
    "create_instance",
    "delete_instance",
    "get_instance",
    "instance_json",
    "list_instances",
    "register_webhook",
    "reset_circuit",
    "update_instance",
    "validate",
    "webhook_secret_matches",
]
