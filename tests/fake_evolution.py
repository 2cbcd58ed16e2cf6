"""A fake Evolution API server over real HTTP on 127.0.0.1, for tests and benchmarks.

It follows ../shared/evolution-api.md: instances by name with their own token (or the global
key), the 404-before-401 order, v1/v2 body validation, 201 with a unique `key.id`, 400
`exists: false` for numbers configured as not on WhatsApp, connectionState, webhook/set (the
configuration is recorded), whatsappNumbers. Every request the server processed is logged;
`sends()` / `numbers_received()` are what "reached WhatsApp".

Faults are switched on per test with `fail(...)`, optionally per instance, per number and for
the next N matching requests. See `Fault` for what each does.

    with FakeEvolution() as fake:
        inst = fake.add_instance("shop", api_version="v2")
        client = EvolutionClient(fake.base_url, inst.name, inst.token)
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import itertools
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import httpx
import pytest

from tests.evolution_payloads import jid

SEND_ROUTES = ("sendText", "sendMedia", "sendWhatsAppAudio")
MEDIA_TYPES = ("image", "video", "document", "audio")
_ROUTE = re.compile(r"^/(?P<group>message|instance|webhook|chat)/(?P<action>\w+)/(?P<name>[^/?]+)")


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


@dataclass
class FakeInstance:
    name: str
    token: str
    api_version: Literal["v1", "v2"] = "v2"
    state: str = "open"  # open | connecting | close | refused
    not_on_whatsapp: set[str] = field(default_factory=set)
    webhook: dict[str, Any] | None = None  # last webhook/set body, as received


@dataclass
class FaultRule:
    fault: Fault
    instance: str | None = None
    numbers: frozenset[str] | None = None
    routes: frozenset[str] = frozenset(SEND_ROUTES)
    remaining: int | None = None  # None: until cleared
    seconds: float = 0.0
    status: int = 500
    body: Any = None
    hits: int = 0

    def matches(self, instance: str, route: str, number: str | None) -> bool:
        if route not in self.routes:
            return False
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.instance is not None and self.instance != instance:
            return False
        return self.numbers is None or number in self.numbers


@dataclass(frozen=True)
class Received:
    seq: int
    at: datetime  # UTC, when processing finished (for sends: when the message "went out")
    monotonic: float
    method: str
    route: str  # e.g. "sendText", "connectionState", "set"
    instance: str
    number: str | None  # digits as the server normalised them
    body: Any
    status: int | None  # None: no answer (hang)
    message_id: str | None
    delivered: bool  # a message went out to WhatsApp
    fault: str | None


def _envelope(status: int, error: str, message: Any) -> dict[str, Any]:
    return {"status": status, "error": error, "response": {"message": message}}


def _digits(number: str) -> str:
    return number if "@" in number else re.sub(r"\D", "", number)


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def _is_base64(value: str) -> bool:
    if not value or len(value) % 4:
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


class FakeEvolution:
    """The server. `start()`/`stop()` or use as a context manager."""

    def __init__(
        self, *, global_key: str | None = None, latency: float = 0.0, honor_delay: bool = True
    ) -> None:
        self.global_key = global_key or "global-" + secrets.token_hex(8)
        self.latency = latency  # seconds added to every answer (all instances)
        self.honor_delay = honor_delay  # hold the answer for a send's `delay` ms, like Evolution
        self._lock = threading.Lock()
        self._instances: dict[str, FakeInstance] = {}
        self._latency_by_instance: dict[str, float] = {}
        self._faults: list[FaultRule] = []
        self._log: list[Received] = []
        self._dropped: list[Received] = []
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._id_prefix = secrets.token_hex(4).upper()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeEvolution:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = _Server(("127.0.0.1", 0), handler)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes hanging handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def __enter__(self) -> FakeEvolution:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- instances -------------------------------------------------------------------------

    def add_instance(
        self,
        name: str | None = None,
        *,
        token: str | None = None,
        api_version: Literal["v1", "v2"] = "v2",
        state: str = "open",
        not_on_whatsapp: Iterable[str] = (),
    ) -> FakeInstance:
        with self._lock:
            name = name or f"inst{len(self._instances) + 1}"
            inst = FakeInstance(
                name=name,
                token=token or "tok-" + secrets.token_hex(12),
                api_version=api_version,
                state=state,
                not_on_whatsapp={_digits(n) for n in not_on_whatsapp},
            )
            self._instances[name] = inst
            return inst

    def instance(self, name: str) -> FakeInstance:
        with self._lock:
            return self._instances[name]

    def remove_instance(self, name: str) -> None:
        with self._lock:
            self._instances.pop(name, None)

    def set_state(self, name: str, state: str) -> None:
        """`close`/`connecting`/`refused` make sends answer 500 Connection Closed."""
        with self._lock:
            self._instances[name].state = state

    def set_token(self, name: str, token: str) -> None:
        with self._lock:
            self._instances[name].token = token

    def set_not_on_whatsapp(self, *numbers: str, instance: str | None = None) -> None:
        with self._lock:
            targets = [self._instances[instance]] if instance else self._instances.values()
            for inst in targets:
                inst.not_on_whatsapp.update(_digits(n) for n in numbers)

    def set_latency(self, seconds: float, instance: str | None = None) -> None:
        with self._lock:
            if instance is None:
                self.latency = seconds
            else:
                self._latency_by_instance[instance] = seconds

    # -- faults ----------------------------------------------------------------------------

    def fail(
        self,
        fault: Fault | str,
        *,
        instance: str | None = None,
        numbers: Iterable[str] | None = None,
        routes: Iterable[str] = SEND_ROUTES,
        times: int | None = None,
        seconds: float = 5.0,
        status: int = 500,
        body: Any = None,
    ) -> FaultRule:
        """Switch a fault on. `instance`/`numbers`/`routes` narrow it (by default it hits the send
        routes only, not connectionState or webhook/set); `times` limits it to the next N matching requests; `seconds` is for SLOW and HANG;
        `status`/`body` for STATUS. The first matching rule wins."""
        rule = FaultRule(
            fault=Fault(fault),
            instance=instance,
            numbers=None if numbers is None else frozenset(_digits(n) for n in numbers),
            routes=frozenset(routes),
            remaining=times,
            seconds=seconds,
            status=status,
            body=body,
        )
        with self._lock:
            self._faults.append(rule)
        return rule

    def clear_faults(self, instance: str | None = None) -> None:
        with self._lock:
            self._faults = [
                r for r in self._faults if instance is not None and r.instance != instance
            ]

    # -- the log ---------------------------------------------------------------------------

    def requests(self, instance: str | None = None, route: str | None = None) -> list[Received]:
        """Every processed request (not the dropped ones), in arrival order."""
        with self._lock:
            log = list(self._log)
        return [
            r
            for r in log
            if (instance is None or r.instance == instance) and (route is None or r.route == route)
        ]

    def sends(self, instance: str | None = None) -> list[Received]:
        """Messages that went out (201, or processed then hung), in order."""
        return [r for r in self.requests(instance) if r.delivered]

    def numbers_received(self, instance: str | None = None) -> list[str]:
        """Numbers messages went out to, sorted, repeats kept: no duplicates means
        `numbers_received() == sorted(set(numbers_received()))`."""
        return sorted(r.number for r in self.sends(instance) if r.number is not None)

    def dropped(self) -> list[Received]:
        with self._lock:
            return list(self._dropped)

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()
            self._dropped.clear()

    # -- webhooks --------------------------------------------------------------------------

    def deliver_webhook(
        self, instance: str, payload: Mapping[str, Any], *, timeout: float = 10.0
    ) -> httpx.Response:
        """POST `payload` to the URL the instance registered with webhook/set, with the headers
        it registered (v2), as Evolution would."""
        inst = self.instance(instance)
        if not inst.webhook:
            raise AssertionError(f"instance {instance!r} has no webhook registered")
        config = inst.webhook.get("webhook", inst.webhook)
        return post_webhook(
            config["url"], payload, headers=config.get("headers") or {}, timeout=timeout
        )

    # -- request processing (called from handler threads) ----------------------------------

    def _latency_for(self, instance: str) -> float:
        with self._lock:
            return self._latency_by_instance.get(instance, self.latency)

    def _take_fault(self, instance: str, route: str, number: str | None) -> FaultRule | None:
        with self._lock:
            for rule in self._faults:
                if rule.numbers is not None and number is None:
                    continue
                if rule.matches(instance, route, number):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
        return None

    def _new_message_id(self) -> str:
        return f"3EB0{self._id_prefix}{next(self._ids):012X}"

    def _record(self, target: list[Received], **fields: Any) -> Received:
        entry = Received(
            seq=next(self._seq), at=datetime.now(UTC), monotonic=time.monotonic(), **fields
        )
        with self._lock:
            target.append(entry)
        return entry

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    allow_reuse_address = True

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        # Headers and body leave in two writes; without this Nagle + delayed ACK cost ~40 ms.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, addr


class _Handler(BaseHTTPRequestHandler):
    fake: FakeEvolution
    protocol_version = "HTTP/1.1"  # keep-alive, like the real server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        match = _ROUTE.match(self.path)
        if not match:
            self._reply(404, _envelope(404, "Not Found", [f"Cannot {self.command} {self.path}"]))
            return
        action, name = match["action"], match["name"]
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._reply(400, _envelope(400, "Bad Request", ["Unexpected token in JSON"]))
            return
        number = None
        if action in SEND_ROUTES and isinstance(body, dict) and isinstance(body.get("number"), str):
            number = _digits(body["number"])

        def record(
            status: int | None, *, message_id: str | None = None, delivered: bool = False,
            fault: str | None = None, target: list[Received] | None = None,
        ) -> Received:  # fmt: skip
            return fake._record(
                fake._log if target is None else target,
                method=self.command,
                route=action,
                instance=name,
                number=number,
                body=body,
                status=status,
                message_id=message_id,
                delivered=delivered,
                fault=fault,
            )

        with fake._lock:
            found = fake._instances.get(name)
            inst = (
                None
                if found is None
                else replace(found, not_on_whatsapp=set(found.not_on_whatsapp))
            )
        # The real server checks that the instance exists before it checks the key.
        if inst is None:
            status, answer = (
                404,
                _envelope(404, "Not Found", [f'The "{name}" instance does not exist']),
            )
            self._finish(record, name, status, answer)
            return
        if self.headers.get("apikey") not in (inst.token, fake.global_key):
            self._finish(record, name, 401, _envelope(401, "Unauthorized", "Unauthorized"))
            return

        rule = fake._take_fault(name, action, number)
        fault = rule.fault if rule else None
        if rule is not None and fault in _FAULT_ANSWERS:
            status, answer = _FAULT_ANSWERS[fault]
            self._finish(record, name, status, answer, fault=fault.value)
            return
        if rule is not None and fault is Fault.STATUS:
            answer = (
                rule.body if rule.body is not None else _envelope(rule.status, "Error", "Error")
            )
            self._finish(record, name, rule.status, answer, fault=fault.value)
            return
        if rule is not None and fault is Fault.DROP:
            record(None, fault=fault.value, target=fake._dropped)
            self._drop()
            return
        if rule is not None and fault is Fault.SLOW:
            fake._sleep(rule.seconds)

        status, answer, message_id = _dispatch(fake, inst, action, self.command, body, number)
        delivered = message_id is not None
        if delivered and fake.honor_delay and isinstance(body, dict):
            fake._sleep(_delay_ms(body) / 1000)
        if rule is not None and fault is Fault.HANG:
            # Processed (the message went out), but the answer never comes.
            record(None, message_id=message_id, delivered=delivered, fault=fault.value)
            fake._sleep(rule.seconds)
            self._drop()
            return
        self._finish(record, name, status, answer, message_id=message_id, delivered=delivered)

    def _finish(self, record: Any, instance: str, status: int, answer: Any, **fields: Any) -> None:
        record(status, **fields)
        self.fake._sleep(self.fake._latency_for(instance))
        self._reply(status, answer)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


_FAULT_ANSWERS: dict[Fault, tuple[int, Any]] = {
    Fault.SERVER_ERROR: (500, _envelope(500, "Internal Server Error", "Internal server error")),
    Fault.TOO_MANY_REQUESTS: (429, _envelope(429, "Too Many Requests", "Too many requests")),
    Fault.CONNECTION_CLOSED: (
        500,
        _envelope(500, "Internal Server Error", ["Error: Connection Closed"]),
    ),
    Fault.UNAUTHORIZED: (401, _envelope(401, "Unauthorized", "Unauthorized")),
}

# Required properties per route and API line; a body of the other line fails like Evolution's
# JSON-schema check does: 400 with a nested list of messages.
_REQUIRED = {
    ("sendText", "v2"): ("number", "text"),
    ("sendText", "v1"): ("number", "textMessage"),
    ("sendMedia", "v2"): ("number", "mediatype"),
    ("sendMedia", "v1"): ("number", "mediaMessage"),
    ("sendWhatsAppAudio", "v2"): ("number", "audio"),
    ("sendWhatsAppAudio", "v1"): ("number", "audioMessage"),
    ("set", "v2"): ("webhook",),
    ("set", "v1"): ("enabled", "url"),
    ("whatsappNumbers", "v2"): ("numbers",),
    ("whatsappNumbers", "v1"): ("numbers",),
}


def _bad_request(message: Any) -> tuple[int, Any, None]:
    return 400, _envelope(400, "Bad Request", message), None


def _schema_errors(body: Any, required: Iterable[str]) -> list[str]:
    if not isinstance(body, dict):
        return ["instance is not of a type(s) object"]
    return [f'instance requires property "{prop}"' for prop in required if prop not in body]


def _media_error(fields: Mapping[str, Any]) -> str | None:
    mediatype = fields.get("mediatype")
    if mediatype not in MEDIA_TYPES:
        return f"mediatype must be one of {', '.join(MEDIA_TYPES)}"
    media = fields.get("media")
    if not isinstance(media, str) or not media:
        return "Owned media must be a url or base64"
    if not _is_url(media) and not _is_base64(media):
        return "Owned media must be a url or base64"
    if mediatype == "document" and not _is_url(media) and not fields.get("fileName"):
        return "fileName is required for a base64 document"
    return None


def _dispatch(
    fake: FakeEvolution, inst: FakeInstance, action: str, method: str, body: Any,
    number: str | None,
) -> tuple[int, Any, str | None]:  # fmt: skip
    """Answer one request for an existing, authenticated instance: (status, body, key.id)."""
    if action == "connectionState" and method == "GET":
        return 200, {"instance": {"instanceName": inst.name, "state": inst.state}}, None
    if method != "POST" or (action, inst.api_version) not in _REQUIRED:
        return 404, _envelope(404, "Not Found", [f"Cannot {method} /{action}/{inst.name}"]), None
    missing = _schema_errors(body, _REQUIRED[(action, inst.api_version)])
    if missing:
        return _bad_request([missing])

    if action == "set":
        config = body["webhook"] if inst.api_version == "v2" else body
        if not isinstance(config, dict) or not isinstance(config.get("enabled"), bool):
            return _bad_request([['instance.webhook requires property "enabled"']])
        if config["enabled"] and not _is_url(str(config.get("url") or "")):
            return _bad_request([["url must be a valid http(s) URL"]])
        with fake._lock:
            fake._instances[inst.name].webhook = body
        return 201, {"webhook": {"instanceName": inst.name, **config}}, None
    if action == "whatsappNumbers":
        numbers = [_digits(str(n)) for n in body["numbers"]]
        return (
            200,
            [
                {"jid": jid(n), "exists": n not in inst.not_on_whatsapp, "number": n}
                for n in numbers
            ],
            None,
        )

    # sends
    if not isinstance(body["number"], str) or not number:
        return _bad_request([["instance.number is not of a type(s) string"]])
    if inst.api_version == "v2":
        if action == "sendText" and not str(body.get("text") or "").strip():
            return _bad_request([["text must not be empty"]])
        if action == "sendMedia" and (error := _media_error(body)):
            return _bad_request([error])
        if action == "sendWhatsAppAudio" and not _audio_ok(body.get("audio")):
            return _bad_request(["Owned media must be a url or base64"])
    else:
        inner_key = {"sendText": "textMessage", "sendMedia": "mediaMessage"}.get(
            action, "audioMessage"
        )
        inner = body[inner_key]
        if not isinstance(inner, dict):
            return _bad_request([[f"instance.{inner_key} is not of a type(s) object"]])
        if action == "sendText" and not str(inner.get("text") or "").strip():
            return _bad_request([['instance.textMessage requires property "text"']])
        if action == "sendMedia" and (error := _media_error(inner)):
            return _bad_request([error])
        if action == "sendWhatsAppAudio" and not _audio_ok(inner.get("audio")):
            return _bad_request(["Owned media must be a url or base64"])

    if inst.state != "open":
        return 500, _envelope(500, "Internal Server Error", ["Error: Connection Closed"]), None
    if number in inst.not_on_whatsapp:
        return _bad_request([{"jid": jid(number), "exists": False, "number": number}])

    message_id = fake._new_message_id()
    key = {"remoteJid": jid(number), "fromMe": True, "id": message_id}
    now = int(time.time())
    if inst.api_version == "v2":
        answer = {
            "key": key,
            "pushName": "",
            "status": "PENDING",
            "message": {"conversation": body.get("text", "")},
            "messageType": "conversation" if action == "sendText" else "mediaMessage",
            "messageTimestamp": now,
            "instanceId": "inst-" + inst.name,
            "source": "unknown",
        }
    else:
        answer = {"key": key, "message": {}, "messageTimestamp": str(now), "status": "PENDING"}
    return 201, answer, message_id


def _audio_ok(audio: Any) -> bool:
    return isinstance(audio, str) and (_is_url(audio) or _is_base64(audio))


def _delay_ms(body: Mapping[str, Any]) -> int:
    delay = body.get("delay")
    if delay is None and isinstance(body.get("options"), dict):
        delay = body["options"].get("delay")
    return int(delay) if isinstance(delay, int | float) and delay > 0 else 0


def post_webhook(
    url: str,
    payload: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> httpx.Response:
    """POST an Evolution-shaped webhook delivery (see tests/evolution_payloads.py) to `url`."""
    return httpx.post(url, json=dict(payload), headers=dict(headers or {}), timeout=timeout)


@pytest.fixture
def fake_evolution() -> Iterator[FakeEvolution]:
    """A started fake Evolution server, stopped after the test."""
    with FakeEvolution() as fake:
        yield fake


__all__ = [
    "Fault",
    "FakeEvolution",
    "FakeInstance",
    "FaultRule",
    "Received",
    "fake_evolution",
    "jid",
    "post_webhook",
]
