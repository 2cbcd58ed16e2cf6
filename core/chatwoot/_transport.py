"""The HTTP under the Chatwoot client: one account's URL and token, the 429 backoff, errors.

- 429 comes from Rack::Attack before the request reaches Chatwoot, so nothing happened and
  any call, writes included, may be resent. Chatwoot sends no Retry-After by default; we
  honour it when a proxy adds one, else back off exponentially with jitter, bounded.
- 5xx and network errors are raised, never retried here: a POST that got no answer may have
  created the message, and only the caller knows whether resending is safe.
- The token travels only in the `api_access_token` header; it is never put in a repr, an
  exception, a log line or the shared `httpx.Client`'s default headers.
"""

from __future__ import annotations

import itertools
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from core.base import retry_delay
from core.chatwoot._errors import (
    ChatwootAuthError,
    ChatwootError,
    ChatwootNotFoundError,
    ChatwootRejectedError,
)
from core.chatwoot._models import Contact, ContactPage, parse_contact

PAGE_SIZE = 15  # ContactsController::RESULTS_PER_PAGE; not configurable on the server
_MAX_ERROR_TEXT = 200

log = logging.getLogger("core.chatwoot")


class Transport:
    """One Chatwoot account's URL and token, and `_call`: one request with the 429 retries.
    `ChatwootClient` adds the API's operations on top."""

    def __init__(
        self,
        base_url: str,
        account_id: int | str,
        token: str,
        *,
        timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        max_retries: int = 6,
        backoff_base: float = 1.0,
        backoff_max: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        account = str(account_id).strip()
        if not account.isdigit() or int(account) < 1:
            raise ValueError("account_id must be a positive integer")
        token = (token or "").strip()
        if not token:
            raise ValueError("token is required")
        if re.search(r"[\x00-\x20\x7f]", token):
            # httpx would put the header value in its own error message: refuse it here.
            raise ValueError("token contains whitespace or control characters")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        self.base_url = base_url.rstrip("/")
        self.account_id = int(account)
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._token = token
        self._sleep = sleep
        self._rng = rng
        self._account_url = f"{self.base_url}/api/v1/accounts/{self.account_id}"
        self._owns_http = http is None
        self._http = http or httpx.Client(
            transport=transport, limits=httpx.Limits(max_connections=4, keepalive_expiry=5.0)
        )

    def __repr__(self) -> str:  # never the token
        return f"{type(self).__name__}(base_url={self.base_url!r}, account_id={self.account_id})"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pages(
        self, method: str, path: str, params: dict[str, Any], body: Any, start: int
    ) -> Iterator[ContactPage]:
        for number in itertools.count(max(start, 1)):
            answer = self._call(method, path, params={**params, "page": number}, json=body)
            if not isinstance(answer, Mapping) or not isinstance(answer.get("payload"), list):
                raise ChatwootError(f"unexpected answer for {method} {path}", status=200)
            meta = answer.get("meta") if isinstance(answer.get("meta"), Mapping) else {}
            has_more = meta.get("has_more")
            page = ContactPage(
                number=number,
                count=meta.get("count") if isinstance(meta.get("count"), int) else None,
                contacts=tuple(parse_contact(item) for item in answer["payload"]),
                has_more=has_more if isinstance(has_more, bool) else None,
            )
            yield page
            # OFFSET paging: a short page is the last one (search also says has_more).
            if len(page.contacts) < PAGE_SIZE or page.has_more is False:
                return

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        write: bool = False,
    ) -> Any:
        """One API call with the 429 retries; returns the decoded JSON or raises."""
        url = self._account_url + path
        where = f"{method} {path or '/'}"
        for attempt in itertools.count():
            try:
                response = self._http.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers={"api_access_token": self._token, "accept": "application/json"},
                    timeout=self.timeout,
                    # A redirect elsewhere would carry our custom header along.
                    follow_redirects=False,
                )
            except httpx.HTTPError as exc:
                raise self._network_error(where, exc, write) from None
            if response.status_code == 429:
                if attempt >= self.max_retries:
                    raise ChatwootError(
                        f"{where}: rate limited (429), gave up after {attempt} retries",
                        status=429,
                        transient=True,
                    )
                wait = self._retry_wait(response, attempt)
                log.warning(
                    "Chatwoot rate limit on %s; retrying in %.1f s (%d of %d)",
                    where, wait, attempt + 1, self.max_retries,
                )  # fmt: skip
                self._sleep(wait)
                continue
            if response.is_success:
                try:
                    return response.json()
                except ValueError:
                    raise ChatwootError(
                        f"{where}: answer is not JSON", status=response.status_code
                    ) from None
            raise self._http_error(where, response, write)
        raise AssertionError("unreachable")

    def _retry_wait(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("retry-after")
        if header:
            seconds = _retry_after_seconds(header)
            if seconds is not None:
                return min(max(seconds, 0.0), self.backoff_max)
        # The project's one backoff (equal jitter): never a near-zero wait that would hit the
        # limit again. `attempt` counts from 0 here, retries from 1 there.
        return retry_delay(
            attempt + 1, self.backoff_base, self.backoff_max, self._rng
        ).total_seconds()

    def _http_error(self, where: str, response: httpx.Response, write: bool) -> ChatwootError:
        status = response.status_code
        text = self._scrub(_error_text(response))
        message = f"{where}: {status} {text}".rstrip()
        if status in (401, 403):
            return ChatwootAuthError(message, status=status)
        if status == 404:
            return ChatwootNotFoundError(message, status=status)
        if status < 500:
            return ChatwootRejectedError(message, status=status)
        # A 5xx on a write: Rails rolls back on its own errors, but a proxy's 502/504 may
        # stand in front of a request that went through.
        return ChatwootError(message, status=status, transient=True, may_have_applied=write)

    def _network_error(self, where: str, exc: httpx.HTTPError, write: bool) -> ChatwootError:
        # Connect failures never reached the server; anything later may have, for a write.
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        detail = self._scrub(str(exc))[:_MAX_ERROR_TEXT] or type(exc).__name__
        return ChatwootError(
            f"{where}: {type(exc).__name__}: {detail}",
            status=None,
            transient=True,
            may_have_applied=write and not never_sent,
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "[token]")

    def _payload_list(self, answer: Any) -> list[Any]:
        payload = answer.get("payload") if isinstance(answer, Mapping) else None
        if not isinstance(payload, list):
            raise ChatwootError("unexpected answer: no payload list", status=200)
        return payload


def _unique(pages: Iterable[ContactPage]) -> Iterator[Contact]:
    seen: set[int] = set()
    for page in pages:
        for contact in page.contacts:
            if contact.id not in seen:
                seen.add(contact.id)
                yield contact


def _payload(answer: Any) -> Mapping[str, Any]:
    payload = answer.get("payload") if isinstance(answer, Mapping) else None
    if not isinstance(payload, Mapping):
        raise ChatwootError("unexpected answer: no payload object", status=200)
    return payload


def _id(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("ids are positive integers")
    return value


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _retry_after_seconds(header: str) -> float | None:
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (when - datetime.now(UTC)).total_seconds()


def _error_text(response: httpx.Response) -> str:
    """Chatwoot's own words: {"error": ...}, {"errors": [...]} or {"message": ...}."""
    try:
        body = response.json()
    except ValueError:
        body = None
    text = ""
    if isinstance(body, Mapping):
        for key in ("error", "message", "errors"):
            value = body.get(key)
            if isinstance(value, str) and value:
                text = value
                break
            if isinstance(value, list) and value:
                text = "; ".join(str(v) for v in value)
                break
    elif body is None:
        text = response.text.strip()
        if text.startswith("<"):  # an HTML error page (Rails 404, a proxy's 502)
            text = response.reason_phrase
    return text[:_MAX_ERROR_TEXT]
