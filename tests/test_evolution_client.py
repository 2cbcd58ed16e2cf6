"""The Evolution client against the fake server over real HTTP: every row of the contract."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from core.messaging import (
    EvolutionClient,
    EvolutionError,
    Outcome,
    SendResult,
    classify,
)
from core.messaging._evolution import normalize_number
from core.models import CircuitCause
from tests import evolution_payloads as payloads
from tests.fake_evolution import FakeEvolution, FakeInstance, Fault
from tests.fake_evolution import fake_evolution as fake_evolution  # noqa: F401  (fixture)

NUMBER = "5511999990000"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64).decode()


def client_for(
    fake: FakeEvolution, inst: FakeInstance, *, api_version: str | None = None, **kwargs: Any
) -> EvolutionClient:
    kwargs.setdefault("connect_timeout", 2.0)
    kwargs.setdefault("read_timeout", 2.0)
    return EvolutionClient(
        fake.base_url,
        inst.name,
        inst.token,
        api_version=api_version or inst.api_version,  # type: ignore[arg-type]
        **kwargs,
    )


def assert_no_secret(result: SendResult | EvolutionError, *secrets: str) -> None:
    text = str(result.error if isinstance(result, SendResult) else result)
    text += repr(result)
    for secret in secrets:
        assert secret not in text


@pytest.fixture(params=["v2", "v1"])
def api(request: pytest.FixtureRequest, fake_evolution: FakeEvolution) -> Iterator[tuple]:
    inst = fake_evolution.add_instance("shop", api_version=request.param)
    with client_for(fake_evolution, inst) as client:
        yield fake_evolution, inst, client


# -- 201 ---------------------------------------------------------------------------------------


def test_send_text_is_sent_with_the_key_id_in_both_api_lines(api: tuple) -> None:
    fake, inst, client = api
    first = client.send_text("+55 11 99999-0000", "Hello")
    second = client.send_text("5511999990001", "Hello again")

    assert first.outcome is Outcome.SENT and second.outcome is Outcome.SENT
    assert first.http_status == 201 and first.error is None
    sends = fake.sends()
    assert [s.message_id for s in sends] == [first.message_id, second.message_id]
    assert first.message_id != second.message_id
    assert fake.numbers_received() == ["5511999990000", "5511999990001"]
    body = sends[0].body
    if inst.api_version == "v2":
        assert body == {"number": "5511999990000", "text": "Hello"}
    else:
        assert body == {"number": "5511999990000", "textMessage": {"text": "Hello"}}


def test_delay_goes_in_the_body_and_the_read_timeout_outlasts_it(api: tuple) -> None:
    fake, inst, _ = api
    # The server holds the answer for `delay`: 0.6 s against a 0.3 s read timeout.
    with client_for(fake, inst, read_timeout=0.3) as client:
        result = client.send_text(NUMBER, "typing first", delay_ms=600)

    assert result.outcome is Outcome.SENT
    body = fake.sends()[0].body
    if inst.api_version == "v2":
        assert body["delay"] == 600
    else:
        assert body["options"] == {"delay": 600, "presence": "composing"}


def test_send_media_bodies_in_both_api_lines(api: tuple) -> None:
    fake, inst, client = api
    by_url = client.send_media(NUMBER, "image", "https://cdn.example/a.png", caption="Look")
    as_base64 = client.send_media(
        NUMBER, "document", "data:application/pdf;base64," + PNG, file_name="offer.pdf"
    )

    assert by_url.outcome is Outcome.SENT and as_base64.outcome is Outcome.SENT
    first, second = (s.body for s in fake.sends())
    if inst.api_version == "v2":
        assert first == {
            "number": NUMBER,
            "mediatype": "image",
            "media": "https://cdn.example/a.png",
            "caption": "Look",
        }
        fields = second
    else:
        assert first == {
            "number": NUMBER,
            "mediaMessage": {
                "mediatype": "image",
                "media": "https://cdn.example/a.png",
                "caption": "Look",
            },
        }
        fields = second["mediaMessage"]
    # The data: prefix is stripped (the server wants raw base64) and gives the mimetype.
    assert fields["media"] == PNG
    assert fields["mimetype"] == "application/pdf"
    assert fields["fileName"] == "offer.pdf"


def test_send_whatsapp_audio_bodies_in_both_api_lines(api: tuple) -> None:
    fake, inst, client = api
    result = client.send_voice_note(NUMBER, "https://cdn.example/voice.ogg")

    assert result.outcome is Outcome.SENT
    sent = fake.sends()[0]
    assert sent.route == "sendWhatsAppAudio"
    if inst.api_version == "v2":
        assert sent.body == {"number": NUMBER, "audio": "https://cdn.example/voice.ogg"}
    else:
        assert sent.body["audioMessage"] == {"audio": "https://cdn.example/voice.ogg"}


# -- 400 ---------------------------------------------------------------------------------------


def test_a_number_not_on_whatsapp_is_reported_as_such(api: tuple) -> None:
    fake, _inst, client = api
    fake.set_not_on_whatsapp("5511000000000")

    result = client.send_text("+55 11 0000-00000", "Hello")

    assert result.outcome is Outcome.NOT_ON_WHATSAPP
    assert result.http_status == 400 and result.message_id is None
    assert fake.sends() == []


@pytest.mark.parametrize(("client_line", "server_line"), [("v1", "v2"), ("v2", "v1")])
def test_a_body_of_the_wrong_api_line_is_rejected(
    fake_evolution: FakeEvolution, client_line: str, server_line: str
) -> None:
    inst = fake_evolution.add_instance("shop", api_version=server_line)  # type: ignore[arg-type]
    with client_for(fake_evolution, inst, api_version=client_line) as client:
        result = client.send_text(NUMBER, "Hello")

    assert result.outcome is Outcome.REJECTED
    assert result.http_status == 400
    expected = "text" if server_line == "v2" else "textMessage"
    assert f'requires property "{expected}"' in (result.error or "")
    assert fake_evolution.sends() == []


@pytest.mark.parametrize(
    ("mediatype", "media", "file_name"),
    [
        ("image", "not a url nor base64!", None),
        ("document", PNG, None),  # a base64 document needs a file name
        ("sticker", "https://cdn.example/a.webp", None),
    ],
)
def test_bad_media_is_rejected(
    api: tuple, mediatype: str, media: str, file_name: str | None
) -> None:
    fake, _inst, client = api
    result = client.send_media(NUMBER, mediatype, media, file_name=file_name)

    assert result.outcome is Outcome.REJECTED and result.http_status == 400
    assert fake.sends() == []


def test_blank_text_and_a_number_without_digits_are_rejected(api: tuple) -> None:
    fake, _inst, client = api
    assert client.send_text(NUMBER, "   ").outcome is Outcome.REJECTED
    no_digits = client.send_text("+-- --", "Hello")
    assert no_digits.outcome is Outcome.REJECTED and no_digits.http_status is None
    assert fake.sends() == []


def test_a_send_failure_after_the_number_check_is_rejected(api: tuple) -> None:
    fake, inst, client = api
    fake.fail(Fault.STATUS, status=400, body={"status": 400, "error": "Bad Request",
              "response": {"message": ["Error: media download failed"]}})  # fmt: skip
    result = client.send_text(NUMBER, "Hello")
    assert result.outcome is Outcome.REJECTED
    assert "media download failed" in (result.error or "")


# -- instance down -----------------------------------------------------------------------------


def test_a_wrong_key_marks_the_instance_down_and_never_shows_the_key(api: tuple) -> None:
    fake, inst, _ = api
    wrong = "wrong-secret-token-123"
    with EvolutionClient(fake.base_url, inst.name, wrong, api_version=inst.api_version) as client:
        result = client.send_text(NUMBER, "Hello")
        with pytest.raises(EvolutionError) as state_error:
            client.connection_state()

    assert result.outcome is Outcome.INSTANCE_DOWN and result.http_status == 401
    assert state_error.value.outcome is Outcome.INSTANCE_DOWN
    assert_no_secret(result, wrong)
    assert_no_secret(state_error.value, wrong)
    assert wrong not in repr(client)
    assert fake.sends() == []


def test_an_unknown_instance_is_down_even_with_a_wrong_key(fake_evolution: FakeEvolution) -> None:
    with EvolutionClient(fake_evolution.base_url, "nope", "bad-key-456") as client:
        result = client.send_text(NUMBER, "Hello")

    assert result.outcome is Outcome.INSTANCE_DOWN
    assert result.http_status == 404
    assert "does not exist" in (result.error or "")
    assert_no_secret(result, "bad-key-456")


def test_the_global_key_is_accepted(fake_evolution: FakeEvolution) -> None:
    inst = fake_evolution.add_instance("shop")
    with EvolutionClient(fake_evolution.base_url, inst.name, fake_evolution.global_key) as client:
        assert client.send_text(NUMBER, "Hello").outcome is Outcome.SENT


def test_a_closed_whatsapp_session_marks_the_instance_down(api: tuple) -> None:
    fake, inst, client = api
    fake.set_state(inst.name, "close")

    result = client.send_text(NUMBER, "Hello")

    assert result.outcome is Outcome.INSTANCE_DOWN and result.http_status == 500
    assert "Connection Closed" in (result.error or "")
    assert client.connection_state() == "close"
    assert fake.sends() == []


def test_connection_closed_wrapped_as_400_is_still_an_instance_problem(api: tuple) -> None:
    fake, _inst, client = api
    fake.fail(Fault.STATUS, status=400, body={"status": 400, "error": "Bad Request",
              "response": {"message": ["Error: Connection Closed"]}})  # fmt: skip
    assert client.send_text(NUMBER, "Hello").outcome is Outcome.INSTANCE_DOWN


@pytest.mark.parametrize(
    ("fault", "status"), [(Fault.CONNECTION_CLOSED, 500), (Fault.UNAUTHORIZED, 401)]
)
def test_instance_faults(api: tuple, fault: Fault, status: int) -> None:
    fake, _inst, client = api
    fake.fail(fault, times=1)

    assert client.send_text(NUMBER, "Hello").outcome is Outcome.INSTANCE_DOWN
    assert client.send_text(NUMBER, "Hello").outcome is Outcome.SENT  # only the next one
    assert [r.status for r in fake.requests(route="sendText")] == [status, 201]


# -- retry -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status"), [(Fault.SERVER_ERROR, 500), (Fault.TOO_MANY_REQUESTS, 429)]
)
def test_server_faults_are_retried_later(api: tuple, fault: Fault, status: int) -> None:
    fake, _inst, client = api
    fake.fail(fault, numbers=[NUMBER])

    result = client.send_text(NUMBER, "Hello")
    other = client.send_text("5511999990001", "Hello")

    assert result.outcome is Outcome.RETRY and result.http_status == status
    assert other.outcome is Outcome.SENT  # the fault was only for NUMBER
    assert fake.numbers_received() == ["5511999990001"]


def test_a_503_is_retried(api: tuple) -> None:
    fake, _inst, client = api
    fake.fail(Fault.STATUS, status=503, body="Service Unavailable")
    result = client.send_text(NUMBER, "Hello")
    assert result.outcome is Outcome.RETRY and result.http_status == 503


# -- whose fault: the server's (the breaker counts it), the instance's, or nobody's -----------------


@pytest.mark.parametrize(
    ("status", "outcome", "error"),
    [
        (502, Outcome.RETRY, "502 Bad Gateway"),
        (503, Outcome.RETRY, "503 Service Temporarily Unavailable"),
        (504, Outcome.UNKNOWN, "504 Gateway Time-out"),  # may come after the server sent it
    ],
)
def test_a_proxys_html_error_page_is_a_server_fault(
    api: tuple, status: int, outcome: Outcome, error: str
) -> None:
    fake, _inst, client = api
    fake.fail(Fault.PROXY_OUTAGE, status=status)

    result = client.send_text(NUMBER, "Hello")

    assert result.outcome is outcome and result.http_status == status
    assert result.error == error  # the status line, not nginx's HTML
    assert result.trouble is CircuitCause.SERVER and result.server_fault
    assert fake.sends() == []


@pytest.mark.parametrize(
    "rule", [{"fault": Fault.SERVER_ERROR}, {"fault": Fault.STATUS, "status": 502, "body": "oops"}]
)
def test_a_5xx_with_or_without_a_json_body_is_a_server_fault(api: tuple, rule: dict) -> None:
    fake, _inst, client = api
    fake.fail(**rule)
    result = client.send_text(NUMBER, "Hello")
    assert result.outcome is Outcome.RETRY and result.server_fault


def test_the_licence_gate_stops_the_instance_and_says_where_to_activate_it(api: tuple) -> None:
    fake, inst, client = api
    fake.fail(Fault.LICENSE_REQUIRED)

    result = client.send_text(NUMBER, "Hello")

    assert result.outcome is Outcome.INSTANCE_DOWN and result.http_status == 503
    assert result.trouble is CircuitCause.LICENCE and not result.server_fault
    assert result.activation_url == f"{fake.base_url}/manager/login"
    assert "LICENSE_REQUIRED" in (result.error or "")
    with pytest.raises(EvolutionError) as raised:
        client.connection_state()
    assert raised.value.result.trouble is CircuitCause.LICENCE
    assert raised.value.result.activation_url == result.activation_url
    assert_no_secret(result, inst.token)


def test_a_licence_answer_without_a_web_address_still_stops_the_instance() -> None:
    body = {"error": "service not activated", "code": "LICENSE_REQUIRED", "register_url": "x y"}
    with mock_client(lambda request: httpx.Response(503, json=body)) as client:
        result = client.send_text(NUMBER, "Hello")
    assert result.outcome is Outcome.INSTANCE_DOWN and result.trouble is CircuitCause.LICENCE
    assert result.activation_url is None


@pytest.mark.parametrize(
    ("answer", "trouble", "answered"),
    [
        (httpx.Response(429, json={}), None, False),  # pace, not outage
        (httpx.Response(400, json={"response": {"message": [["bad"]]}}), None, True),
        (httpx.Response(401, json={}), CircuitCause.CONFIG, True),
        (httpx.Response(404, text="Cannot POST"), CircuitCause.CONFIG, True),
        (httpx.Response(500, json={"response": {"message": ["Error: Connection Closed"]}}),
         CircuitCause.SESSION, False),
        (httpx.Response(201, json={"key": {"id": "3EB0A"}}), None, True),
    ],
)  # fmt: skip
def test_who_is_to_blame_for_each_answer(
    answer: httpx.Response, trouble: CircuitCause | None, answered: bool
) -> None:
    result = classify(answer)
    assert result.trouble is trouble and result.server_answered is answered
    assert not result.server_fault


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (httpx.ConnectError("refused"), Outcome.RETRY),
        (httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]"), Outcome.RETRY),
        (httpx.ConnectTimeout("slow"), Outcome.RETRY),
        (httpx.ReadTimeout("slow"), Outcome.UNKNOWN),
        (httpx.RemoteProtocolError("Server disconnected"), Outcome.UNKNOWN),
    ],
)
def test_transport_failures_are_the_servers(exc: Exception, outcome: Outcome) -> None:
    result = classify(exc)
    assert result.outcome is outcome and result.trouble is CircuitCause.SERVER


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection_is_retried() -> None:
    token = "secret-token-789"
    with EvolutionClient(f"http://127.0.0.1:{closed_port()}", "shop", token) as client:
        result = client.send_text(NUMBER, "Hello")

    assert result.outcome is Outcome.RETRY
    assert result.http_status is None
    assert_no_secret(result, token)


class _ResetServer:
    """Accepts a connection, reads a little, then resets it: the request is never fully
    written, so nothing can have been processed."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        conn.recv(1024)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()

    def close(self) -> None:
        self.sock.close()


def test_a_connection_reset_while_the_request_is_being_written_is_retried() -> None:
    server = _ResetServer()
    big = base64.b64encode(b"\x00" * (24 * 1024 * 1024)).decode()  # far beyond socket buffers
    try:
        with EvolutionClient(f"http://127.0.0.1:{server.port}", "shop", "tok") as client:
            result = client.send_media(NUMBER, "document", big, file_name="big.bin")
    finally:
        server.close()

    assert result.outcome is Outcome.RETRY, result


# -- unknown -----------------------------------------------------------------------------------


def test_a_hang_after_processing_is_unknown_and_the_message_did_go_out(api: tuple) -> None:
    fake, inst, _ = api
    fake.fail(Fault.HANG, times=1, seconds=3)
    with client_for(fake, inst, read_timeout=0.3) as client:
        result = client.send_text(NUMBER, "Hello")
        after = client.send_text("5511999990001", "Hello")

    assert result.outcome is Outcome.UNKNOWN
    assert "may have gone out" in (result.error or "")
    assert after.outcome is Outcome.SENT
    # The ambiguous case is real: the server did send it.
    assert fake.numbers_received() == [NUMBER, "5511999990001"]


def test_a_dropped_connection_after_writing_is_unknown(api: tuple) -> None:
    """The fake dropped it before processing, but the client cannot know that: the request was
    completely written, so it is reported UNKNOWN rather than risk a duplicate."""
    fake, _inst, client = api
    fake.fail(Fault.DROP, times=1)

    result = client.send_text(NUMBER, "Hello")

    assert result.outcome is Outcome.UNKNOWN
    assert fake.sends() == [] and [d.number for d in fake.dropped()] == [NUMBER]
    assert client.send_text(NUMBER, "Hello").outcome is Outcome.SENT


def test_slow_answers_within_the_timeout_are_sent(api: tuple) -> None:
    fake, _inst, client = api
    fake.fail(Fault.SLOW, seconds=0.2, times=1)
    assert client.send_text(NUMBER, "Hello").outcome is Outcome.SENT


def test_error_texts_never_contain_the_token_even_when_the_server_echoes_it(api: tuple) -> None:
    fake, inst, client = api
    echo = {"status": 400, "error": "Bad Request", "response": {"message": [f"bad {inst.token}"]}}
    fake.fail(Fault.STATUS, status=400, body=echo, times=1)
    fake.fail(Fault.STATUS, status=502, body=f"upstream said {inst.token}", times=1)

    results = [client.send_text(NUMBER, "Hello") for _ in range(2)]

    assert [r.outcome for r in results] == [Outcome.REJECTED, Outcome.RETRY]
    for result in results:
        assert result.error and "***" in result.error
        assert_no_secret(result, inst.token)


# -- connectionState and webhook/set -----------------------------------------------------------


def test_connection_state(api: tuple) -> None:
    fake, inst, client = api
    assert client.connection_state() == "open"
    fake.set_state(inst.name, "connecting")
    assert client.connection_state() == "connecting"


def test_connection_state_of_an_unreachable_server_raises_without_the_token() -> None:
    client = EvolutionClient(f"http://127.0.0.1:{closed_port()}", "shop", "tok-xyz-1")
    with client, pytest.raises(EvolutionError) as error:
        client.connection_state()
    assert error.value.outcome is Outcome.RETRY
    assert_no_secret(error.value, "tok-xyz-1")


def test_set_webhook_sends_the_shape_of_the_instance_api_line(api: tuple) -> None:
    fake, inst, client = api
    client.register_webhook(
        "https://campaigns.example/webhooks/evolution/7",
        ["MESSAGES_UPDATE", "MESSAGES_UPSERT", "CONNECTION_UPDATE"],
        {"x-webhook-token": "hook-secret"},
    )

    recorded = fake.instance(inst.name).webhook
    events = ["MESSAGES_UPDATE", "MESSAGES_UPSERT", "CONNECTION_UPDATE"]
    if inst.api_version == "v2":
        assert recorded == {
            "webhook": {
                "enabled": True,
                "url": "https://campaigns.example/webhooks/evolution/7",
                "events": events,
                "byEvents": False,
                "base64": False,
                "headers": {"x-webhook-token": "hook-secret"},
            }
        }
    else:
        assert recorded == {
            "enabled": True,
            "url": "https://campaigns.example/webhooks/evolution/7",
            "events": events,
            "webhook_by_events": False,
            "webhook_base64": False,
        }


def test_set_webhook_failure_raises(fake_evolution: FakeEvolution) -> None:
    inst = fake_evolution.add_instance("shop")
    client = EvolutionClient(fake_evolution.base_url, "shop", "wrong-key-000")
    with client, pytest.raises(EvolutionError) as error:
        client.register_webhook("https://x.example/hook", ["MESSAGES_UPDATE"], {})
    assert error.value.http_status == 401
    assert fake_evolution.instance(inst.name).webhook is None


# -- webhook deliveries ------------------------------------------------------------------------


class _Receiver:
    def __init__(self) -> None:
        received: list[tuple[dict[str, str], Any]] = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/evolution/1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_fake_delivers_webhooks_with_the_registered_headers(
    fake_evolution: FakeEvolution,
) -> None:
    inst = fake_evolution.add_instance("shop")
    receiver = _Receiver()
    try:
        with client_for(fake_evolution, inst) as client:
            client.register_webhook(receiver.url, ["MESSAGES_UPDATE"], {"x-webhook-token": "s3"})
            sent = client.send_text(NUMBER, "Hello")
        assert sent.message_id is not None
        answer = fake_evolution.deliver_webhook(
            "shop", payloads.message_update("shop", sent.message_id, "READ")
        )
    finally:
        receiver.close()

    assert answer.status_code == 200
    headers, body = receiver.received[0]
    assert headers["x-webhook-token"] == "s3"
    assert body["event"] == "messages.update"
    assert body["data"]["keyId"] == sent.message_id
    assert body["data"]["messageId"] != sent.message_id


def test_payload_builders_follow_the_contract() -> None:
    v1 = payloads.message_update("shop", "3EB0ABC", "DELIVERY_ACK", api_version="v1")
    assert v1["data"]["id"] == "3EB0ABC" and "keyId" not in v1["data"]
    upsert = payloads.message_upsert("shop", "+55 11 99999-0000", "STOP", extended=True)
    assert upsert["event"] == "messages.upsert"
    assert upsert["data"]["key"]["remoteJid"] == "5511999990000@s.whatsapp.net"
    assert upsert["data"]["message"] == {"extendedTextMessage": {"text": "STOP"}}
    conn = payloads.connection_update("shop", "close")
    assert conn["event"] == "connection.update" and conn["data"]["state"] == "close"
    with pytest.raises(ValueError):
        payloads.message_update("shop", "x", "DELIVERED")


# -- the fake server itself --------------------------------------------------------------------


def test_fault_rules_count_down_and_filter_by_instance(fake_evolution: FakeEvolution) -> None:
    a = fake_evolution.add_instance("a")
    b = fake_evolution.add_instance("b")
    fake_evolution.fail(Fault.SERVER_ERROR, instance="a", times=2)
    with client_for(fake_evolution, a) as ca, client_for(fake_evolution, b) as cb:
        outcomes_a = [ca.send_text(NUMBER, "x").outcome for _ in range(3)]
        outcome_b = cb.send_text(NUMBER, "x").outcome
        assert ca.connection_state() == "open"  # faults hit send routes only by default

    assert outcomes_a == [Outcome.RETRY, Outcome.RETRY, Outcome.SENT]
    assert outcome_b is Outcome.SENT
    assert len(fake_evolution.sends("a")) == 1 and len(fake_evolution.sends("b")) == 1


def test_the_fake_answers_whatsapp_numbers(fake_evolution: FakeEvolution) -> None:
    inst = fake_evolution.add_instance("a", not_on_whatsapp=["5511000000000"])
    answer = httpx.post(
        f"{fake_evolution.base_url}/chat/whatsappNumbers/a",
        json={"numbers": ["5511000000000", "+5511999990000"]},
        headers={"apikey": inst.token},
    )
    assert answer.status_code == 200
    assert [row["exists"] for row in answer.json()] == [False, True]


# -- unit tests on the classification (MockTransport) ------------------------------------------


def mock_client(handler: Any) -> EvolutionClient:
    return EvolutionClient(
        "http://evo.test", "shop", "tok-mock", transport=httpx.MockTransport(handler)
    )


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (httpx.ConnectError("refused"), Outcome.RETRY),
        (httpx.ConnectTimeout("slow"), Outcome.RETRY),
        (httpx.PoolTimeout("busy"), Outcome.RETRY),
        (httpx.WriteError("reset"), Outcome.RETRY),
        (httpx.ReadTimeout("slow"), Outcome.UNKNOWN),
        (httpx.ReadError("reset"), Outcome.UNKNOWN),
        (httpx.RemoteProtocolError("Server disconnected"), Outcome.UNKNOWN),
    ],
)
def test_transport_errors_without_trace_information(exc: Exception, outcome: Outcome) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    with mock_client(handler) as client:
        result = client.send_text(NUMBER, "Hello")
    assert result.outcome is outcome
    assert result.error and "tok-mock" not in result.error


def test_trace_information_overrides_the_exception_type() -> None:
    disconnected = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    assert classify(disconnected, request_written=True).outcome is Outcome.UNKNOWN
    assert classify(disconnected, request_written=False).outcome is Outcome.RETRY
    assert classify(httpx.ConnectError("x"), request_written=True).outcome is Outcome.RETRY


def test_a_201_without_key_id_is_still_sent() -> None:
    with mock_client(lambda request: httpx.Response(201, json={"status": "PENDING"})) as client:
        result = client.send_text(NUMBER, "Hello")
    assert result.outcome is Outcome.SENT and result.message_id is None


def test_a_404_route_points_at_the_base_url() -> None:
    with mock_client(lambda request: httpx.Response(404, text="Cannot POST /x")) as client:
        result = client.send_text(NUMBER, "Hello")
    assert result.outcome is Outcome.INSTANCE_DOWN
    assert "base URL" in (result.error or "")


def test_the_apikey_header_carries_the_token_and_the_path_the_instance_name() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"key": {"id": "3EB0X"}})

    with mock_client(handler) as client:
        assert client.send_text(NUMBER, "Hello").message_id == "3EB0X"
    assert seen[0].headers["apikey"] == "tok-mock"
    assert seen[0].url.path == "/message/sendText/shop"


def test_normalize_number() -> None:
    assert normalize_number(" +55 (11) 99999-0000 ") == "5511999990000"
    assert normalize_number("120363000000000000@g.us") == "120363000000000000@g.us"
