"""Whether a delivery comes from the instance's Evolution server: its credentials, four ways.

Evolution v2 sends the headers the webhook was registered with: our secret in `x-webhook-token`
(what `instances.register_webhook` sets), or an HS256 JWT signed with it (`Authorization: Bearer`,
when a `jwt_key` is configured). v1 servers cannot send headers: the secret in the URL's
`?token=`, or the body's `apikey` (the instance's own token). Every comparison is constant-time,
on bytes (a non-ASCII guess is a wrong guess, not an error).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.base import DomainError
from core.models import SenderInstance
from core.people import SecretUnreadable, decrypt_secret
from core.tracking._delivery import MalformedPayload, parse_payload

log = logging.getLogger(__name__)

TOKEN_HEADER = "x-webhook-token"
JWT_LEEWAY_SECONDS = 60
# Evolution signs each delivery's JWT afresh (`exp` ten minutes on): a token valid for longer,
# or for ever (no `exp`), is one that can be replayed when it leaks, and is refused.
JWT_MAX_LIFETIME_SECONDS = 3600


class WebhookUnauthorized(DomainError):
    """The delivery carries none of the instance's credentials (answered 401)."""


def authenticated_payload(
    instance: SenderInstance,
    body: bytes,
    headers: Mapping[str, str],
    query_token: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The delivery's parsed body, once it proved to come from the instance's server.

    Raises WebhookUnauthorized, or MalformedPayload for an authenticated body that is not a
    delivery. An unauthenticated body is never judged: a stranger learns nothing from a 400.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    if _by_secret(instance, lowered, query_token, now):
        return parse_payload(body)
    try:
        payload = parse_payload(body)
    except MalformedPayload:
        raise WebhookUnauthorized("missing or wrong webhook credentials") from None
    if not _by_apikey(instance, payload.get("apikey")):
        raise WebhookUnauthorized("missing or wrong webhook credentials")
    return payload


def authenticate_headers(
    instance: SenderInstance | None,
    headers: Mapping[str, str],
    query_token: str | None,
    now: datetime,
) -> bool:
    """Judge the credentials a delivery carries outside its body, before the body is read.

    True: the headers or the query hold the instance's secret. False: they offer none, so only
    the body's `apikey` (v1 servers) can prove it. Raises WebhookUnauthorized when they offer a
    wrong one, or the instance does not exist (answered exactly as a wrong secret, so ids
    cannot be told apart without one).
    """
    if instance is None:
        raise WebhookUnauthorized("missing or wrong webhook credentials")
    lowered = {key.lower(): value for key, value in headers.items()}
    if _by_secret(instance, lowered, query_token, now):
        return True
    scheme, _, credentials = lowered.get("authorization", "").partition(" ")
    offered = (
        lowered.get(TOKEN_HEADER)
        or query_token
        or (scheme.lower() == "bearer" and credentials.strip())
    )
    if offered:
        raise WebhookUnauthorized("missing or wrong webhook credentials")
    return False


def _by_secret(
    instance: SenderInstance, headers: Mapping[str, str], query_token: str | None, now: datetime
) -> bool:
    secret = _decrypt(instance.webhook_secret_encrypted)
    if not secret:
        return False
    for candidate in (headers.get(TOKEN_HEADER), query_token):
        if candidate and hmac.compare_digest(candidate.encode(), secret.encode()):
            return True
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return verify_hs256(credentials.strip(), secret, now)
    return False


def _by_apikey(instance: SenderInstance, apikey: Any) -> bool:
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
        # As good as absent: the delivery gets a 401, and the log says why (never the secret).
        log.warning("webhook secret of an instance cannot be decrypted (SECRET_KEY changed?)")
        return None


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))  # JWTs drop the padding


def verify_hs256(token: str, secret: str, now: datetime) -> bool:
    """True when `token` is an HS256 JWT signed with `secret` whose `exp` is neither past nor
    more than an hour ahead (60 s leeway either way).

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
    # Only HS256: a token naming another algorithm ("none" above all) is never trusted.
    if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
        return False
    signed = f"{parts[0]}.{parts[1]}".encode()
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    if not hmac.compare_digest(signature, expected):
        return False
    expires = claims.get("exp")
    if isinstance(expires, bool) or not isinstance(expires, int | float):
        return False  # no expiry: valid for ever if it leaked
    moment = now.timestamp()
    return (
        moment - JWT_LEEWAY_SECONDS
        <= expires
        <= moment + JWT_MAX_LIFETIME_SECONDS + JWT_LEEWAY_SECONDS
    )
