"""Evolution API client: one object per sender instance, v2 (default) or v1 body shapes.

Sends never raise for HTTP or network trouble: they return a `SendResult` whose `Outcome`
(`core.outcome.classify`) tells the caller what to do. The token travels only in the `apikey`
header and never appears in a result, an exception or a log line.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote

import httpx

from core.base import outbound_refusal
from core.messaging._outcome import Outcome, SendResult, classify
from core.models import CircuitCause

ApiVersion = Literal["v1", "v2"]
ADDRESS_RECHECK_SECONDS = 30.0
DEFAULT_WEBHOOK_EVENTS = ("MESSAGES_UPDATE", "MESSAGES_UPSERT", "CONNECTION_UPDATE")

_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[^,]*)?;base64,", re.IGNORECASE)


class EvolutionError(Exception):
    """A non-send call (connectionState, webhook/set) failed. Carries no secret."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(result.error or result.outcome.value)
        self.result = result

    @property
    def outcome(self) -> Outcome:
        return self.result.outcome

    @property
    def http_status(self) -> int | None:
        return self.result.http_status


def normalize_number(number: str) -> str:
    """Digits only (no '+', spaces or dashes); JIDs such as groups ('…@g.us') pass unchanged."""
    number = number.strip()
    if "@" in number:
        return number
    return re.sub(r"\D", "", number)


def path_segment(name: str) -> str:
    """`name` as one URL path segment: every reserved character percent-encoded, dots too, so a
    name such as `x?a=1#` or `..` can neither add a query nor climb to another route."""
    return quote(name, safe="").replace(".", "%2E")


class _WriteTracer:
    """httpcore `trace` callback that remembers how far the request got onto the wire."""

    __slots__ = ("connecting", "headers_started", "written", "write_failed")

    def __init__(self) -> None:
        self.connecting = False
        self.headers_started = False
        self.written = False
        self.write_failed = False

    def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        if event.startswith("connection."):
            self.connecting = True
        elif event == "http11.send_request_headers.started":
            self.headers_started = True
        elif event == "http11.send_request_body.complete":
            self.written = True
        elif event in ("http11.send_request_headers.failed", "http11.send_request_body.failed"):
            self.write_failed = True

    def request_written(self) -> bool | None:
        if self.written:
            return True
        if self.write_failed or (self.connecting and not self.headers_started):
            return False
        return None  # the transport told us nothing (MockTransport, HTTP/2...)


class EvolutionClient:
    """Talks to one Evolution instance.

    `connect_timeout`/`read_timeout` are seconds; a send that asks for a typing `delay` gets
    that delay added to its read timeout, since the server holds the answer for that long.
    Pass `http` to share one `httpx.Client` (its pool) between many instances; the client's
    own timeouts are then ignored in favour of these. `transport` is for `httpx.MockTransport`.
    """

    def __init__(
        self,
        base_url: str,
        instance_name: str,
        token: str,
        *,
        api_version: ApiVersion = "v2",
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        if api_version not in ("v1", "v2"):
            raise ValueError(f"api_version must be 'v1' or 'v2', not {api_version!r}")
        if not instance_name:
            raise ValueError("instance_name is required")
        self.base_url = base_url.rstrip("/")
        self.instance_name = instance_name
        self._path_name = path_segment(instance_name)
        self.api_version: ApiVersion = api_version
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._token = token
        self._address_ok_until = 0.0  # time.monotonic() until which base_url needs no new check
        self._owns_http = http is None
        # Shorter than the usual server keep-alive (Node: 5 s) so we rarely write onto a
        # connection the server is closing: such a request would come back UNKNOWN.
        self._http = http or httpx.Client(
            transport=transport,
            limits=httpx.Limits(max_connections=4, keepalive_expiry=2.0),
        )

    def __repr__(self) -> str:  # never the token
        return (
            f"EvolutionClient({self.base_url!r}, {self.instance_name!r}, "
            f"api_version={self.api_version!r})"
        )

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> EvolutionClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sends -----------------------------------------------------------------------------

    def send_text(self, number: str, text: str, delay_ms: int | None = None) -> SendResult:
        number = normalize_number(number)
        if self.api_version == "v2":
            body: dict[str, Any] = {"number": number, "text": text}
            if delay_ms:
                body["delay"] = int(delay_ms)
        else:
            body = {"number": number, "textMessage": {"text": text}}
            if delay_ms:
                body["options"] = {"delay": int(delay_ms), "presence": "composing"}
        return self._send("message/sendText", body, delay_ms)

    def send_media(
        self,
        number: str,
        mediatype: str,
        media: str,
        caption: str | None = None,
        file_name: str | None = None,
        mimetype: str | None = None,
        delay_ms: int | None = None,
    ) -> SendResult:
        """`media` is an http(s) URL or base64 (a `data:` URL prefix is stripped)."""
        number = normalize_number(number)
        media, mimetype = _strip_data_url(media, mimetype)
        fields: dict[str, Any] = {"mediatype": mediatype, "media": media}
        if caption:
            fields["caption"] = caption
        if file_name:
            fields["fileName"] = file_name
        if mimetype:
            fields["mimetype"] = mimetype
        if self.api_version == "v2":
            body: dict[str, Any] = {"number": number, **fields}
            if delay_ms:
                body["delay"] = int(delay_ms)
        else:
            body = {"number": number, "mediaMessage": fields}
            if delay_ms:
                body["options"] = {"delay": int(delay_ms), "presence": "composing"}
        return self._send("message/sendMedia", body, delay_ms)

    def send_voice_note(self, number: str, audio: str, delay_ms: int | None = None) -> SendResult:
        """A voice note. `audio` is an http(s) URL or base64. Audio carries no caption."""
        number = normalize_number(number)
        audio, _ = _strip_data_url(audio, None)
        if self.api_version == "v2":
            body: dict[str, Any] = {"number": number, "audio": audio}
            if delay_ms:
                body["delay"] = int(delay_ms)
        else:
            body = {"number": number, "audioMessage": {"audio": audio}}
            options: dict[str, Any] = {"encoding": True}
            if delay_ms:
                options.update(delay=int(delay_ms), presence="recording")
            body["options"] = options
        return self._send("message/sendWhatsAppAudio", body, delay_ms)

    # -- instance management ---------------------------------------------------------------

    def connection_state(self) -> str:
        """`open`, `connecting`, `close` or `refused`. Raises EvolutionError when unreachable."""
        response = self._request("GET", f"instance/connectionState/{self._path_name}", None)
        if isinstance(response, SendResult):
            raise EvolutionError(response)
        if response.status_code != 200:
            raise EvolutionError(self._classify(response))
        try:
            payload = response.json()
            inner = payload.get("instance", payload)
            state = inner.get("state")
        except (ValueError, AttributeError):
            state = None
        if not isinstance(state, str):
            raise EvolutionError(
                SendResult(Outcome.UNKNOWN, None, 200, "connectionState answer has no state")
            )
        return state

    def register_webhook(
        self,
        url: str,
        events: Sequence[str] = DEFAULT_WEBHOOK_EVENTS,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Register the webhook. v2 takes a nested body with `headers`; v1 has no headers field
        (authenticate v1 deliveries by the body's `apikey` or a secret in the URL)."""
        if self.api_version == "v2":
            body: dict[str, Any] = {
                "webhook": {
                    "enabled": True,
                    "url": url,
                    "events": list(events),
                    "byEvents": False,
                    "base64": False,
                    "headers": dict(headers or {}),
                }
            }
        else:
            body = {
                "enabled": True,
                "url": url,
                "events": list(events),
                "webhook_by_events": False,
                "webhook_base64": False,
            }
        response = self._request("POST", f"webhook/set/{self._path_name}", body)
        if isinstance(response, SendResult):
            raise EvolutionError(response)
        if not 200 <= response.status_code < 300:
            raise EvolutionError(self._classify(response))
        try:
            payload = response.json()
        except ValueError:
            payload = None
        return payload if isinstance(payload, dict) else {}

    # -- plumbing --------------------------------------------------------------------------

    def _send(self, route: str, body: dict[str, Any], delay_ms: int | None) -> SendResult:
        if not body["number"]:
            return SendResult(Outcome.REJECTED, None, None, "the phone number has no digits")
        response = self._request("POST", f"{route}/{self._path_name}", body, delay_ms)
        if isinstance(response, SendResult):
            return response
        return self._classify(response)

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None, delay_ms: int | None = None
    ) -> httpx.Response | SendResult:
        refused = self._refused_address()
        if refused is not None:
            return refused
        read = self.read_timeout + max(0, delay_ms or 0) / 1000.0
        timeout = httpx.Timeout(
            connect=self.connect_timeout, read=read, write=read, pool=self.connect_timeout
        )
        tracer = _WriteTracer()
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"apikey": self._token, "accept": "application/json"}
        if content is not None:
            headers["content-type"] = "application/json"
        try:
            return self._http.request(
                method,
                f"{self.base_url}/{path}",
                content=content,
                headers=headers,
                timeout=timeout,
                extensions={"trace": tracer},
            )
        except Exception as exc:  # classified, never propagated: see core.outcome
            return classify(exc, request_written=tracer.request_written(), secrets=[self._token])

    def _refused_address(self) -> SendResult | None:
        """The base URL judged again before the token goes out (its name may resolve elsewhere
        since it was saved); at most every ADDRESS_RECHECK_SECONDS, so sends stay cheap."""
        now = time.monotonic()
        if self._address_ok_until > now:
            return None
        reason = outbound_refusal(self.base_url)
        if reason is not None:
            self._address_ok_until = 0.0
            return SendResult(
                Outcome.INSTANCE_DOWN, None, None, f"refused: {reason}", CircuitCause.CONFIG
            )
        self._address_ok_until = now + ADDRESS_RECHECK_SECONDS
        return None

    def _classify(self, response: httpx.Response) -> SendResult:
        return classify(response, secrets=[self._token])


def _strip_data_url(media: str, mimetype: str | None) -> tuple[str, str | None]:
    match = _DATA_URL.match(media)
    if not match:
        return media, mimetype
    return media[match.end() :], mimetype or match.group("mime")
