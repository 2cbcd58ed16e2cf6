"""A fake Evolution API server over real HTTP on 127.0.0.1, for tests and benchmarks.

It follows ../shared/evolution-api.md: instances by name with their own token (or the global
key), the 404-before-401 order, v1/v2 body validation, 201 with a unique `key.id`, 400
`exists: false` for numbers configured as not on WhatsApp, connectionState, webhook/set (the
configuration is recorded), whatsappNumbers, and a send's typing `delay` (v2 `delay`, v1
`options.delay`), held before the message goes out. Every request the server processed is
logged; `sends()` / `numbers_received()` are what "reached WhatsApp".

Faults are switched on per test with `fail(...)`, optionally per instance, per number, for the
next N matching requests, after the next N sends went out (`after_sends`) and for a while
(`for_seconds`); the rule it returns ends with `rule.clear()` or as a `with` block. See
tests/evolution_faults.py for the table:

    SERVER_ERROR, TOO_MANY_REQUESTS, CONNECTION_CLOSED, UNAUTHORIZED, STATUS   an error answer
    SLOW, HANG, DROP                                   late, never, or a closed socket
    PROXY_OUTAGE                                       nginx's 502/503/504 HTML page, every route
    LICENSE_REQUIRED                                   Evolution 2.4's 503 until activated

The whole server can also be taken down (connections refused, open ones cut) and brought back on
the same port with its state intact: `go_down()` / `come_back()`, `with fake.down():`, or
`go_down(after_sends=N, for_seconds=S)` for a crash in the middle of a campaign.

    with FakeEvolution() as fake:
        inst = fake.add_instance("shop", api_version="v2")
        client = EvolutionClient(fake.base_url, inst.name, inst.token)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import unquote

import httpx
import pytest

from tests.evolution_bodies import (
    MEDIA_TYPES,
    REQUIRED,
    delay_ms,
    digits,
    is_url,
    schema_errors,
    send_error,
    send_fields,
    sent_answer,
)
from tests.evolution_faults import (
    ALL_ROUTES,
    APP_FAULT_ANSWERS,
    FRONT_FAULTS,
    NGINX_REASONS,
    SEND_ROUTES,
    Fault,
    FaultRule,
    envelope,
    license_required_body,
    nginx_page,
)
from tests.evolution_payloads import jid, message_update, message_upsert

_ROUTE = re.compile(r"^/(?P<group>message|instance|webhook|chat)/(?P<action>\w+)/(?P<name>[^/?]+)")


@dataclass
class FakeInstance:
    name: str
    token: str
    api_version: Literal["v1", "v2"] = "v2"
    state: str = "open"  # open | connecting | close | refused
    not_on_whatsapp: set[str] = field(default_factory=set)
    webhook: dict[str, Any] | None = None  # last webhook/set body, as received


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
    delay_ms: int = 0  # the typing delay a send asked for, as the server read it (0 if it
    # never read the body: a front fault, 404, 401)
    arrived_monotonic: float = 0.0  # when the request had been read (before any delay)


class FakeEvolution:
    """The server. `start()`/`stop()` or use as a context manager."""

    def __init__(
        self, *, global_key: str | None = None, latency: float = 0.0, honor_delay: bool = True
    ) -> None:
        self.global_key = global_key or "global-" + secrets.token_hex(8)
        self.latency = latency  # seconds added to every answer (all instances)
        self.honor_delay = honor_delay  # hold the answer for a send's `delay` ms, like Evolution
        self.server_id = str(uuid.uuid4())  # the licence gate's `instance_id`
        self._lock = threading.Lock()
        self._instances: dict[str, FakeInstance] = {}
        self._latency_by_instance: dict[str, float] = {}
        self._faults: list[FaultRule] = []
        self._log: list[Received] = []
        self._dropped: list[Received] = []
        self._typing: list[str] = []
        self._apikeys: list[str | None] = []  # the `apikey` header of every request, any route
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)
        self._id_prefix = secrets.token_hex(3).upper()
        self._handler = type("Handler", (_Handler,), {"fake": self})
        # Up/down: one _Server per period up; the port survives.
        self._life_lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._down_countdown: int | None = None  # go_down(after_sends=N): sends still to go
        self._down_for: float | None = None
        self._come_back_timer: threading.Timer | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeEvolution:
        self._serve(0)
        return self

    def stop(self) -> None:
        with self._life_lock:
            self._disarm()
            self._take_down()

    def __enter__(self) -> FakeEvolution:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._port is not None, "server not started"
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def go_down(self, *, after_sends: int = 0, for_seconds: float | None = None) -> None:
        """Take the server down as if its process died: new connections are refused, open ones
        are cut, requests in progress (a typing delay, a hang) end without an answer.

        `after_sends=N` waits for N more messages to go out; the Nth still gets its 201 (on a
        connection then closed), the next request is refused. `for_seconds` brings it back by
        itself that long after it went down. Instances, faults and the log survive.
        """
        if after_sends < 0 or (for_seconds is not None and for_seconds <= 0):
            raise ValueError("after_sends must be >= 0 and for_seconds > 0")
        with self._life_lock:
            self._disarm()
            if after_sends:
                with self._lock:
                    self._down_countdown, self._down_for = after_sends, for_seconds
            else:
                self._go_down_now(for_seconds)

    def come_back(self) -> None:
        """Listen again on the same port (SO_REUSEADDR), with the state the server had."""
        with self._life_lock:
            self._disarm()
            if self._server is None:
                self._serve(self.port)

    @contextlib.contextmanager
    def down(self) -> Iterator[FakeEvolution]:
        """`with fake.down():` the server refuses connections inside the block."""
        self.go_down()
        try:
            yield self
        finally:
            self.come_back()

    def _serve(self, port: int) -> None:
        with self._life_lock:
            server = _Server(("127.0.0.1", port), self._handler)
            self._server, self._port = server, server.server_address[1]
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()

    def _disarm(self) -> None:
        """Forget a pending go_down(after_sends=...) and a pending come-back."""
        with self._lock:
            self._down_countdown = self._down_for = None
        if self._come_back_timer is not None:
            self._come_back_timer.cancel()
            self._come_back_timer = None

    def _go_down_now(self, for_seconds: float | None, keep: socket.socket | None = None) -> None:
        with self._life_lock:
            self._take_down(keep)
            if for_seconds is not None:
                self._come_back_timer = threading.Timer(for_seconds, self._come_back_later)
                self._come_back_timer.daemon = True
                self._come_back_timer.start()

    def _come_back_later(self) -> None:
        with self._life_lock:
            # Only the latest go_down(for_seconds=...) brings it back; a replaced timer does not.
            if self._come_back_timer is threading.current_thread():
                self._come_back_timer = None
                if self._server is None:
                    self._serve(self.port)

    def _take_down(self, keep: socket.socket | None = None) -> None:
        with self._life_lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        server.end(keep)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

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
                not_on_whatsapp={digits(n) for n in not_on_whatsapp},
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
        """`close`/`connecting`/`refused` make sends answer 500 Connection Closed (400
        "Error: Connection Closed" for a send already typing when the session closed)."""
        with self._lock:
            self._instances[name].state = state

    def set_token(self, name: str, token: str) -> None:
        with self._lock:
            self._instances[name].token = token

    def set_not_on_whatsapp(self, *numbers: str, instance: str | None = None) -> None:
        with self._lock:
            targets = [self._instances[instance]] if instance else self._instances.values()
            for inst in targets:
                inst.not_on_whatsapp.update(digits(n) for n in numbers)

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
        routes: Iterable[str] | None = None,
        times: int | None = None,
        seconds: float = 5.0,
        status: int | None = None,
        body: Any = None,
        after_sends: int = 0,
        for_seconds: float | None = None,
    ) -> FaultRule:
        """Switch a fault on; the first matching rule wins.

        `instance`/`numbers`/`routes` narrow it. By default PROXY_OUTAGE and LICENSE_REQUIRED
        hit every route (sends, connectionState, webhook/set, whatsappNumbers) and the others
        the send routes only. `times` limits it to the next N matching requests; `after_sends`
        holds it back until N more messages went out (on `instance` if given, else anywhere);
        `for_seconds` ends it that long after it started. `seconds` is for SLOW and HANG;
        `status` is the answer of STATUS (default 500) and PROXY_OUTAGE (502, 503 or 504,
        default 502); `body` that of STATUS. The rule ends with `rule.clear()` or, used as
        `with fake.fail(...):`, at the end of the block.
        """
        fault = Fault(fault)
        if fault is Fault.PROXY_OUTAGE:
            status = 502 if status is None else status
            if status not in NGINX_REASONS:
                raise ValueError(f"a proxy outage answers one of {sorted(NGINX_REASONS)}")
        elif fault is Fault.LICENSE_REQUIRED:
            status = 503
        if after_sends < 0 or (for_seconds is not None and for_seconds <= 0):
            raise ValueError("after_sends must be >= 0 and for_seconds > 0")
        if routes is None:
            route_set = None if fault in FRONT_FAULTS else frozenset(SEND_ROUTES)
        else:
            route_set = frozenset(routes)
        rule = FaultRule(
            fault=fault,
            instance=instance,
            numbers=None if numbers is None else frozenset(digits(n) for n in numbers),
            routes=route_set,
            remaining=times,
            seconds=seconds,
            status=500 if status is None else status,
            body=body,
            after_sends=after_sends,
            for_seconds=for_seconds,
            on_clear=self._clear_rule,
        )
        with self._lock:
            self._faults.append(rule)
        return rule

    def clear_faults(self, instance: str | None = None) -> None:
        with self._lock:
            self._faults = [
                r for r in self._faults if instance is not None and r.instance != instance
            ]

    def _clear_rule(self, rule: FaultRule) -> None:
        with self._lock:
            self._faults = [r for r in self._faults if r is not rule]

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

    def apikeys(self) -> list[str | None]:
        """The `apikey` header of every request that arrived, whatever its route or answer."""
        with self._lock:
            return list(self._apikeys)

    def sends(self, instance: str | None = None) -> list[Received]:
        """Messages that went out (201, or processed then hung), in order."""
        return [r for r in self.requests(instance) if r.delivered]

    def numbers_received(self, instance: str | None = None) -> list[str]:
        """Numbers messages went out to, sorted, repeats kept: no duplicates means
        `numbers_received() == sorted(set(numbers_received()))`."""
        return sorted(r.number for r in self.sends(instance) if r.number is not None)

    def dropped(self) -> list[Received]:
        """Requests read and never processed: DROP, and those cut short by `go_down()`."""
        with self._lock:
            return list(self._dropped)

    def typing(self) -> list[str]:
        """Numbers whose send is in its typing delay right now (not sent yet)."""
        with self._lock:
            return list(self._typing)

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

    def deliver_status(
        self, message_id: str, status: str = "DELIVERY_ACK", **fields: Any
    ) -> httpx.Response:
        """Deliver the `messages.update` for a message this server sent (its `key.id`), in its
        instance's API line and to its number. `status` may be `DELETED` (2.3.0-2.3.6);
        `fields` go to `evolution_payloads.message_update` (apikey, date_time)."""
        sent = next((r for r in self.sends() if r.message_id == message_id), None)
        if sent is None or sent.number is None:
            raise AssertionError(f"no message {message_id!r} went out from this server")
        api_version = self.instance(sent.instance).api_version
        payload = message_update(
            sent.instance, message_id, status, number=sent.number, api_version=api_version,
            **fields,
        )  # fmt: skip
        return self.deliver_webhook(sent.instance, payload)

    def deliver_incoming(
        self, instance: str, number: str, text: str, **fields: Any
    ) -> httpx.Response:
        """Deliver a `messages.upsert` (a reply) from `number`; `lid="…"` gives it the Baileys 7
        `<digits>@lid` addressing. `fields` go to `evolution_payloads.message_upsert`."""
        return self.deliver_webhook(instance, message_upsert(instance, number, text, **fields))

    # -- request processing (called from handler threads) ----------------------------------

    def _latency_for(self, instance: str) -> float:
        with self._lock:
            return self._latency_by_instance.get(instance, self.latency)

    def _take_fault(
        self, instance: str, route: str, number: str | None, *, front: bool
    ) -> FaultRule | None:
        """The first matching rule among those answered in front of the app (`front`) or in it."""
        with self._lock:
            for rule in self._faults:
                if (rule.fault in FRONT_FAULTS) != front:
                    continue
                if rule.numbers is not None and number is None:
                    continue
                if rule.matches(instance, route, number):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
        return None

    def _new_message_id(self) -> str:
        # 22 characters like Baileys' own ids ("3EB0" + 18 hex), which Evolution reports as web.
        return f"3EB0{self._id_prefix}{next(self._ids):012X}"

    def _record(self, target: list[Received], **fields: Any) -> tuple[Received, bool]:
        """Log a request; the flag says this send is the one `go_down(after_sends=N)` waited for."""
        now = time.monotonic()
        entry = Received(seq=next(self._seq), at=datetime.now(UTC), monotonic=now, **fields)
        trips = False
        with self._lock:
            target.append(entry)
            if entry.delivered and target is self._log:
                for rule in self._faults:
                    rule.note_sent(entry.instance, now)
                if self._down_countdown is not None:
                    self._down_countdown -= 1
                    trips = self._down_countdown <= 0
        return entry, trips

    def _trip_down(self, keep: socket.socket | None) -> None:
        """Go down now because the awaited send went out; `keep` still gets its answer."""
        with self._life_lock:
            with self._lock:
                for_seconds = self._down_for
                self._down_countdown = self._down_for = None
            self._go_down_now(for_seconds, keep)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    allow_reuse_address = True  # come_back() rebinds the port while old connections linger

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.ended = threading.Event()  # set when this server went down: wakes waiting handlers
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        # Headers and body leave in two writes; without this Nagle + delayed ACK cost ~40 ms.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client gone, or a connection cut by end(): nothing to report

    def end(self, keep: socket.socket | None = None) -> None:
        """Stop as a dead process would. Runs on any thread but the serving one."""
        self.ended.set()
        # On Linux this stops the listening socket at once: connects are refused from here on,
        # not queued in the backlog while serve_forever finishes its poll.
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)
        self.shutdown()
        self.server_close()
        with self._connections_lock:
            open_connections = [c for c in self._connections if c is not keep]
        for conn in open_connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeEvolution
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, like the real server
    _server_header: str | None = None

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def version_string(self) -> str:
        return self._server_header or super().version_string()

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        arrived = time.monotonic()
        with fake._lock:
            fake._apikeys.append(self.headers.get("apikey"))
        match = _ROUTE.match(self.path)
        if not match:
            self._reply(404, envelope(404, "Not Found", [f"Cannot {self.command} {self.path}"]))
            return
        action, name = match["action"], unquote(match["name"])  # as Express decodes params
        try:
            body, bad_json = (json.loads(raw) if raw else None), False
        except ValueError:
            body, bad_json = None, True
        number = None
        if action in SEND_ROUTES and isinstance(body, dict) and isinstance(body.get("number"), str):
            number = digits(body["number"])
        typing_ms = 0

        def record(
            status: int | None, *, message_id: str | None = None, delivered: bool = False,
            fault: str | None = None, target: list[Received] | None = None,
        ) -> bool:  # fmt: skip
            """Log this request; True when it is the send go_down(after_sends=N) waited for."""
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
                delay_ms=typing_ms,
                arrived_monotonic=arrived,
            )[1]

        # In front of the app: the proxy and the licence gate answer for any instance and key.
        # (The proxy does not parse the body; Evolution parses it before its licence gate.)
        front = fake._take_fault(name, action, number, front=True)
        if front is not None and front.fault is Fault.PROXY_OUTAGE:
            record(front.status, fault=front.fault.value)
            self._reply_proxy_page(front.status)
            return
        if bad_json:
            self._reply(400, envelope(400, "Bad Request", ["Unexpected token in JSON"]))
            return
        if front is not None:
            record(503, fault=front.fault.value)
            self._reply(503, license_required_body(self._register_url(), fake.server_id))
            return

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
                envelope(404, "Not Found", [f'The "{name}" instance does not exist']),
            )
            self._finish(record, name, status, answer)
            return
        if self.headers.get("apikey") not in (inst.token, fake.global_key):
            self._finish(record, name, 401, envelope(401, "Unauthorized", "Unauthorized"))
            return
        if action in SEND_ROUTES:
            typing_ms = delay_ms(body, inst.api_version)

        rule = fake._take_fault(name, action, number, front=False)
        fault = rule.fault if rule else None
        if rule is not None and fault in APP_FAULT_ANSWERS:
            status, answer = APP_FAULT_ANSWERS[fault]
            self._finish(record, name, status, answer, fault=fault.value)
            return
        if rule is not None and fault is Fault.STATUS:
            answer = rule.body if rule.body is not None else envelope(rule.status, "Error", "Error")
            self._finish(record, name, rule.status, answer, fault=fault.value)
            return
        if rule is not None and fault is Fault.DROP:
            record(None, fault=fault.value, target=fake._dropped)
            self._drop()
            return
        if rule is not None and fault is Fault.SLOW and self._wait(rule.seconds):
            self._died(record)
            return
        if self.server.ended.is_set():  # went down before this request was processed
            self._died(record)
            return

        status, answer, message_id = _dispatch(fake, inst, action, self.command, body, number)
        if message_id is not None and typing_ms and fake.honor_delay:
            # Evolution shows "typing…" for the whole delay, then sends: the message goes out,
            # and is logged, at the end of it.
            typing = number or ""
            with fake._lock:
                fake._typing.append(typing)
            try:
                died = self._wait(typing_ms / 1000)
            finally:
                with fake._lock:
                    fake._typing.remove(typing)
                    still = fake._instances.get(name)
            if died:
                self._died(record)
                return
            if still is None or still.state != "open":
                # The session closed while typing: Evolution wraps the send's error in a 400.
                status, answer = 400, envelope(400, "Bad Request", ["Error: Connection Closed"])
                message_id = None
        delivered = message_id is not None
        if rule is not None and fault is Fault.HANG:
            # Processed (the message went out), but the answer never comes.
            if record(None, message_id=message_id, delivered=delivered, fault=fault.value):
                fake._trip_down(keep=None)
            self._wait(rule.seconds)
            self._drop()
            return
        self._finish(record, name, status, answer, message_id=message_id, delivered=delivered)

    def _finish(self, record: Any, instance: str, status: int, answer: Any, **fields: Any) -> None:
        trips = record(status, **fields)
        if self._wait(self.fake._latency_for(instance)):
            self._drop()  # went down while answering: processed, never answered
            return
        if trips:
            # This send still gets its 201, on a connection closed after it: the client's next
            # request has to connect again, and is refused.
            self.fake._trip_down(keep=self.connection)
        self._reply(status, answer, close=trips)

    def _wait(self, seconds: float) -> bool:
        """Sleep; True if the server went down meanwhile."""
        return seconds > 0 and self.server.ended.wait(seconds)

    def _died(self, record: Any) -> None:
        """The server went down with this request read but not processed."""
        record(None, fault="down", target=self.fake._dropped)
        self._drop()

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _register_url(self) -> str:
        scheme = self.headers.get("x-forwarded-proto") or "http"
        return (
            f"{scheme}://{self.headers.get('Host') or f'127.0.0.1:{self.fake.port}'}/manager/login"
        )

    def _reply(self, status: int, body: Any, *, close: bool = False) -> None:
        self._write(
            status, None, "application/json; charset=utf-8", json.dumps(body).encode(), close
        )

    def _reply_proxy_page(self, status: int) -> None:
        self._server_header = "nginx"
        self._write(status, NGINX_REASONS[status], "text/html", nginx_page(status), False)

    def _write(
        self, status: int, reason: str | None, content_type: str, data: bytes, close: bool
    ) -> None:
        self.send_response(status, reason)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)
        self._server_header = None


def _dispatch(
    fake: FakeEvolution, inst: FakeInstance, action: str, method: str, body: Any,
    number: str | None,
) -> tuple[int, Any, str | None]:  # fmt: skip
    """Answer one request for an existing, authenticated instance: (status, body, key.id)."""
    if action == "connectionState" and method == "GET":
        return 200, {"instance": {"instanceName": inst.name, "state": inst.state}}, None
    if method != "POST" or (action, inst.api_version) not in REQUIRED:
        return 404, envelope(404, "Not Found", [f"Cannot {method} /{action}/{inst.name}"]), None
    missing = schema_errors(body, REQUIRED[(action, inst.api_version)])
    if missing:
        return _bad_request([missing])

    if action == "set":
        config = body["webhook"] if inst.api_version == "v2" else body
        if not isinstance(config, dict) or not isinstance(config.get("enabled"), bool):
            return _bad_request([['instance.webhook requires property "enabled"']])
        if config["enabled"] and not is_url(str(config.get("url") or "")):
            return _bad_request([["url must be a valid http(s) URL"]])
        with fake._lock:
            fake._instances[inst.name].webhook = body
        return 201, {"webhook": {"instanceName": inst.name, **config}}, None
    if action == "whatsappNumbers":
        numbers = [digits(str(n)) for n in body["numbers"]]
        return (
            200,
            [
                {"jid": jid(n), "exists": n not in inst.not_on_whatsapp, "number": n}
                for n in numbers
            ],
            None,
        )

    # sends
    if (error := send_error(action, inst.api_version, body)) is not None:
        return _bad_request(error)
    assert number is not None  # send_error checked it
    if inst.state != "open":
        return 500, envelope(500, "Internal Server Error", ["Error: Connection Closed"]), None
    if number in inst.not_on_whatsapp:
        return _bad_request([{"jid": jid(number), "exists": False, "number": number}])
    message_id = fake._new_message_id()
    key = {"remoteJid": jid(number), "fromMe": True, "id": message_id}
    fields = send_fields(action, inst.api_version, body)
    answer = sent_answer(action, inst.api_version, fields, key, inst.name, int(time.time()))
    return 201, answer, message_id


def _bad_request(message: Any) -> tuple[int, Any, None]:
    return 400, envelope(400, "Bad Request", message), None


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
    "ALL_ROUTES",
    "MEDIA_TYPES",
    "SEND_ROUTES",
    "Fault",
    "FakeEvolution",
    "FakeInstance",
    "FaultRule",
    "Received",
    "fake_evolution",
    "jid",
    "post_webhook",
]
