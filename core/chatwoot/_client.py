"""The Chatwoot Application API client: one object per (server, account, token).

What the server does that shapes this code (from Chatwoot's source, see
../shared/chatwoot-api.md):

- Lists come 15 a page with OFFSET paging and rows move while we read. We page by
  `sort=created_at` (a row never changes its place; new rows come at the end) and
  de-duplicate by id. A delete ahead of our offset can still shift one unseen row into a page
  already read: a listing is never proof that a contact is gone; `get_contact` (404) is.
- 429 comes from Rack::Attack before the request reaches Chatwoot, so nothing happened and
  any call, writes included, may be resent. Chatwoot sends no Retry-After by default; we
  honour it when a proxy adds one, else back off exponentially with jitter, bounded.
- 5xx and network errors are raised, never retried here: a POST that got no answer may have
  created the message, and only the caller knows whether resending is safe.
- The only "changed since" the API offers is `POST /contacts/filter` on `last_activity_at`
  or `created_at`, compared as whole UTC days (`::date > 'YYYY-MM-DD'`). There is no
  `updated_at` filter: an agent editing a name, number or labels is not visible that way.
- The token travels only in the `api_access_token` header; it is never put in a repr, an
  exception, a log line or the shared `httpx.Client`'s default headers.
"""

from __future__ import annotations

import itertools
import logging
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from core.chatwoot._errors import (
    ChatwootAuthError,
    ChatwootError,
    ChatwootNotFoundError,
    ChatwootRejectedError,
)
from core.chatwoot._models import (
    ConnectionInfo,
    Contact,
    ContactPage,
    Conversation,
    CreatedContact,
    Inbox,
    Message,
    parse_contact,
    parse_conversation,
    parse_inbox,
    parse_message,
)

PAGE_SIZE = 15  # ContactsController::RESULTS_PER_PAGE; not configurable on the server
DEFAULT_SORT = "created_at"
OPEN_STATUSES = ("open", "pending")  # a conversation still being worked on
_MAX_ERROR_TEXT = 200

log = logging.getLogger("core.chatwoot")


class ChatwootClient:
    """Talks to one Chatwoot account with one access token (a user's, from their profile).

    `timeout` is seconds per request. Pass `http` to share one `httpx.Client` (its pool);
    the token still goes only per request. `transport` is for `httpx.MockTransport`.
    `sleep` and `jitter` (a float in [0, 1)) drive the backoff, injectable for tests.
    """

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
        jitter: Callable[[], float] = random.random,
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
        self._jitter = jitter
        self._account_url = f"{self.base_url}/api/v1/accounts/{self.account_id}"
        self._owns_http = http is None
        self._http = http or httpx.Client(
            transport=transport, limits=httpx.Limits(max_connections=4, keepalive_expiry=5.0)
        )

    def __repr__(self) -> str:  # never the token
        return f"ChatwootClient(base_url={self.base_url!r}, account_id={self.account_id})"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> ChatwootClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- account and inboxes ---------------------------------------------------------------

    def check_connection(self) -> ConnectionInfo:
        """The account's name and inboxes, or the error a settings page should show.

        Uses GET /api/v1/accounts/{id} rather than /api/v1/profile: the profile answer
        carries the caller's own access token, which we would rather never receive.
        """
        try:
            account = self._call("GET", "")
        except ChatwootNotFoundError as exc:
            raise ChatwootNotFoundError(
                f"account {self.account_id} does not exist, or this token's user is not in it",
                status=exc.status,
            ) from None
        if not isinstance(account, Mapping):
            raise ChatwootError("unexpected answer for the account", status=200)
        return ConnectionInfo(
            account_id=self.account_id,
            account_name=str(account.get("name") or ""),
            inboxes=tuple(self.list_inboxes()),
        )

    def list_inboxes(self) -> list[Inbox]:
        return [parse_inbox(item) for item in self._payload_list(self._call("GET", "/inboxes"))]

    # -- contacts: listings ----------------------------------------------------------------

    def iter_contact_pages(
        self,
        *,
        labels: Sequence[str] = (),
        sort: str | None = DEFAULT_SORT,
        include_contact_inboxes: bool = False,
        start_page: int = 1,
    ) -> Iterator[ContactPage]:
        """GET /contacts page by page, lazily (one request per page asked for).

        `labels`: only contacts tagged with any of them (case-insensitive). Only contacts
        with a phone number, an email or an identifier are listed by Chatwoot.
        """
        params: dict[str, Any] = {"include_contact_inboxes": _bool(include_contact_inboxes)}
        if sort:
            params["sort"] = sort
        if labels:
            params["labels[]"] = list(labels)
        return self._pages("GET", "/contacts", params, None, start_page)

    def iter_contacts(
        self,
        *,
        labels: Sequence[str] = (),
        sort: str | None = DEFAULT_SORT,
        include_contact_inboxes: bool = False,
    ) -> Iterator[Contact]:
        """Every listed contact once (de-duplicated by id), lazily. See the module notes on
        what paging a changing list can and cannot guarantee."""
        pages = self.iter_contact_pages(
            labels=labels, sort=sort, include_contact_inboxes=include_contact_inboxes
        )
        return _unique(pages)

    def iter_contacts_with_label(self, label: str, **kwargs: Any) -> Iterator[Contact]:
        """Contacts tagged `label`: for big accounts far fewer requests than reading every
        contact's labels."""
        return self.iter_contacts(labels=[label], **kwargs)

    def search_contacts(self, query: str) -> Iterator[Contact]:
        """GET /contacts/search: name, email or phone containing `query`, identifier
        containing it (case-sensitive) or the id. Chatwoot throttles this route to 100
        requests a minute per account: prefer the listings and `find_contact_by_phone`."""
        if not query.strip():
            raise ValueError("query must not be blank")
        return _unique(self._pages("GET", "/contacts/search", {"q": query.strip()}, None, 1))

    def iter_filtered_contacts(
        self,
        conditions: Sequence[Mapping[str, Any]],
        *,
        sort: str | None = DEFAULT_SORT,
        include_contact_inboxes: bool = False,
    ) -> Iterator[Contact]:
        """POST /contacts/filter with Chatwoot's condition list, e.g.
        `[{"attribute_key": "labels", "filter_operator": "equal_to", "values": ["vip"],
        "query_operator": None}]`. Conditions chain with `query_operator` (AND/OR)."""
        if not conditions:
            raise ValueError("at least one condition is required")
        body = {"payload": [dict(c) for c in conditions]}
        params: dict[str, Any] = {"include_contact_inboxes": _bool(include_contact_inboxes)}
        if sort:
            params["sort"] = sort
        return _unique(self._pages("POST", "/contacts/filter", params, body, 1))

    def iter_contacts_active_since(self, since: datetime, **kwargs: Any) -> Iterator[Contact]:
        """Contacts whose `last_activity_at` is at or after `since` (timezone-aware).

        Chatwoot moves last_activity_at when the contact writes, not when an agent edits
        the contact. The server compares whole UTC days, so we ask from the day before and
        drop the early ones here.
        """
        return self._since("last_activity_at", since, **kwargs)

    def iter_contacts_created_since(self, since: datetime, **kwargs: Any) -> Iterator[Contact]:
        """Contacts created at or after `since` (timezone-aware); as above, day-granular on
        the server, exact here."""
        return self._since("created_at", since, **kwargs)

    def _since(self, key: str, since: datetime, **kwargs: Any) -> Iterator[Contact]:
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        floor = int(since.timestamp())  # the JSON carries whole seconds
        day_before = (since.astimezone(UTC).date() - timedelta(days=1)).isoformat()
        condition = {
            "attribute_key": key,
            "filter_operator": "is_greater_than",
            "values": [day_before],
            "query_operator": None,
        }
        for contact in self.iter_filtered_contacts([condition], **kwargs):
            stamp = getattr(contact, key)
            if stamp is not None and stamp >= floor:
                yield contact

    # -- contacts: one at a time -----------------------------------------------------------

    def get_contact(self, contact_id: int, *, include_contact_inboxes: bool = True) -> Contact:
        """Raises ChatwootNotFoundError (404) when the contact is gone: the one reliable test."""
        answer = self._call(
            "GET",
            f"/contacts/{_id(contact_id)}",
            params={"include_contact_inboxes": _bool(include_contact_inboxes)},
        )
        return parse_contact(_payload(answer))

    def contact_labels(self, contact_id: int) -> list[str]:
        answer = self._call("GET", f"/contacts/{_id(contact_id)}/labels")
        return [str(x) for x in self._payload_list(answer)]

    def find_contact_by_phone(self, phone_number: str) -> Contact | None:
        """The contact with exactly this number, via the filter API (not search: search
        matches substrings and is throttled harder). Brazilian mobiles are also looked up
        with/without the ninth digit, since Chatwoot keeps whichever form arrived first."""
        variants = phone_variants(phone_number)
        conditions = [
            {
                "attribute_key": "phone_number",
                "filter_operator": "equal_to",
                "values": [v],
                "query_operator": "OR" if i < len(variants) - 1 else None,
            }
            for i, v in enumerate(variants)
        ]
        found = list(itertools.islice(self.iter_filtered_contacts(conditions), 2 * PAGE_SIZE))
        for wanted in variants:  # the exact form first, then the variant
            for contact in found:
                if contact.phone_number == wanted:
                    return contact
        return None

    def create_contact(
        self,
        *,
        name: str | None = None,
        phone_number: str | None = None,
        email: str | None = None,
        identifier: str | None = None,
        inbox_id: int | None = None,
        custom_attributes: Mapping[str, Any] | None = None,
        additional_attributes: Mapping[str, Any] | None = None,
    ) -> CreatedContact:
        """POST /contacts. A number or email already taken is a ChatwootRejectedError (422).
        With `inbox_id` Chatwoot also makes the contact's identity in that inbox."""
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if phone_number is not None:
            body["phone_number"] = to_e164(phone_number)
        for key, value in (("email", email), ("identifier", identifier), ("inbox_id", inbox_id)):
            if value is not None:
                body[key] = value
        if custom_attributes is not None:
            body["custom_attributes"] = dict(custom_attributes)
        if additional_attributes is not None:
            body["additional_attributes"] = dict(additional_attributes)
        payload = _payload(self._call("POST", "/contacts", json=body, write=True))
        contact = parse_contact(payload.get("contact") or {})
        contact_inbox = payload.get("contact_inbox") or {}
        source_id = contact_inbox.get("source_id") if isinstance(contact_inbox, Mapping) else None
        return CreatedContact(
            contact=contact, source_id=source_id if isinstance(source_id, str) else None
        )

    def find_or_create_contact(
        self, phone_number: str, *, name: str | None = None, inbox_id: int | None = None,
        **extra: Any,
    ) -> Contact:  # fmt: skip
        """The contact with this number, created if there is none. A create that loses a
        race to another writer (422, number taken) finds the winner instead."""
        found = self.find_contact_by_phone(phone_number)
        if found is not None:
            return found
        try:
            return self.create_contact(
                name=name, phone_number=phone_number, inbox_id=inbox_id, **extra
            ).contact
        except ChatwootRejectedError:
            found = self.find_contact_by_phone(phone_number)
            if found is None:
                raise
            return found

    # -- conversations and messages --------------------------------------------------------

    def contact_conversations(self, contact_id: int) -> list[Conversation]:
        """The contact's conversations, latest activity first. Chatwoot returns at most 20."""
        answer = self._call("GET", f"/contacts/{_id(contact_id)}/conversations")
        return [parse_conversation(item) for item in self._payload_list(answer)]

    def find_open_conversation(
        self, contact_id: int, inbox_id: int, *, statuses: Iterable[str] = OPEN_STATUSES
    ) -> Conversation | None:
        """The most recently active conversation of the contact in `inbox_id` whose status is
        one of `statuses` (open or pending by default), or None."""
        wanted = set(statuses)
        for conversation in self.contact_conversations(contact_id):
            if conversation.inbox_id == inbox_id and conversation.status in wanted:
                return conversation
        return None

    def create_conversation(
        self,
        contact_id: int,
        inbox_id: int,
        *,
        source_id: str | None = None,
        status: str = "open",
    ) -> Conversation:
        """POST /conversations. Without `source_id` an API-channel inbox gives the contact a
        new identity each time; `find_or_create_conversation` reuses the existing one."""
        body: dict[str, Any] = {"contact_id": contact_id, "inbox_id": inbox_id, "status": status}
        if source_id is not None:
            body["source_id"] = source_id
        answer = self._call("POST", "/conversations", json=body, write=True)
        if not isinstance(answer, Mapping):
            raise ChatwootError("unexpected answer for a new conversation", status=200)
        return parse_conversation(answer)

    def find_or_create_conversation(self, contact_id: int, inbox_id: int) -> Conversation:
        found = self.find_open_conversation(contact_id, inbox_id)
        if found is not None:
            return found
        source_id = self.get_contact(contact_id).source_id_for(inbox_id)
        return self.create_conversation(contact_id, inbox_id, source_id=source_id)

    def post_outgoing_message(
        self,
        conversation_id: int,
        content: str,
        *,
        private: bool = False,
        content_attributes: Mapping[str, Any] | None = None,
    ) -> Message:
        """POST /conversations/{id}/messages as an outgoing text message.

        A 5xx or a lost answer raises with `may_have_applied=True`: the message may be in
        the conversation already; do not resend blindly.
        """
        body = {
            "content": content,
            "message_type": "outgoing",
            "private": private,
            "content_type": "text",
            "content_attributes": dict(content_attributes or {}),
        }
        answer = self._call(
            "POST", f"/conversations/{_id(conversation_id)}/messages", json=body, write=True
        )
        if not isinstance(answer, Mapping):
            raise ChatwootError("unexpected answer for a new message", status=200)
        return parse_message(answer)

    def set_conversation_labels(self, conversation_id: int, labels: Sequence[str]) -> list[str]:
        """Replace the conversation's labels with `labels`; returns them as stored."""
        answer = self._call(
            "POST",
            f"/conversations/{_id(conversation_id)}/labels",
            json={"labels": list(labels)},
            write=True,
        )
        return [str(x) for x in self._payload_list(answer)]

    # -- HTTP ------------------------------------------------------------------------------

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
        # Half fixed, half random: never a near-zero wait that would hit the limit again.
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        return ceiling / 2 + self._jitter() * ceiling / 2

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


# -- helpers ---------------------------------------------------------------------------------


def to_e164(phone_number: str) -> str:
    """'+55 (11) 99999-0000' → '+5511999990000', the form Chatwoot stores and validates."""
    digits = re.sub(r"\D", "", phone_number)
    if not 2 <= len(digits) <= 15 or digits.startswith("0"):
        raise ValueError("not a phone number in international form")
    return "+" + digits


def phone_variants(phone_number: str) -> list[str]:
    """The number in E.164, then for a Brazilian mobile the same number with the ninth digit
    added or removed (Chatwoot may hold either, depending on how the contact arrived)."""
    e164 = to_e164(phone_number)
    variants = [e164]
    digits = e164[1:]
    if digits.startswith("55") and len(digits) in (12, 13):
        area, local = digits[2:4], digits[4:]
        if len(local) == 8 and local[0] in "6789":
            variants.append(f"+55{area}9{local}")
        elif len(local) == 9 and local[0] == "9" and local[1] in "6789":
            variants.append(f"+55{area}{local[1:]}")
    return variants


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
