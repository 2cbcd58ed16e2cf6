"""The fake Evolution server itself, over real HTTP with httpx: the outages of servers our users
run (a proxy without its upstream, the 2.4 licence gate, a dead process, a fault that starts in
the middle of a campaign), the typing delay, and the webhooks for receipts."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests import evolution_payloads as payloads
from tests.fake_evolution import FakeEvolution, FakeInstance, Fault
from tests.fake_evolution import fake_evolution as fake_evolution  # noqa: F401  (fixture)

NUMBER = "5511999990000"
OTHER = "5511999990001"
PNG = "iVBORw0KGgo="


def client(fake: FakeEvolution, inst: FakeInstance, timeout: float = 2.0) -> httpx.Client:
    return httpx.Client(base_url=fake.base_url, headers={"apikey": inst.token}, timeout=timeout)


def text_body(inst: FakeInstance, number: str = NUMBER, delay: Any = None) -> dict[str, Any]:
    if inst.api_version == "v2":
        body: dict[str, Any] = {"number": number, "text": "Hello"}
        if delay is not None:
            body["delay"] = delay
        return body
    body = {"number": number, "textMessage": {"text": "Hello"}}
    if delay is not None:
        body["options"] = {"delay": delay, "presence": "composing"}
    return body


def send(http: httpx.Client, inst: FakeInstance, number: str = NUMBER, **kw: Any) -> httpx.Response:
    return http.post(f"/message/sendText/{inst.name}", json=text_body(inst, number, **kw))


def every_route(http: httpx.Client, name: str) -> list[httpx.Response]:
    """One request to each business route a sender uses."""
    return [
        http.post(f"/message/sendText/{name}", json={"number": NUMBER, "text": "Hello"}),
        http.post(
            f"/message/sendMedia/{name}",
            json={"number": NUMBER, "mediatype": "image", "media": "https://cdn.example/a.png"},
        ),
        http.get(f"/instance/connectionState/{name}"),
        http.post(
            f"/webhook/set/{name}",
            json={"webhook": {"enabled": True, "url": "https://hooks.example/1", "events": []}},
        ),
        http.post(f"/chat/whatsappNumbers/{name}", json={"numbers": [NUMBER]}),
    ]


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def in_background(call: Callable[[], Any]) -> Callable[[], Any]:
    """Run `call` on a thread; the returned function joins it and returns (or raises) its result."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def result() -> Any:
        thread.join(timeout=10)
        assert not thread.is_alive(), "the request never finished"
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    return result


@pytest.fixture(params=["v2", "v1"])
def shop(request: pytest.FixtureRequest, fake_evolution: FakeEvolution) -> FakeInstance:
    return fake_evolution.add_instance("shop", api_version=request.param)


# -- a reverse proxy without its upstream ------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "title"),
    [(502, "502 Bad Gateway"), (503, "503 Service Temporarily Unavailable"),
     (504, "504 Gateway Time-out")],
)  # fmt: skip
def test_a_proxy_outage_answers_nginx_html_on_every_route_and_nothing_is_processed(
    fake_evolution: FakeEvolution, status: int, title: str
) -> None:
    inst = fake_evolution.add_instance("shop")
    fake_evolution.fail(Fault.PROXY_OUTAGE, status=status)
    with client(fake_evolution, inst) as http:
        answers = every_route(http, "shop")
        unknown = http.get("/instance/connectionState/nope", headers={"apikey": "wrong"})

    for answer in [*answers, unknown]:
        assert answer.status_code == status
        assert answer.reason_phrase == title.split(" ", 1)[1]
        assert answer.headers["content-type"] == "text/html"
        assert answer.headers["server"] == "nginx"
        assert f"<head><title>{title}</title></head>" in answer.text
        assert "<center>nginx</center>" in answer.text
    assert fake_evolution.sends() == []
    assert fake_evolution.instance("shop").webhook is None  # webhook/set never reached the app
    logged = fake_evolution.requests()
    assert [r.route for r in logged] == [
        "sendText", "sendMedia", "connectionState", "set", "whatsappNumbers", "connectionState",
    ]  # fmt: skip
    assert {(r.status, r.fault, r.delivered) for r in logged} == {(status, "proxy_outage", False)}


def test_a_proxy_outage_can_be_limited_to_one_instance(fake_evolution: FakeEvolution) -> None:
    down = fake_evolution.add_instance("down")
    up = fake_evolution.add_instance("up")
    fake_evolution.fail(Fault.PROXY_OUTAGE, instance="down", status=504)
    with client(fake_evolution, down) as a, client(fake_evolution, up) as b:
        assert send(a, down).status_code == 504
        assert send(b, up).status_code == 201
    assert [r.instance for r in fake_evolution.sends()] == ["up"]


def test_a_proxy_outage_only_answers_the_statuses_a_proxy_gives(
    fake_evolution: FakeEvolution,
) -> None:
    with pytest.raises(ValueError):
        fake_evolution.fail(Fault.PROXY_OUTAGE, status=500)


# -- Evolution 2.4 not activated ---------------------------------------------------------------


def test_the_licence_gate_answers_503_license_required_on_every_route_before_any_key_check(
    fake_evolution: FakeEvolution,
) -> None:
    inst = fake_evolution.add_instance("shop")
    fake_evolution.fail(Fault.LICENSE_REQUIRED)
    with client(fake_evolution, inst) as http:
        answers = every_route(http, "shop")
        wrong_key = http.post(
            "/message/sendText/shop", json={"number": NUMBER, "text": "x"},
            headers={"apikey": "wrong"},
        )  # fmt: skip
        unknown = http.get("/instance/connectionState/nope")

    register_url = f"{fake_evolution.base_url}/manager/login"
    for answer in [*answers, wrong_key, unknown]:
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith("application/json")
        body = answer.json()
        assert body == {
            "error": "service not activated",
            "code": "LICENSE_REQUIRED",
            "register_url": register_url,
            "instance_id": fake_evolution.server_id,
            "docs_url": "https://docs.evolutionfoundation.com.br/licensing",
            "message": f"This Evolution API instance is not activated. Open {register_url} to "
            "activate, or set AUTHENTICATION_API_KEY in your .env with a valid licensing key. "
            "Docs: https://docs.evolutionfoundation.com.br/licensing",
        }
    assert uuid.UUID(fake_evolution.server_id)  # the server's id, not the instance's name
    assert fake_evolution.sends() == [] and fake_evolution.instance("shop").webhook is None
    assert {r.fault for r in fake_evolution.requests()} == {"license_required"}


def test_the_licence_gate_builds_its_register_url_from_the_forwarded_scheme_and_host(
    fake_evolution: FakeEvolution,
) -> None:
    inst = fake_evolution.add_instance("shop")
    fake_evolution.fail(Fault.LICENSE_REQUIRED)
    with client(fake_evolution, inst) as http:
        answer = http.get(
            "/instance/connectionState/shop",
            headers={"Host": "evo.example.com", "X-Forwarded-Proto": "https"},
        )
    assert answer.json()["register_url"] == "https://evo.example.com/manager/login"


def test_activating_the_server_ends_the_licence_gate(fake_evolution: FakeEvolution) -> None:
    inst = fake_evolution.add_instance("shop")
    with client(fake_evolution, inst) as http:
        with fake_evolution.fail(Fault.LICENSE_REQUIRED):
            assert send(http, inst).status_code == 503
        assert send(http, inst).status_code == 201
    assert fake_evolution.numbers_received() == [NUMBER]


# -- a dead process: connections refused -------------------------------------------------------


def test_a_server_that_is_down_refuses_connections_and_comes_back_on_its_port_with_its_state(
    fake_evolution: FakeEvolution,
) -> None:
    inst = fake_evolution.add_instance("shop", not_on_whatsapp=[OTHER])
    port = fake_evolution.port
    with client(fake_evolution, inst) as http:
        assert send(http, inst).status_code == 201  # leaves a keep-alive connection in the pool
        fake_evolution.go_down()

        assert not fake_evolution.is_up
        # Refused, not timed out: a hang would raise TimeoutError after 2 s instead.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        with pytest.raises(httpx.ConnectError):
            send(http, inst)

        fake_evolution.come_back()
        assert fake_evolution.is_up and fake_evolution.port == port
        assert send(http, inst).status_code == 201  # same instance, same token
        assert send(http, inst, OTHER).status_code == 400  # its settings survived too

    assert fake_evolution.numbers_received() == [NUMBER, NUMBER]
    assert [r.status for r in fake_evolution.requests()] == [201, 201, 400]


def test_going_down_cuts_idle_keep_alive_connections(fake_evolution: FakeEvolution) -> None:
    idle = socket.create_connection(("127.0.0.1", fake_evolution.port), timeout=2)
    try:
        idle.sendall(b"GET /instance/connectionState/x HTTP/1.1\r\nHost: fake\r\n\r\n")
        answer = b""
        while not answer.endswith(b"}"):  # a 404 JSON body; the connection stays open
            answer += idle.recv(4096)
        with fake_evolution.down():
            assert idle.recv(1) == b""  # closed by the server, not left hanging
        assert fake_evolution.is_up
    finally:
        idle.close()


def test_a_send_still_typing_when_the_server_goes_down_never_goes_out(
    fake_evolution: FakeEvolution,
) -> None:
    inst = fake_evolution.add_instance("shop")
    with client(fake_evolution, inst, timeout=5) as http:
        result = in_background(lambda: send(http, inst, delay=3000))
        wait_until(lambda: fake_evolution.typing() == [NUMBER])
        fake_evolution.go_down()
        with pytest.raises(httpx.TransportError) as error:
            result()

    assert not isinstance(error.value, httpx.ConnectError)  # it had connected: an unknown outcome
    # The connection is cut first; the handler thread, woken from its typing delay, then
    # writes the drop down (on a busy machine after the client has seen the cut).
    wait_until(lambda: fake_evolution.dropped() != [])
    assert fake_evolution.sends() == []
    assert [(d.number, d.fault) for d in fake_evolution.dropped()] == [(NUMBER, "down")]


def test_go_down_after_sends_answers_those_then_refuses_the_next_connection(
    fake_evolution: FakeEvolution,
) -> None:
    inst = fake_evolution.add_instance("shop")
    fake_evolution.go_down(after_sends=2)
    with client(fake_evolution, inst) as http:
        assert http.get("/instance/connectionState/shop").status_code == 200  # not a send
        assert send(http, inst, NUMBER).status_code == 201
        assert send(http, inst, OTHER).status_code == 201
        # ConnectError, not a cut connection: the client can tell it was never sent.
        with pytest.raises(httpx.ConnectError):
            send(http, inst, "5511999990002")
        fake_evolution.come_back()
        assert send(http, inst, "5511999990002").status_code == 201

    assert fake_evolution.numbers_received() == [NUMBER, OTHER, "5511999990002"]


def test_go_down_for_seconds_comes_back_by_itself(fake_evolution: FakeEvolution) -> None:
    inst = fake_evolution.add_instance("shop")
    fake_evolution.go_down(for_seconds=0.3)
    with client(fake_evolution, inst) as http:
        with pytest.raises(httpx.ConnectError):
            send(http, inst)
        wait_until(lambda: fake_evolution.is_up)
        assert send(http, inst).status_code == 201


def test_come_back_cancels_a_pending_automatic_return(fake_evolution: FakeEvolution) -> None:
    fake_evolution.go_down(for_seconds=0.2)
    fake_evolution.come_back()
    fake_evolution.go_down()  # down for good this time
    time.sleep(0.4)  # past the first outage's end
    assert not fake_evolution.is_up


# -- an outage that starts in the middle of a campaign -----------------------------------------


def test_a_fault_with_after_sends_starts_once_that_many_messages_went_out(
    fake_evolution: FakeEvolution,
) -> None:
    inst = fake_evolution.add_instance("shop", not_on_whatsapp=[OTHER])
    rule = fake_evolution.fail(Fault.PROXY_OUTAGE, status=503, after_sends=2)
    with client(fake_evolution, inst) as http:
        statuses = [send(http, inst, n).status_code for n in (NUMBER, OTHER, NUMBER, NUMBER)]
        state = http.get("/instance/connectionState/shop").status_code

    # The 400 for a number not on WhatsApp sent nothing, so it did not count.
    assert statuses == [201, 400, 201, 503]
    assert state == 503  # once on, the proxy answers every route
    assert rule.hits == 2 and fake_evolution.numbers_received() == [NUMBER, NUMBER]


def test_after_sends_counts_only_the_messages_of_the_rules_instance(
    fake_evolution: FakeEvolution,
) -> None:
    a = fake_evolution.add_instance("a")
    b = fake_evolution.add_instance("b")
    fake_evolution.fail(Fault.SERVER_ERROR, instance="a", after_sends=1)
    with client(fake_evolution, a) as ca, client(fake_evolution, b) as cb:
        assert [send(cb, b).status_code for _ in range(3)] == [201, 201, 201]
        assert [send(ca, a).status_code for _ in range(3)] == [201, 500, 500]


def test_a_fault_for_seconds_ends_by_itself_counted_from_when_it_started(
    fake_evolution: FakeEvolution,
) -> None:
    inst = fake_evolution.add_instance("shop")
    rule = fake_evolution.fail(Fault.SERVER_ERROR, after_sends=1, for_seconds=0.5)
    with client(fake_evolution, inst) as http:
        time.sleep(0.6)  # longer than for_seconds: it has not started yet, so it cannot end
        assert send(http, inst).status_code == 201
        assert send(http, inst).status_code == 500
        wait_until(lambda: not rule.is_active())
        assert send(http, inst).status_code == 201
    assert rule.hits == 1


def test_a_fault_ends_when_cleared_or_at_the_end_of_its_block(
    fake_evolution: FakeEvolution,
) -> None:
    inst = fake_evolution.add_instance("shop")
    slow_for_other = fake_evolution.fail(Fault.TOO_MANY_REQUESTS, numbers=[OTHER])
    with client(fake_evolution, inst) as http:
        with fake_evolution.fail(Fault.SERVER_ERROR, numbers=[NUMBER]):
            assert send(http, inst).status_code == 500
        assert send(http, inst).status_code == 201
        assert send(http, inst, OTHER).status_code == 429  # the other rule stayed
        slow_for_other.clear()
        assert send(http, inst, OTHER).status_code == 201


# -- one recipient failing twice ---------------------------------------------------------------


def test_a_recipient_whose_send_answers_500_twice_then_201_while_the_others_go_through(
    fake_evolution: FakeEvolution,
) -> None:
    inst = fake_evolution.add_instance("shop")
    fake_evolution.fail(Fault.SERVER_ERROR, numbers=[f"+{NUMBER}"], times=2)
    with client(fake_evolution, inst) as http:
        order = [NUMBER, OTHER, NUMBER, OTHER, NUMBER, NUMBER]
        statuses = [send(http, inst, n).status_code for n in order]

    assert statuses == [500, 201, 500, 201, 201, 201]
    assert fake_evolution.numbers_received() == [NUMBER, NUMBER, OTHER, OTHER]


def test_fault_counts_hold_under_concurrent_clients(fake_evolution: FakeEvolution) -> None:
    inst = fake_evolution.add_instance("shop")
    fake_evolution.fail(Fault.SERVER_ERROR, times=7)
    with client(fake_evolution, inst) as http, ThreadPoolExecutor(max_workers=8) as pool:
        numbers = [f"55119999{i:05d}" for i in range(40)]
        statuses = list(pool.map(lambda n: send(http, inst, n).status_code, numbers))

    assert statuses.count(500) == 7 and statuses.count(201) == 33
    assert len(fake_evolution.sends()) == 33


# -- the typing delay --------------------------------------------------------------------------


def test_a_send_with_a_delay_is_held_that_long_and_goes_out_at_its_end(
    fake_evolution: FakeEvolution, shop: FakeInstance
) -> None:
    with client(fake_evolution, shop) as http:
        started = time.monotonic()
        result = in_background(lambda: send(http, shop, delay=300))
        wait_until(lambda: fake_evolution.typing() == [NUMBER])
        assert fake_evolution.sends() == []  # typing: not sent yet
        answer = result()
        elapsed = time.monotonic() - started

    assert answer.status_code == 201 and answer.json()["status"] == "PENDING"
    assert elapsed >= 0.3
    (sent,) = fake_evolution.sends()
    assert sent.delay_ms == 300
    assert sent.monotonic - sent.arrived_monotonic >= 0.3  # logged when it went out
    assert fake_evolution.typing() == []


def test_each_api_line_reads_the_delay_only_where_it_puts_it(
    fake_evolution: FakeEvolution,
) -> None:
    v2 = fake_evolution.add_instance("v2", api_version="v2")
    v1 = fake_evolution.add_instance("v1", api_version="v1")
    # 5 s against a 2 s client timeout: a delay read in the wrong place would time out.
    with client(fake_evolution, v2) as h2, client(fake_evolution, v1) as h1:
        nested = h2.post(
            "/message/sendText/v2",
            json={"number": NUMBER, "text": "x", "options": {"delay": 5000}},
        )
        flat = h1.post(
            "/message/sendText/v1",
            json={"number": NUMBER, "textMessage": {"text": "x"}, "delay": 5000},
        )

    assert nested.status_code == 201 and flat.status_code == 201
    assert [s.delay_ms for s in fake_evolution.sends()] == [0, 0]


@pytest.mark.parametrize("delay", ["1200", True, 1.5])
def test_a_delay_that_is_not_an_integer_is_rejected_by_the_schema(
    fake_evolution: FakeEvolution, shop: FakeInstance, delay: Any
) -> None:
    with client(fake_evolution, shop) as http:
        answer = send(http, shop, delay=delay)
    assert answer.status_code == 400
    assert answer.json()["response"]["message"] == [["Enter a value in milliseconds"]]
    assert fake_evolution.sends() == []


def test_without_honor_delay_the_answer_is_immediate_and_the_delay_still_recorded() -> None:
    with FakeEvolution(honor_delay=False) as fake:
        inst = fake.add_instance("shop")
        with client(fake, inst) as http:
            assert send(http, inst, delay=5000).status_code == 201  # 2 s client timeout
        assert [s.delay_ms for s in fake.sends()] == [5000]


def test_a_session_that_closes_while_typing_fails_the_send_with_400_connection_closed(
    fake_evolution: FakeEvolution, shop: FakeInstance
) -> None:
    with client(fake_evolution, shop, timeout=5) as http:
        result = in_background(lambda: send(http, shop, delay=600))
        wait_until(lambda: fake_evolution.typing() == [NUMBER])
        fake_evolution.set_state("shop", "close")
        answer = result()

    assert answer.status_code == 400
    assert answer.json()["response"]["message"] == ["Error: Connection Closed"]
    assert fake_evolution.sends() == []


def test_the_send_answer_has_the_real_servers_shape(
    fake_evolution: FakeEvolution, shop: FakeInstance
) -> None:
    with client(fake_evolution, shop) as http:
        answer = send(http, shop).json()
        media = http.post(
            "/message/sendMedia/shop",
            json={"number": NUMBER, "mediatype": "image", "media": PNG, "caption": "Look"}
            if shop.api_version == "v2"
            else {"number": NUMBER, "mediaMessage": {"mediatype": "image", "media": PNG}},
        ).json()

    key = answer["key"]
    assert key["remoteJid"] == f"{NUMBER}@s.whatsapp.net" and key["fromMe"] is True
    assert key["id"].startswith("3EB0") and len(key["id"]) == 22  # like Baileys' own ids
    assert answer["status"] == media["status"] == "PENDING"
    if shop.api_version == "v2":
        assert isinstance(answer["messageTimestamp"], int)
        assert answer["messageType"] == "conversation"
        assert answer["message"] == {"conversation": "Hello"}
        assert media["messageType"] == "imageMessage"
        assert media["message"] == {"imageMessage": {"caption": "Look"}}
        assert answer["pushName"] == "Você" and answer["source"] == "web"
    else:
        assert isinstance(answer["messageTimestamp"], str)
        assert set(answer) == {"key", "message", "messageTimestamp", "status"}


# -- webhooks for receipts and replies ---------------------------------------------------------


class Receiver:
    """A webhook URL that keeps what it was sent."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/evolution/1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


def register(fake: FakeEvolution, inst: FakeInstance, url: str) -> None:
    config = {"enabled": True, "url": url, "events": ["MESSAGES_UPDATE", "MESSAGES_UPSERT"]}
    body = {"webhook": config} if inst.api_version == "v2" else config
    with client(fake, inst) as http:
        assert http.post(f"/webhook/set/{inst.name}", json=body).status_code == 201


def test_deliver_status_sends_deleted_for_a_sent_message_in_its_instances_api_line(
    fake_evolution: FakeEvolution, shop: FakeInstance, receiver: Receiver
) -> None:
    register(fake_evolution, shop, receiver.url)
    with client(fake_evolution, shop) as http:
        message_id = send(http, shop, OTHER).json()["key"]["id"]

    assert fake_evolution.deliver_status(message_id, "DELETED").status_code == 200

    (delivery,) = receiver.received
    assert delivery["event"] == "messages.update" and delivery["instance"] == "shop"
    data = delivery["data"]
    assert data["status"] == "DELETED"
    assert data["remoteJid"] == f"{OTHER}@s.whatsapp.net"
    assert data["keyId" if shop.api_version == "v2" else "id"] == message_id


def test_deliver_status_of_a_message_never_sent_is_a_test_error(
    fake_evolution: FakeEvolution,
) -> None:
    with pytest.raises(AssertionError):
        fake_evolution.deliver_status("3EB0NEVERSENT")


def test_deliver_incoming_from_a_lid_puts_the_phone_in_remote_jid_alt(
    fake_evolution: FakeEvolution, receiver: Receiver
) -> None:
    inst = fake_evolution.add_instance("shop")
    register(fake_evolution, inst, receiver.url)

    fake_evolution.deliver_incoming("shop", f"+{NUMBER}", "STOP", lid="123456789012345")

    (delivery,) = receiver.received
    assert delivery["event"] == "messages.upsert"
    assert delivery["data"]["key"] == {
        "remoteJid": "123456789012345@lid",
        "remoteJidAlt": f"{NUMBER}@s.whatsapp.net",
        "addressingMode": "lid",
        "fromMe": False,
        "id": delivery["data"]["key"]["id"],
    }
    assert delivery["data"]["message"] == {"conversation": "STOP"}


def test_receipt_payload_builders_for_newer_servers() -> None:
    deleted = payloads.message_update("shop", "3EB0ABC", "DELETED", api_version="v1")
    assert deleted["data"]["status"] == "DELETED" and deleted["data"]["id"] == "3EB0ABC"
    with pytest.raises(ValueError):
        payloads.message_update("shop", "3EB0ABC", "REVOKED")

    swapped = payloads.message_upsert(
        "shop", NUMBER, "oi", lid="123456789012345@lid", addressing_mode="pn"
    )  # as 2.4 passes it on
    key = swapped["data"]["key"]
    assert key["remoteJid"] == f"{NUMBER}@s.whatsapp.net"
    assert key["remoteJidAlt"] == "123456789012345@lid" and key["addressingMode"] == "pn"
    assert "remoteJidAlt" not in payloads.message_upsert("shop", NUMBER, "oi")["data"]["key"]

    revoked = payloads.message_delete("shop", "3EB0ABC", number=NUMBER)
    assert revoked["event"] == "messages.delete"
    assert revoked["data"] == {
        "remoteJid": f"{NUMBER}@s.whatsapp.net", "fromMe": True, "id": "3EB0ABC",
        "status": "DELETED",
    }  # fmt: skip
