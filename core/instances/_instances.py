"""Sender instances: one Evolution instance = one WhatsApp number (DESIGN.md § Data).

The Evolution token and the webhook secret are encrypted at rest and write-only: no function here
returns them (`instance_json` shows a mask). Every save registers the tool's webhook on the
Evolution server when PUBLIC_API_URL is set; a failure is recorded on the instance, not raised.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import people
from core.base import Conflict, ValidationError, check_outbound_url, utcnow
from core.instances._allowance import today_allowance
from core.instances._connection import register_webhook, webhook_url
from core.instances._fields import (
    int_field,
    seconds_field,
    time_field,
    validate_deliverability,
)
from core.instances._health import effective_rate
from core.instances._lookup import get_instance
from core.instances._pacing import MAX_TYPING_SECONDS
from core.models import SenderInstance
from core.people import (
    Actor,
    encrypt_secret,
    require,
)

EDITABLE = (
    "name",
    "base_url",
    "instance_name",
    "api_version",
    "rate_per_minute",
    "extra_delay_max_seconds",
    "typing_min_seconds",
    "typing_max_seconds",
    "daily_cap",
    "window_start",
    "window_end",
    "window_days",
    "is_active",
    "chatwoot_inbox_id",
    "chatwoot_mirror",
    "long_pause_every",
    "long_pause_min_minutes",
    "long_pause_max_minutes",
    "warmup",
    "number_since",
)
MIRROR_MODES = ("off", "ours", "evolution")

TOKEN_MASK = "•" * 8
MAX_INSTANCE_NAME = 200
INSTANCE_NAME_MARKS = frozenset(" -_.")


def instance_json(instance: SenderInstance, session: Session | None = None) -> dict[str, Any]:
    """What UI and API may show: never the token or the webhook secret. With `session`, also
    today's allowance (a read: without it, nothing here touches the database)."""

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
        "typing_min_seconds": instance.typing_min_seconds or 0.0,
        "typing_max_seconds": instance.typing_max_seconds or 0.0,
        "daily_cap": instance.daily_cap,
        "window_start": hhmm(instance.window_start),
        "window_end": hhmm(instance.window_end),
        "window_days": instance.window_days,
        "long_pause_every": instance.long_pause_every,
        "long_pause_min_minutes": instance.long_pause_min_minutes or 0.0,
        "long_pause_max_minutes": instance.long_pause_max_minutes or 0.0,
        "warmup": instance.warmup or "off",
        "number_since": instance.number_since.isoformat() if instance.number_since else None,
        "first_sent_at": iso(instance.first_sent_at),
        "allowance_today": _allowance_json(session, instance),
        "health": {
            "score": instance.health_score,
            "effective_rate_per_minute": effective_rate(
                instance.rate_per_minute, instance.health_score
            ),
            "paused": instance.health_paused_at is not None,
            "paused_at": iso(instance.health_paused_at),
            "checked_at": iso(instance.health_checked_at),
            "details": instance.health_details,
        },
        "state": instance.state,
        "state_checked_at": iso(instance.state_checked_at),
        "circuit": instance.circuit,
        "circuit_cause": instance.circuit_cause,
        "circuit_reason": instance.circuit_reason,
        "circuit_reason_text": instance.circuit_reason_text,
        "circuit_opened_at": iso(instance.circuit_opened_at),
        "activation_url": instance.activation_url,
        "next_check_at": iso(instance.next_check_at) if instance.circuit != "closed" else None,
        "webhook_url": webhook_url(instance),
        "webhook_registered_at": iso(instance.webhook_registered_at),
        "webhook_error": instance.webhook_error,
        "chatwoot_inbox_id": instance.chatwoot_inbox_id,
        "chatwoot_mirror": instance.chatwoot_mirror or "off",
        "chatwoot_mirror_error": instance.chatwoot_mirror_error,
        "chatwoot_mirror_error_at": iso(instance.chatwoot_mirror_error_at),
        "created_at": iso(instance.created_at),
    }


def _instance_name(value: Any) -> str:
    """The name as Evolution knows it: letters, digits, spaces, `-`, `_` and `.`, starting with a
    letter or digit and with no `..`; anything else (`/`, `?`, `#`, `%`) could change the URLs
    built from it. (The client percent-encodes it as well, for names stored before this check.)"""
    name = str(value or "").strip()
    if (
        not name
        or len(name) > MAX_INSTANCE_NAME
        or not name[0].isalnum()
        or ".." in name
        or not all(char.isalnum() or char in INSTANCE_NAME_MARKS for char in name)
    ):
        raise ValidationError(
            "instance_name must be the Evolution instance's name: 1 to {count} letters, digits, "
            "spaces, '-', '_' or '.', starting with a letter or digit, without '..' (got {value!r})",
            "instance_name",
            count=MAX_INSTANCE_NAME,
            value=str(value)[:MAX_INSTANCE_NAME],
        )
    return name


def _allowance_json(session: Session | None, instance: SenderInstance) -> dict[str, Any] | None:
    if session is None or instance.id is None:
        return None
    return today_allowance(session, instance).json()


def validate(
    data: dict[str, Any], creating: bool, current: SenderInstance | None = None
) -> dict[str, Any]:
    """Check and normalise instance fields (`current`: the number being changed); raises
    ValidationError naming the field."""
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
        check_outbound_url(url, "base_url")
        clean["base_url"] = url
    if "instance_name" in data:
        clean["instance_name"] = _instance_name(data["instance_name"])
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
        clean["rate_per_minute"] = int_field(data["rate_per_minute"], "rate_per_minute", 1, 60)
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
    for field in ("typing_min_seconds", "typing_max_seconds"):
        if field in data:
            clean[field] = seconds_field(data[field], field, MAX_TYPING_SECONDS)
    low = clean.get("typing_min_seconds", current.typing_min_seconds if current else 0.0) or 0.0
    high = clean.get("typing_max_seconds", current.typing_max_seconds if current else 0.0) or 0.0
    if low > high:
        raise ValidationError(
            "typing_min_seconds must not be above typing_max_seconds ({low} > {high})",
            "typing_min_seconds",
            low=low,
            high=high,
        )
    if "daily_cap" in data:
        cap = data["daily_cap"]
        clean["daily_cap"] = None if cap in (None, "", 0) else int_field(cap, "daily_cap", 1)
    for field in ("window_start", "window_end"):
        if field in data:
            clean[field] = time_field(data[field], field)
    if "window_days" in data:
        days = data["window_days"]
        if days in (None, ""):
            clean["window_days"] = None
        else:
            if not isinstance(days, list | tuple) or not days:
                raise ValidationError(
                    "window_days must list weekdays 0 (Monday) to 6", "window_days"
                )
            clean["window_days"] = sorted({int_field(d, "window_days", 0, 6) for d in days})
    if "is_active" in data:
        clean["is_active"] = bool(data["is_active"])
    if "chatwoot_inbox_id" in data:
        inbox = data["chatwoot_inbox_id"]
        clean["chatwoot_inbox_id"] = (
            None if inbox in (None, "", 0) else int_field(inbox, "chatwoot_inbox_id", 1, 2**31 - 1)
        )
    if "chatwoot_mirror" in data:
        mode = str(data["chatwoot_mirror"] or "off").strip().lower()
        if mode not in MIRROR_MODES:
            raise ValidationError(
                "chatwoot_mirror must be off, ours or evolution", "chatwoot_mirror"
            )
        clean["chatwoot_mirror"] = mode
    inbox_after = clean.get("chatwoot_inbox_id", current.chatwoot_inbox_id if current else None)
    if clean.get("chatwoot_mirror") == "ours" and inbox_after is None:
        raise ValidationError(
            "choose the Chatwoot inbox (chatwoot_inbox_id) before mirroring messages into it",
            "chatwoot_inbox_id",
        )
    validate_deliverability(data, clean, current)
    return clean


def _mirror_since(instance: SenderInstance, clean: dict[str, Any]) -> None:
    """Mirroring starts with the sends made from now on: the history is not replayed."""
    if clean.get("chatwoot_mirror") == "ours" and instance.chatwoot_mirror != "ours":
        instance.chatwoot_mirror_since = utcnow()


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


def create_instance(session: Session, actor: Actor, data: dict[str, Any]) -> SenderInstance:
    require(actor, "instances.write")
    clean = validate(data, creating=True)
    _check_unique_name(session, actor.account_id, clean["name"], None)
    token = clean.pop("token")
    mirror = {"chatwoot_mirror_since": utcnow()} if clean.get("chatwoot_mirror") == "ours" else {}
    instance = SenderInstance(
        **mirror,
        account_id=actor.account_id,
        token_encrypted=encrypt_secret(token),
        webhook_secret_encrypted=encrypt_secret(secrets.token_urlsafe(32)),
        api_version=clean.pop("api_version", "v2"),
        **clean,
    )
    session.add(instance)
    session.flush()
    people.record_audit(session, actor, "instance.create", "instance", instance.id, _audit(clean))
    register_webhook(session, actor, instance.id)
    return instance


def update_instance(
    session: Session, actor: Actor, instance_id: int, data: dict[str, Any]
) -> SenderInstance:
    """Change fields; a blank or absent `token` keeps the stored one (write-only field).

    A new address (`base_url` or `instance_name`) needs the token typed again and gets a new
    webhook secret: the stored secrets are never sent to an address other than the one they
    were saved for, so whoever may edit a number cannot read them by pointing it elsewhere.
    """
    require(actor, "instances.write")
    instance = get_instance(session, actor, instance_id)
    clean = validate(data, creating=False, current=instance)
    if "name" in clean:
        _check_unique_name(session, actor.account_id, clean["name"], instance.id)
    token = clean.pop("token", None)
    moved = [
        field
        for field in ("base_url", "instance_name")
        if field in clean and clean[field] != getattr(instance, field)
    ]
    if moved and not token:
        raise ValidationError(
            "enter the token again to change {fields}: the saved one is only sent to the "
            "address it was saved for",
            "token",
            fields=" and ".join(moved),
        )
    if token:
        instance.token_encrypted = encrypt_secret(token)
    if moved:
        instance.webhook_secret_encrypted = encrypt_secret(secrets.token_urlsafe(32))
    _mirror_since(instance, clean)
    if any(
        field in clean and clean[field] != getattr(instance, field)
        for field in ("warmup", "number_since")
    ):
        # A new ladder or age: its step is the number's age again until the next day's turn.
        instance.warmup_step = instance.warmup_step_on = instance.warmup_judgement = None
    for field, value in clean.items():
        setattr(instance, field, value)
    session.flush()
    details = (
        _audit(clean)
        | ({"token": "changed"} if token else {})
        | ({"webhook_secret": "changed"} if moved else {})
    )
    people.record_audit(session, actor, "instance.update", "instance", instance.id, details)
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
        session, actor, "instance.delete", "instance", instance.id, {"name": instance.name}
    )
    session.delete(instance)
    session.flush()


def _audit(clean: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (v.isoformat() if isinstance(v, time | date) else v)
        for k, v in clean.items()
        if k != "token"
    }
