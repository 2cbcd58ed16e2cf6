"""What an Evolution API answer means for a send: the one place that decides it.

`classify` maps an HTTP response, or the exception raised instead of one, to an `Outcome`.
Nowhere else interprets status codes or transport errors.

Transport errors and duplicates. httpx raises the same `RemoteProtocolError` ("server
disconnected without sending a response") whether the server dropped the connection before
reading the request or after processing it, and httpcore swallows write errors and goes on to
read, so the exception type alone cannot tell "never arrived" from "may have gone out". The
client therefore asks httpcore (its `trace` extension) whether the request body was completely
written to the socket:

- body not completely written (connect failed, write failed or timed out): the server cannot
  have a whole request, so nothing was processed -> RETRY;
- body completely written and then no answer (read timeout, reset, disconnect): the server may
  have processed it -> UNKNOWN, never resent automatically. A request written onto a keep-alive
  connection the server had just closed also lands here: a false "unknown" costs a gap,
  a false "retry" could cost a duplicate.
- no trace information (e.g. `httpx.MockTransport`): judged by the exception type alone,
  with everything after the connect phase treated as UNKNOWN.

Whose fault. Besides its outcome a result may name a `trouble` of the instance, the cause of a
circuit (`CircuitCause`): INSTANCE_DOWN answers say which (licence, session, config); a failure
of the server itself (`SERVER`) keeps its recipient's outcome and counts towards the instance's
breaker (core.sending._breaker), which opens the circuit after a streak of them:

- 5xx with or without a JSON body, a proxy's 502/503 (nginx, Traefik, Caddy answer HTML while
  the Node process is down), connection refused, connect timeouts, TLS errors: RETRY + SERVER.
  The request never took effect: safe to send again.
- 504: a proxy also answers 504 after its read timeout while Evolution may already have sent the
  message, so it is no proof that nothing went out: UNKNOWN + SERVER (never resent on its own;
  staff can retry). Counting it still opens the circuit after a few recipients, instead of
  making a whole campaign unknown during an outage.
- a read timeout or a connection lost after the request was written: UNKNOWN + SERVER, for the
  same reason (a server that stops answering must not turn every recipient unknown).
- 503 `{"code": "LICENSE_REQUIRED", "register_url": ...}`: Evolution 2.4 is not activated.
  INSTANCE_DOWN + LICENCE, with the page where staff activate it (`activation_url`).

429 and 408 are pace, not outage: retried with backoff, and they neither count nor break a
streak. Any other answer of the server (201, 4xx) proves it is working and ends a streak.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from core.models import CircuitCause

MAX_ERROR_CHARS = 200
MAX_URL_CHARS = 500
PROXY_HTML_STATUSES = (502, 503, 504)


class Outcome(enum.Enum):
    SENT = "sent"  # 201: keep key.id
    NOT_ON_WHATSAPP = "not_on_whatsapp"
    REJECTED = "rejected"  # other 4xx: bad data, never retried
    INSTANCE_DOWN = "instance_down"  # 401, unknown instance, Connection Closed: stop the instance
    RETRY = "retry"  # 429, 5xx, connect failures: the request never took effect
    UNKNOWN = "unknown"  # timed out after sending: may have gone out, never resent


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    message_id: str | None = None  # Evolution key.id, only for SENT
    http_status: int | None = None
    error: str | None = None  # short, human-readable, never contains a secret
    trouble: CircuitCause | None = None  # the instance's (see the module's docstring)
    activation_url: str | None = None  # LICENSE_REQUIRED's register_url

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SENT

    @property
    def server_fault(self) -> bool:
        """The server failed (not the recipient, not the instance's settings)."""
        return self.trouble is CircuitCause.SERVER

    @property
    def server_answered(self) -> bool:
        """The server gave a meaningful answer (201, a 4xx about the request): it works."""
        status = self.http_status
        return status is not None and status < 500 and status not in (408, 429)


# Exceptions raised before any byte of the request could reach the server.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Raised while writing: the server cannot hold a complete request.
_NOT_COMPLETELY_WRITTEN = (httpx.WriteError, httpx.WriteTimeout)


def classify(
    result: httpx.Response | BaseException,
    *,
    request_written: bool | None = None,
    secrets: Iterable[str] = (),
) -> SendResult:
    """Decide what a send's response (or the exception raised instead) means.

    `request_written`: True when the request body is known to have been completely written to
    the socket, False when it is known not to have been, None when unknown. It only matters for
    exceptions. `secrets` are scrubbed from the error text.
    """
    secrets = [s for s in secrets if s]
    if isinstance(result, httpx.Response):
        return _classify_response(result, secrets)
    return _classify_exception(result, request_written, secrets)


def _classify_response(response: httpx.Response, secrets: list[str]) -> SendResult:
    status = response.status_code
    payload = _json(response)
    message = _message(payload, response)
    text = _flatten(message) if message is not None else ""

    def result(
        outcome: Outcome, error: str | None, trouble: CircuitCause | None = None
    ) -> SendResult:
        return SendResult(outcome, None, status, _scrub(error, secrets), trouble)

    if status == 201:
        key_id = _key_id(payload)
        if key_id is None:
            return SendResult(Outcome.SENT, None, status, "201 without key.id in the answer")
        return SendResult(Outcome.SENT, key_id, status, None)
    if 200 <= status < 300:
        # Every send route answers 201; a 2xx without it did not go through the send path we know.
        return result(Outcome.UNKNOWN, f"unexpected {status} answer to a send")

    licence = _licence_required(status, payload)
    if licence is not None:
        return SendResult(
            Outcome.INSTANCE_DOWN,
            None,
            status,
            "503: this Evolution server is not activated (LICENSE_REQUIRED)",
            CircuitCause.LICENCE,
            _without_secrets(licence, secrets) or None,
        )
    if status in PROXY_HTML_STATUSES and payload is None:
        # A reverse proxy's own error page (HTML): the server behind it is down or restarting.
        outcome = Outcome.UNKNOWN if status == 504 else Outcome.RETRY
        return result(outcome, f"{status} {_reason(response)}", CircuitCause.SERVER)

    # The WhatsApp session behind the instance is down. Seen as 500, and as 400
    # ["Error: Connection Closed"] where a server wraps it: either way no recipient is to blame.
    if status >= 400 and "connection closed" in text.lower():
        return result(
            Outcome.INSTANCE_DOWN,
            f"{status}: WhatsApp session is down (Connection Closed)",
            CircuitCause.SESSION,
        )

    if status == 400 and _not_on_whatsapp(message):
        return result(Outcome.NOT_ON_WHATSAPP, "400: number is not on WhatsApp")
    config = CircuitCause.CONFIG
    if status in (401, 403):
        return result(
            Outcome.INSTANCE_DOWN, f"{status}: the instance's API key was refused", config
        )
    if status == 404:
        # No send route answers 404 because of a recipient: either the instance name or the
        # base URL is wrong. Burning recipients over a configuration error would be wrong.
        if "does not exist" in text:
            return result(
                Outcome.INSTANCE_DOWN, "404: the instance does not exist on the server", config
            )
        return result(
            Outcome.INSTANCE_DOWN, "404: route not found (check base URL / API version)", config
        )
    if status in (408, 429):
        return result(Outcome.RETRY, f"{status}: {_reason(response)}, retry later")
    if 400 <= status < 500:
        detail = text or _reason(response)
        return result(Outcome.REJECTED, f"{status}: {detail}")
    if status == 504:
        detail = text or _reason(response)
        return result(Outcome.UNKNOWN, f"{status}: {detail}", CircuitCause.SERVER)
    if status >= 500:
        detail = text or _reason(response)
        return result(Outcome.RETRY, f"{status}: {detail}", CircuitCause.SERVER)
    # 1xx/3xx: nothing we asked for; whether it went out is not known.
    return result(Outcome.UNKNOWN, f"unexpected {status} answer to a send")


def _classify_exception(
    exc: BaseException, request_written: bool | None, secrets: list[str]
) -> SendResult:
    name = type(exc).__name__
    server = CircuitCause.SERVER
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return SendResult(
            Outcome.INSTANCE_DOWN,
            None,
            None,
            _scrub(f"bad base URL ({name})", secrets),
            CircuitCause.CONFIG,
        )
    if isinstance(exc, httpx.LocalProtocolError):
        # httpx refused to put our request on the wire: bad data, never sent.
        return SendResult(Outcome.REJECTED, None, None, "request could not be encoded")
    if isinstance(exc, _NEVER_SENT):
        # TLS failures are raised as ConnectError too: the request never left.
        return SendResult(Outcome.RETRY, None, None, _TRANSPORT_TEXT.get(name, name), server)
    if request_written is False or (
        request_written is None and isinstance(exc, _NOT_COMPLETELY_WRITTEN)
    ):
        return SendResult(
            Outcome.RETRY,
            None,
            None,
            f"connection lost before the request was completely sent ({name})",
            server,
        )
    if isinstance(exc, httpx.TransportError):
        return SendResult(
            Outcome.UNKNOWN,
            None,
            None,
            f"{_TRANSPORT_TEXT.get(name, name)} after the request was sent; it may have gone out",
            server,
        )
    if isinstance(exc, httpx.DecodingError):  # an answer came, garbled: the server is up
        return SendResult(
            Outcome.UNKNOWN,
            None,
            None,
            f"{_TRANSPORT_TEXT.get(name, name)} after the request was sent; it may have gone out",
        )
    # Anything else is a bug on our side, raised at an unknown point of the exchange.
    return SendResult(Outcome.UNKNOWN, None, None, f"unexpected error ({name})")


_TRANSPORT_TEXT = {
    "ConnectError": "could not connect to the server",
    "ConnectTimeout": "timed out connecting to the server",
    "PoolTimeout": "no free connection to the server",
    "ReadTimeout": "no answer in time",
    "ReadError": "connection lost",
    "RemoteProtocolError": "server closed the connection",
    "WriteError": "connection lost while sending",
    "WriteTimeout": "timed out while sending",
}


def _json(response: httpx.Response) -> object:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def _message(payload: object, response: httpx.Response) -> object:
    if isinstance(payload, dict):
        inner = payload.get("response")
        if isinstance(inner, dict) and "message" in inner:
            return inner["message"]
        if "message" in payload:
            return payload["message"]
        return payload.get("error")
    if payload is not None:
        return payload
    body = response.content[:MAX_ERROR_CHARS].decode("utf-8", "replace").strip()
    return body or None


def _flatten(message: object) -> str:
    if isinstance(message, str):
        return message
    if isinstance(message, list):
        return "; ".join(_flatten(m) for m in message if m not in (None, "", []))
    if isinstance(message, dict):
        return json.dumps(message, ensure_ascii=False, sort_keys=True)
    return str(message)


def _licence_required(status: int, payload: object) -> str | None:
    """The page to activate an Evolution 2.4 server, when this is its licence gate ("" when the
    answer names none, or not a web address)."""
    if status != 503 or not isinstance(payload, dict) or payload.get("code") != "LICENSE_REQUIRED":
        return None
    url = payload.get("register_url")
    if isinstance(url, str) and url.startswith(("http://", "https://")) and " " not in url:
        return url[:MAX_URL_CHARS]
    return ""


def _not_on_whatsapp(message: object) -> bool:
    return (
        isinstance(message, list)
        and bool(message)
        and all(isinstance(m, dict) and m.get("exists") is False for m in message)
    )


def _key_id(payload: object) -> str | None:
    if isinstance(payload, dict):
        key = payload.get("key")
        if isinstance(key, dict) and isinstance(key.get("id"), str) and key["id"]:
            return key["id"]
    return None


def _reason(response: httpx.Response) -> str:
    return response.reason_phrase or "error"


def _without_secrets(url: str, secrets: list[str]) -> str:
    return "" if any(secret in url for secret in secrets) else url


def _scrub(text: str | None, secrets: list[str]) -> str | None:
    if text is None:
        return None
    for secret in secrets:
        text = text.replace(secret, "***")
    text = " ".join(text.split())
    if len(text) > MAX_ERROR_CHARS:
        text = text[: MAX_ERROR_CHARS - 1] + "…"
    return text
