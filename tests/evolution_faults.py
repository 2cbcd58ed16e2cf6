"""The faults the fake Evolution server (tests/fake_evolution.py) can be switched into.

`FakeEvolution.fail(...)` adds a `FaultRule`; the server asks its rules in order and the first
one that matches a request wins. Faults come in two kinds, answered at two moments:

- in front of the app (`FRONT_FAULTS`): a reverse proxy whose Node process is gone, and the
  Evolution 2.4 licence gate. Both answer before the instance or the key is looked at, on every
  route, as nginx and the 2.4 licence middleware do;
- in the app (the rest): answered only for an instance that exists and a key that is right, by
  default on the send routes only.

A rule can wait for `after_sends` messages to go out before it starts (an outage in the middle of
a campaign) and can end by itself `for_seconds` after it started, after `remaining` hits, or when
cleared (`rule.clear()`, or leave its `with` block).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

SEND_ROUTES = ("sendText", "sendMedia", "sendWhatsAppAudio")
ALL_ROUTES = (*SEND_ROUTES, "connectionState", "set", "whatsappNumbers")


class Fault(StrEnum):
    SERVER_ERROR = "500"  # 500 Internal Server Error, nothing sent
    TOO_MANY_REQUESTS = "429"  # 429, nothing sent
    CONNECTION_CLOSED = "connection_closed"  # 500 "Connection Closed": the session is down
    UNAUTHORIZED = "401"  # 401 as if the key were wrong
    STATUS = "status"  # any `status` with any `body` (default: the error envelope), nothing sent
    SLOW = "slow"  # wait `seconds`, then process normally
    HANG = "hang"  # process (the message goes out, logged), then hold the answer `seconds`
    # and close without answering: the ambiguous case
    DROP = "drop"  # read the request, then close the socket without processing or answering
    # (not logged as processed; see `dropped()`). The client cannot tell this from HANG.
    PROXY_OUTAGE = "proxy_outage"  # the reverse proxy answers `status` (502, 503 or 504) with
    # nginx's HTML error page on every route: nothing reaches Evolution, nothing is sent
    LICENSE_REQUIRED = "license_required"  # Evolution 2.4 not activated: 503 and the licence
    # JSON on every route, whatever the instance or key; nothing sent


FRONT_FAULTS = frozenset({Fault.PROXY_OUTAGE, Fault.LICENSE_REQUIRED})

# nginx's own reason phrases, used in its status line and page title (not Python's).
NGINX_REASONS = {
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}

# From the 2.4.0-rc2 source (src/licensing/runtime.ts).
LICENSE_DOCS_URL = "https://docs.evolutionfoundation.com.br/licensing"


@dataclass
class FaultRule:
    fault: Fault
    instance: str | None = None
    numbers: frozenset[str] | None = None
    routes: frozenset[str] | None = frozenset(SEND_ROUTES)  # None: every route
    remaining: int | None = None  # None: until cleared
    seconds: float = 0.0
    status: int = 500
    body: Any = None
    hits: int = 0
    after_sends: int = 0  # messages that must go out (on `instance`, or anywhere) before it starts
    for_seconds: float | None = None  # None: until cleared; else it ends this long after starting
    sends_seen: int = 0
    started: float | None = None  # time.monotonic() when it started; None: still waiting
    on_clear: Callable[[FaultRule], None] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.after_sends <= 0 and self.started is None:
            self.started = time.monotonic()

    def is_active(self, now: float | None = None) -> bool:
        """Started, not expired, not used up."""
        if self.started is None or (self.remaining is not None and self.remaining <= 0):
            return False
        now = time.monotonic() if now is None else now
        return self.for_seconds is None or now - self.started < self.for_seconds

    def matches(self, instance: str, route: str, number: str | None) -> bool:
        if self.routes is not None and route not in self.routes:
            return False
        if not self.is_active():
            return False
        if self.instance is not None and self.instance != instance:
            return False
        return self.numbers is None or number in self.numbers

    def note_sent(self, instance: str, now: float) -> None:
        """A message went out: count it towards `after_sends`."""
        if self.started is not None or (self.instance is not None and self.instance != instance):
            return
        self.sends_seen += 1
        if self.sends_seen >= self.after_sends:
            self.started = now

    def clear(self) -> None:
        """Switch this rule off (the others stay)."""
        if self.on_clear is not None:
            self.on_clear(self)

    def __enter__(self) -> FaultRule:
        return self

    def __exit__(self, *exc: object) -> None:
        self.clear()


def envelope(status: int, error: str, message: Any) -> dict[str, Any]:
    """Evolution's error body."""
    return {"status": status, "error": error, "response": {"message": message}}


APP_FAULT_ANSWERS: dict[Fault, tuple[int, Any]] = {
    Fault.SERVER_ERROR: (500, envelope(500, "Internal Server Error", "Internal server error")),
    Fault.TOO_MANY_REQUESTS: (429, envelope(429, "Too Many Requests", "Too many requests")),
    Fault.CONNECTION_CLOSED: (
        500,
        envelope(500, "Internal Server Error", ["Error: Connection Closed"]),
    ),
    Fault.UNAUTHORIZED: (401, envelope(401, "Unauthorized", "Unauthorized")),
}


def nginx_page(status: int) -> bytes:
    """The error page nginx serves itself when its upstream is down or too slow."""
    title = f"{status} {NGINX_REASONS[status]}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    ).encode()


def license_required_body(register_url: str, instance_id: str) -> dict[str, Any]:
    """What Evolution 2.4's licence middleware answers (with 503) until the server is activated.

    `instance_id` is the server's own id (a UUID), not a WhatsApp instance's name.
    """
    return {
        "error": "service not activated",
        "code": "LICENSE_REQUIRED",
        "register_url": register_url,
        "instance_id": instance_id,
        "docs_url": LICENSE_DOCS_URL,
        "message": (
            f"This Evolution API instance is not activated. Open {register_url} to activate, or "
            "set AUTHENTICATION_API_KEY in your .env with a valid licensing key. "
            f"Docs: {LICENSE_DOCS_URL}"
        ),
    }
