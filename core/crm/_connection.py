"""An account's Chatwoot: connecting it, its settings, and "test connection".

The access token is encrypted at rest (`people.encrypt_secret`) and write-only: nothing here
returns it, and an error from Chatwoot never carries it (`core.chatwoot` scrubs it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.base import NotFound, ValidationError, utcnow
from core.chatwoot import ChatwootClient, ChatwootError, Inbox
from core.models import DEFAULT_SYNC_MINUTES, ChatwootLink
from core.people import Actor, decrypt_secret, encrypt_secret, record_audit, require

MAX_SYNC_MINUTES = 7 * 24 * 60
TOKEN_MASK = "********"

# Builds the client of a link: tests swap it for one that does not sleep on 429.
ClientFactory = Callable[[str, int, str], ChatwootClient]


def default_client(base_url: str, account_id: int, token: str) -> ChatwootClient:
    return ChatwootClient(base_url, account_id, token, timeout=30.0)


@dataclass(frozen=True)
class ChatwootSettings:
    """What pages and the API may show: never the token."""

    base_url: str
    chatwoot_account_id: int
    sync_every_minutes: int
    token: str  # always TOKEN_MASK
    last_sync_at: datetime | None
    next_sync_at: datetime | None
    last_report: dict[str, Any] | None
    last_error: str | None
    syncing: bool


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    account_name: str | None
    inboxes: tuple[Inbox, ...]
    error: str | None  # Chatwoot's answer in English, without the token


def find_link(session: Session, account_id: int) -> ChatwootLink | None:
    return session.scalar(select(ChatwootLink).where(ChatwootLink.account_id == account_id))


def get_link(session: Session, actor: Actor) -> ChatwootLink:
    link = find_link(session, actor.account_id)
    if link is None:
        raise NotFound("this account is not connected to Chatwoot")
    return link


def chatwoot_settings(session: Session, actor: Actor) -> ChatwootSettings | None:
    """The account's Chatwoot connection, or None when there is none."""
    require(actor, "settings.manage")
    link = find_link(session, actor.account_id)
    return None if link is None else settings_of(link)


def settings_of(link: ChatwootLink) -> ChatwootSettings:
    return ChatwootSettings(
        base_url=link.base_url,
        chatwoot_account_id=link.chatwoot_account_id,
        sync_every_minutes=link.sync_every_minutes,
        token=TOKEN_MASK,
        last_sync_at=link.last_sync_at,
        next_sync_at=link.next_sync_at,
        last_report=link.last_report,
        last_error=link.last_error,
        syncing=link.sync_started_at is not None,
    )


def connect_chatwoot(
    session: Session, actor: Actor, data: dict[str, Any], *, now: datetime | None = None
) -> ChatwootLink:
    """Create or change the account's connection. Fields: base_url, chatwoot_account_id,
    token (required when connecting; blank or absent keeps the stored one), sync_every_minutes.
    Every field is checked first; nothing is written unless all pass."""
    require(actor, "settings.manage")
    link = find_link(session, actor.account_id)
    clean = _validate(data, creating=link is None)
    token = clean.pop("token", None)
    now = now or utcnow()
    if link is None:
        link = ChatwootLink(
            account_id=actor.account_id,
            token_encrypted=encrypt_secret(token or ""),
            sync_every_minutes=clean.pop("sync_every_minutes", DEFAULT_SYNC_MINUTES),
            **clean,
        )
        session.add(link)
        action = "chatwoot.connected"
    else:
        if "base_url" in clean or "chatwoot_account_id" in clean:
            moved = (clean.get("base_url", link.base_url), clean.get("chatwoot_account_id"))
            if moved != (link.base_url, link.chatwoot_account_id) and moved[1] is not None:
                # Another Chatwoot account: the next run reads everything again.
                link.synced_from = link.last_full_sync_at = link.last_total = None
        for field, value in clean.items():
            setattr(link, field, value)
        if token:
            link.token_encrypted = encrypt_secret(token)
        action = "chatwoot.changed"
    if link.sync_every_minutes and link.next_sync_at is None:
        link.next_sync_at = now
    if not link.sync_every_minutes:
        link.next_sync_at = None
    details = {k: v for k, v in clean.items()} | ({"token": "changed"} if token else {})
    session.flush()
    record_audit(session, actor, action, "chatwoot", link.id, details)
    return link


def disconnect_chatwoot(session: Session, actor: Actor) -> None:
    """Forget the connection (and the token). Contacts keep their link, so connecting the
    same Chatwoot again updates them instead of making copies."""
    require(actor, "settings.manage")
    link = get_link(session, actor)
    record_audit(session, actor, "chatwoot.disconnected", "chatwoot", link.id, {})
    session.delete(link)
    session.flush()


def test_connection(
    session: Session,
    actor: Actor,
    data: dict[str, Any] | None = None,
    *,
    client_factory: ClientFactory = default_client,
) -> ConnectionCheck:
    """Ask Chatwoot for the account's name and inboxes, with the stored settings, or with
    `data` (not saved; a blank token means the stored one)."""
    require(actor, "settings.manage")
    link = find_link(session, actor.account_id)
    clean = _validate(data or {}, creating=link is None) if data else {}
    base_url = clean.get("base_url") or (link.base_url if link else None)
    account_id = clean.get("chatwoot_account_id") or (link.chatwoot_account_id if link else None)
    token = clean.get("token") or (decrypt_secret(link.token_encrypted) if link else None)
    if not base_url or not account_id or not token:
        raise NotFound("this account is not connected to Chatwoot")
    try:
        with client_factory(base_url, account_id, token) as client:
            info = client.check_connection()
    except ChatwootError as error:
        return ConnectionCheck(False, None, (), error.message)
    return ConnectionCheck(True, info.account_name, info.inboxes, None)


def client_for(
    link: ChatwootLink, client_factory: ClientFactory = default_client
) -> ChatwootClient:
    return client_factory(
        link.base_url, link.chatwoot_account_id, decrypt_secret(link.token_encrypted)
    )


# -- validation ------------------------------------------------------------------------------

FIELDS = ("base_url", "chatwoot_account_id", "token", "sync_every_minutes")


def _validate(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise ValidationError("unknown field(s): {names}", names=", ".join(sorted(unknown)))
    problems: list[dict[str, Any]] = []
    clean: dict[str, Any] = {}
    required = ("base_url", "chatwoot_account_id", "token") if creating else ()
    for field in FIELDS:
        value = data.get(field)
        blank = value is None or (isinstance(value, str) and not value.strip())
        if field == "token" and isinstance(value, str) and value.strip() == TOKEN_MASK:
            blank = True
        if blank:
            if field in required:
                problems.append(
                    ValidationError("{name} is required", field, name=field).detail(field)
                )
            continue
        try:
            clean[field] = _VALIDATORS[field](value)
        except ValidationError as error:
            problems.append(error.detail(field))
    if problems:
        raise ValidationError.several(problems, joined=True)
    return clean


def _base_url(value: Any) -> str:
    url = str(value).strip().rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or len(url) > 500:
        raise ValidationError(
            "the Chatwoot URL must start with http:// or https:// and name a host", "base_url"
        )
    if parsed.query or parsed.fragment or parsed.username or parsed.password:
        raise ValidationError(
            "the Chatwoot URL must not carry a query, a fragment or credentials", "base_url"
        )
    return url


def _positive(value: Any, field: str, upper: int) -> int:
    if isinstance(value, bool):
        raise ValidationError("{name} must be a whole number", field, name=field)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationError("{name} must be a whole number", field, name=field) from None
    if not 0 <= number <= upper:
        raise ValidationError(
            "{name} must be between 0 and {limit}", field, name=field, limit=upper
        )
    return number


def _account_id(value: Any) -> int:
    number = _positive(value, "chatwoot_account_id", 2**31 - 1)
    if number < 1:
        raise ValidationError(
            "{name} must be between 1 and {limit}",
            "chatwoot_account_id",
            name="chatwoot_account_id",
            limit=2**31 - 1,
        )
    return number


def _token(value: Any) -> str:
    token = str(value).strip()
    if len(token) > 500 or any(ord(char) <= 32 or ord(char) == 127 for char in token):
        raise ValidationError(
            "the access token must be one word of at most 500 characters", "token"
        )
    return token


_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "base_url": _base_url,
    "chatwoot_account_id": _account_id,
    "token": _token,
    "sync_every_minutes": lambda v: _positive(v, "sync_every_minutes", MAX_SYNC_MINUTES),
}
