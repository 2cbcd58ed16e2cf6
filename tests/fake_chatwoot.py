"""A fake Chatwoot server (Application API) over real HTTP on 127.0.0.1, for tests and benchmarks.

It follows ../shared/chatwoot-api.md and, where that page is silent, Chatwoot's own source
(develop, v4.x): `Api::BaseController` + `AccessTokenAuthHelper` (the `api_access_token`
header; missing → devise's `{"errors": [...]}`, unknown → `{"error": "Invalid Access Token"}`,
agent-bot tokens only on conversations#create and messages#create), `Accounts::BaseController`
(unknown account → 404, account the user is not in → 401), `ContactsController` (15 a page,
`resolved_contacts`, `labels[]`, the Sift sorts, search's `has_more`, the filter API),
`lib/filters/filter_keys.yml` + `FilterHelper` (date conditions compare `::date`, i.e. whole UTC
days), the jbuilder views (Unix-second timestamps, integer `message_type`, no labels inside a
contact) and Rack::Attack (429 `text/plain` "Retry later\\n", no Retry-After by default).

Sorts on the contact lists (`sort=<key>` ascending, `sort=-<key>` descending), as in Chatwoot:
`created_at`, `last_activity_at`, `name` (case-insensitive), `email`, `phone_number`,
`company_name`, `city`, `country` (the last three from `additional_attributes`). `created_at`
is the only one a row never leaves (rows come at the end as they are created); everything
else moves rows while a reader pages. Unknown keys are ignored, as Sift ignores them. Ties,
and requests without a sort, come in "heap order": the order of each row's last write, so a
contact that is changed moves to the end, roughly what PostgreSQL does without ORDER BY.

Every request is logged (`requests()`), with the route named like Chatwoot's controller
action (`"contacts#index"`, `"messages#create"`; see `ROUTES`). Data is seeded and changed
through `FakeAccount` (`seed_contacts` makes 100,000 contacts in about half a second).
Faults are switched on with `fail(...)`, per route and for the next N matching requests;
`down()` / `up()` refuse connections and come back on the same port. `add_hook` runs a
function before a matching request is processed, which lets a test change the data between
two pages of a listing.

    with FakeChatwoot() as fake:
        acct = fake.add_account("Acme")
        inbox = acct.add_inbox("WhatsApp")
        acct.seed_contacts(1000, labels=lambda i: ["vip"] if i % 3 == 0 else [])
        client = ChatwootClient(fake.base_url, acct.id, acct.token)
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
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

PAGE_SIZE = 15  # ContactsController::RESULTS_PER_PAGE
CONVERSATIONS_PER_CONTACT = 20  # Contacts::ConversationsController: `.limit(20)`
MESSAGE_TYPES = {"incoming": 0, "outgoing": 1, "activity": 2, "template": 3}
CONTENT_TYPES = (
    "text", "input_text", "input_textarea", "input_email", "input_select", "cards", "form",
    "article", "incoming_email", "input_csat", "integrations", "sticker", "voice_call",
)  # fmt: skip
CONVERSATION_STATUSES = ("open", "resolved", "pending", "snoozed")
SORTS = (
    "created_at", "last_activity_at", "name", "email", "phone_number", "company_name", "city",
    "country",
)  # fmt: skip
E164 = re.compile(r"\+[1-9]\d{1,14}\Z")  # Contact model's phone_number format
_EMAIL = re.compile(r"\A[^@\s]+@[^@\s]+\Z")  # Devise.email_regexp

SIGN_IN_ERRORS = {"errors": ["You need to sign in or sign up before continuing."]}
INVALID_TOKEN = {"error": "Invalid Access Token"}
NOT_IN_ACCOUNT = {"error": "You are not authorized to access this account"}
BOTS_NOT_ALLOWED = {"error": "Access to this endpoint is not authorized for bots"}
NOT_FOUND = {"error": "Resource could not be found"}
INTERNAL_ERROR = {"status": 500, "error": "Internal Server Error"}
RETRY_LATER = "Retry later\n"  # Rack::Attack's default throttled response body

# Contact filter keys (lib/filters/filter_keys.yml, contacts:): attribute_type, data_type, operators.
_TEXT_OPS = ("equal_to", "not_equal_to", "contains", "does_not_contain")
_DATE_OPS = ("is_greater_than", "is_less_than", "days_before")
FILTER_KEYS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "name": ("standard", "text_case_insensitive", _TEXT_OPS),
    "phone_number": ("standard", "text_case_insensitive", (*_TEXT_OPS, "starts_with")),
    "email": ("standard", "text_case_insensitive", _TEXT_OPS),
    "identifier": ("standard", "text_case_insensitive", ("equal_to", "not_equal_to")),
    "country_code": (
        "additional_attributes",
        "text_case_insensitive",
        ("equal_to", "not_equal_to"),
    ),
    "city": ("additional_attributes", "text_case_insensitive", _TEXT_OPS),
    "company": ("additional_attributes", "text_case_insensitive", _TEXT_OPS),
    "labels": ("standard", "labels", ("equal_to", "not_equal_to", "is_present", "is_not_present")),
    "created_at": ("standard", "date", _DATE_OPS),
    "last_activity_at": ("standard", "date", _DATE_OPS),
    "blocked": ("standard", "boolean", ("equal_to", "not_equal_to")),
}


class Fault(StrEnum):
    TOO_MANY_REQUESTS = "429"  # Rack::Attack: before auth and routing, nothing processed
    SERVER_ERROR = "500"  # `status` (default 500) with Rails' error JSON, nothing processed
    STATUS = "status"  # any `status` with any `body`, nothing processed
    SLOW = "slow"  # wait `seconds`, then process normally
    DROP = "drop"  # read the request, close the socket without processing or answering
    HANG = "hang"  # process (logged, takes effect), hold `seconds`, close without answering


# Route names, as Chatwoot's controller#action. Paths are under /api/v1/accounts/{id} except
# profiles#show (/api/v1/profile) and accounts#show (/api/v1/accounts/{id}).
_A = r"^/api/v1/accounts/(?P<account_id>[^/]+)"
_ROUTE_TABLE: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern + r"/?$"), name)
    for method, pattern, name in (
        ("GET", r"^/api/v1/profile", "profiles#show"),
        ("GET", _A, "accounts#show"),
        ("GET", _A + r"/contacts", "contacts#index"),
        ("GET", _A + r"/contacts/search", "contacts#search"),
        ("POST", _A + r"/contacts/filter", "contacts#filter"),
        ("POST", _A + r"/contacts", "contacts#create"),
        ("GET", _A + r"/contacts/(?P<id>[^/]+)", "contacts#show"),
        ("GET", _A + r"/contacts/(?P<id>[^/]+)/labels", "contacts/labels#index"),
        ("POST", _A + r"/contacts/(?P<id>[^/]+)/labels", "contacts/labels#create"),
        ("GET", _A + r"/contacts/(?P<id>[^/]+)/conversations", "contacts/conversations#index"),
        ("POST", _A + r"/conversations", "conversations#create"),
        ("GET", _A + r"/conversations/(?P<id>[^/]+)", "conversations#show"),
        ("POST", _A + r"/conversations/(?P<id>[^/]+)/messages", "messages#create"),
        ("GET", _A + r"/conversations/(?P<id>[^/]+)/messages", "messages#index"),
        ("GET", _A + r"/conversations/(?P<id>[^/]+)/labels", "conversations/labels#index"),
        ("POST", _A + r"/conversations/(?P<id>[^/]+)/labels", "conversations/labels#create"),
        ("GET", _A + r"/inboxes", "inboxes#index"),
        ("GET", _A + r"/labels", "labels#index"),
    )
)
ROUTES = frozenset(name for _, _, name in _ROUTE_TABLE)
# AccessTokenAuthHelper::BOT_ACCESSIBLE_ENDPOINTS (toggle_status is not faked).
_BOT_ROUTES = frozenset({"conversations#create", "messages#create"})


class FakeError(Exception):
    """Raised inside an action to answer with `status` and `body` (Rails' rescue handlers)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _not_found() -> FakeError:
    return FakeError(404, dict(NOT_FOUND))


def _unprocessable(message: str) -> FakeError:
    return FakeError(422, {"error": message})  # render_could_not_create_error


def _record_invalid(message: str, *attributes: str) -> FakeError:
    return FakeError(422, {"message": message, "attributes": list(attributes)})


# -- data ------------------------------------------------------------------------------------


@dataclass(slots=True)
class FakeUser:
    id: int
    name: str
    token: str
    account_ids: set[int]
    kind: str = "user"  # "user" | "bot"
    email: str = ""


@dataclass(slots=True)
class FakeInbox:
    id: int
    name: str
    channel_type: str = "Channel::Api"
    phone_number: str | None = None  # WhatsApp/SMS inboxes
    lock_to_single_conversation: bool = False
    hmac_token: str = field(default_factory=lambda: secrets.token_hex(12))  # admins see it


@dataclass(slots=True)
class FakeContact:
    id: int
    name: str | None
    phone_number: str | None
    email: str | None
    identifier: str | None
    custom_attributes: dict[str, Any]
    additional_attributes: dict[str, Any]
    labels: list[str]
    created_at: float  # Unix seconds (the JSON carries the integer part)
    last_activity_at: float | None
    updated_at: float  # not in Chatwoot's JSON; here so tests can see a change happened
    blocked: bool = False
    contact_inboxes: list[tuple[int, str]] = field(default_factory=list)  # (inbox_id, source_id)
    pos: int = 0  # heap position: bumped on every write

    @property
    def resolved(self) -> bool:
        """Listed by contacts#index: has an email, a phone number or an identifier."""
        return bool(self.email or self.phone_number or self.identifier)


@dataclass(slots=True)
class FakeMessage:
    id: int
    conversation_id: int  # display id
    content: str | None
    message_type: int
    content_type: str
    private: bool
    content_attributes: dict[str, Any]
    created_at: float
    sender_type: str  # "User" | "Contact" | "AgentBot"
    sender_id: int | None
    status: str = "sent"
    source_id: str | None = None

    @property
    def outgoing(self) -> bool:
        return self.message_type == MESSAGE_TYPES["outgoing"]


@dataclass(slots=True)
class FakeConversation:
    id: int  # display_id, what every conversation path uses
    db_id: int
    uuid: str
    inbox_id: int
    contact_id: int
    source_id: str
    status: str
    labels: list[str]
    created_at: float
    last_activity_at: float
    additional_attributes: dict[str, Any] = field(default_factory=dict)
    custom_attributes: dict[str, Any] = field(default_factory=dict)
    messages: list[FakeMessage] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Received:
    seq: int
    at: float  # time.monotonic() when processing finished
    method: str
    path: str  # without the query
    route: str | None  # e.g. "contacts#index"; None: no such route
    account_id: int | None
    path_id: str | None  # the {id} in the path (contact or conversation display id)
    query: dict[str, list[str]]
    body: Any
    access_token: str | None  # the header as received (the only place it may travel)
    status: int | None  # None: no answer (drop, hang)
    fault: str | None

    @property
    def page(self) -> int:
        raw = (self.query.get("page") or ["1"])[0]
        return int(raw) if raw.isdigit() and int(raw) > 0 else 1


@dataclass
class FaultRule:
    fault: Fault
    routes: frozenset[str] | None = None  # None: every request (Rack::Attack sees them all)
    remaining: int | None = None  # None: until cleared
    seconds: float = 0.0
    status: int = 500
    body: Any = None
    retry_after: int | None = None  # a Retry-After header on 429 (Chatwoot sends none)
    hits: int = 0

    def matches(self, route: str | None) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        return self.routes is None or route in self.routes


@dataclass
class _Hook:
    fn: Callable[[Received], None]
    routes: frozenset[str] | None
    remaining: int | None


def _pick(value: Any, i: int) -> Any:
    return value(i) if callable(value) else value


def _norm_labels(labels: Iterable[str]) -> list[str]:
    seen: dict[str, str] = {}
    for label in labels:
        label = str(label).strip()
        if label and label.lower() not in seen:
            seen[label.lower()] = label
    return list(seen.values())


class FakeAccount:
    """One Chatwoot account: contacts, inboxes, conversations and the token of its admin.

    Every method is thread-safe (the server's handler threads read the same state).
    """

    def __init__(self, fake: FakeChatwoot, account_id: int, name: str, token: str) -> None:
        self._fake = fake
        self._lock = fake._lock
        self.id = account_id
        self.name = name
        self.token = token  # the access token of the account's administrator
        self._contacts: dict[int, FakeContact] = {}
        self._by_phone: dict[str, int] = {}
        self._by_email: dict[str, int] = {}
        self._by_identifier: dict[str, int] = {}
        self._inboxes: dict[int, FakeInbox] = {}
        self._conversations: dict[int, FakeConversation] = {}
        self._display_ids = itertools.count(1)
        self._list_cache: dict[tuple[Any, ...], list[int]] = {}

    def __repr__(self) -> str:
        return f"FakeAccount(id={self.id}, name={self.name!r})"

    # -- inboxes ---------------------------------------------------------------------------

    def add_inbox(
        self,
        name: str = "API",
        channel_type: str = "Channel::Api",
        *,
        phone_number: str | None = None,
        lock_to_single_conversation: bool = False,
    ) -> FakeInbox:
        with self._lock:
            inbox = FakeInbox(
                id=next(self._fake._inbox_ids),
                name=name,
                channel_type=channel_type,
                phone_number=phone_number,
                lock_to_single_conversation=lock_to_single_conversation,
            )
            self._inboxes[inbox.id] = inbox
            return inbox

    def inboxes(self) -> list[FakeInbox]:
        with self._lock:
            return list(self._inboxes.values())

    # -- contacts --------------------------------------------------------------------------

    def add_contact(
        self,
        name: str | None = None,
        *,
        phone_number: str | None = None,
        email: str | None = None,
        identifier: str | None = None,
        labels: Iterable[str] = (),
        custom_attributes: Mapping[str, Any] | None = None,
        additional_attributes: Mapping[str, Any] | None = None,
        created_at: float | None = None,
        last_activity_at: float | None = None,
        blocked: bool = False,
        inbox_ids: Iterable[int] = (),
    ) -> FakeContact:
        """One contact, unchecked (seeding may create what the API would refuse)."""
        with self._lock:
            contact = self._new_contact(
                name=name, phone_number=phone_number, email=email, identifier=identifier,
                labels=labels, custom_attributes=custom_attributes,
                additional_attributes=additional_attributes, created_at=created_at,
                last_activity_at=last_activity_at, blocked=blocked,
            )  # fmt: skip
            for inbox_id in inbox_ids:
                contact.contact_inboxes.append((inbox_id, self._source_id_for(contact, inbox_id)))
            return contact

    def seed_contacts(
        self,
        count: int,
        *,
        name: Any = None,
        phone_number: Any = None,
        email: Any = None,
        identifier: Any = None,
        labels: Any = (),
        custom_attributes: Any = None,
        additional_attributes: Any = None,
        created_at: Any = None,
        last_activity_at: Any = None,
    ) -> list[int]:
        """`count` contacts in one go; returns their ids in creation order.

        Each keyword is a value or a function of the 0-based index. Defaults: name
        "Contact <id>", a unique phone "+55119<id as 8 digits>", no email, created_at one
        millisecond apart ending now (so `sort=created_at` gives creation order).
        """
        now = self._fake.clock()
        ids: list[int] = []
        with self._lock:
            for i in range(count):
                cid = next(self._fake._contact_ids)
                phone = _pick(phone_number, i) if phone_number is not None else f"+55119{cid:08d}"
                contact = FakeContact(
                    id=cid,
                    name=_pick(name, i) if name is not None else f"Contact {cid}",
                    phone_number=phone,
                    email=_pick(email, i),
                    identifier=_pick(identifier, i),
                    custom_attributes=dict(_pick(custom_attributes, i) or {}),
                    additional_attributes=dict(_pick(additional_attributes, i) or {}),
                    labels=_norm_labels(_pick(labels, i) or ()),
                    created_at=(
                        _pick(created_at, i)
                        if created_at is not None
                        else now - (count - i) * 0.001
                    ),  # fmt: skip
                    last_activity_at=_pick(last_activity_at, i),
                    updated_at=now,
                    pos=next(self._fake._positions),
                )
                self._index(contact)
                ids.append(cid)
            self._list_cache.clear()
        return ids

    def contact(self, contact_id: int) -> FakeContact:
        """The stored contact (a live object: read it, change it through the methods below)."""
        with self._lock:
            return self._contacts[contact_id]

    def contacts(self) -> list[FakeContact]:
        with self._lock:
            return list(self._contacts.values())

    def contact_ids(self, *, resolved_only: bool = True) -> list[int]:
        with self._lock:
            return [c.id for c in self._contacts.values() if c.resolved or not resolved_only]

    def update_contact(self, contact_id: int, **fields: Any) -> FakeContact:
        """Change fields (name, phone_number, email, identifier, custom_attributes,
        additional_attributes, blocked, labels), as an agent editing the contact would:
        `updated_at` moves and the row moves to the end of the heap order; `last_activity_at`
        does not (Chatwoot bumps it only when the contact writes)."""
        allowed = {
            "name", "phone_number", "email", "identifier", "custom_attributes",
            "additional_attributes", "blocked", "labels",
        }  # fmt: skip
        unknown = set(fields) - allowed
        if unknown:
            raise TypeError(f"cannot update {sorted(unknown)}")
        with self._lock:
            contact = self._contacts[contact_id]
            self._unindex(contact)
            for key, value in fields.items():
                if key == "labels":
                    value = _norm_labels(value)
                elif key in ("custom_attributes", "additional_attributes"):
                    value = dict(value)
                setattr(contact, key, value)
            self._index(contact)
            self._touch(contact)
            return contact

    def set_contact_labels(self, contact_id: int, labels: Iterable[str]) -> None:
        self.update_contact(contact_id, labels=list(labels))

    def record_activity(self, contact_id: int, at: float | None = None) -> FakeContact:
        """The contact did something (wrote a message): `last_activity_at` moves."""
        with self._lock:
            contact = self._contacts[contact_id]
            contact.last_activity_at = self._fake.clock() if at is None else at
            self._touch(contact)
            return contact

    def delete_contact(self, contact_id: int) -> None:
        """Gone, with its conversations (Chatwoot destroys them too, asynchronously)."""
        with self._lock:
            contact = self._contacts.pop(contact_id)
            self._unindex(contact, keep_row=False)
            for conv_id in [
                c.id for c in self._conversations.values() if c.contact_id == contact_id
            ]:
                del self._conversations[conv_id]
            self._list_cache.clear()

    # -- conversations and messages --------------------------------------------------------

    def add_conversation(
        self,
        contact_id: int,
        inbox_id: int,
        *,
        status: str = "open",
        labels: Iterable[str] = (),
        source_id: str | None = None,
    ) -> FakeConversation:
        with self._lock:
            contact = self._contacts[contact_id]
            source_id = source_id or self._contact_inbox(contact, inbox_id, None)
            return self._new_conversation(contact, inbox_id, source_id, status, labels)

    def conversation(self, display_id: int) -> FakeConversation:
        with self._lock:
            return self._conversations[display_id]

    def conversations(self, contact_id: int | None = None) -> list[FakeConversation]:
        with self._lock:
            return [
                c for c in self._conversations.values()
                if contact_id is None or c.contact_id == contact_id
            ]  # fmt: skip

    def set_conversation_status(self, display_id: int, status: str) -> None:
        with self._lock:
            self._conversations[display_id].status = status

    def messages(
        self, conversation_id: int | None = None, *, message_type: str | None = None
    ) -> list[FakeMessage]:
        with self._lock:
            found = [
                m for c in self._conversations.values() for m in c.messages
                if conversation_id is None or c.id == conversation_id
            ]  # fmt: skip
        if message_type is not None:
            found = [m for m in found if m.message_type == MESSAGE_TYPES[message_type]]
        return sorted(found, key=lambda m: m.id)

    def outgoing_counts(self) -> Counter[int]:
        """Conversation display id → how many outgoing messages it holds."""
        return Counter(m.conversation_id for m in self.messages(message_type="outgoing"))

    # -- internals (caller holds the lock) -------------------------------------------------

    def _new_contact(self, **kw: Any) -> FakeContact:
        now = self._fake.clock()
        contact = FakeContact(
            id=next(self._fake._contact_ids),
            name=kw.get("name"),
            phone_number=kw.get("phone_number") or None,
            email=(kw.get("email") or None) and str(kw["email"]).lower(),
            identifier=kw.get("identifier") or None,
            custom_attributes=dict(kw.get("custom_attributes") or {}),
            additional_attributes=dict(kw.get("additional_attributes") or {}),
            labels=_norm_labels(kw.get("labels") or ()),
            created_at=now if kw.get("created_at") is None else kw["created_at"],
            last_activity_at=kw.get("last_activity_at"),
            updated_at=now,
            blocked=bool(kw.get("blocked")),
            pos=next(self._fake._positions),
        )
        self._index(contact)
        self._list_cache.clear()
        return contact

    def _index(self, contact: FakeContact) -> None:
        self._contacts[contact.id] = contact
        if contact.phone_number:
            self._by_phone[contact.phone_number] = contact.id
        if contact.email:
            self._by_email[contact.email.lower()] = contact.id
        if contact.identifier:
            self._by_identifier[contact.identifier] = contact.id

    def _unindex(self, contact: FakeContact, *, keep_row: bool = True) -> None:
        for index, key in (
            (self._by_phone, contact.phone_number),
            (self._by_email, (contact.email or "").lower()),
            (self._by_identifier, contact.identifier),
        ):
            if key and index.get(key) == contact.id:
                del index[key]
        if not keep_row:
            self._contacts.pop(contact.id, None)

    def _touch(self, contact: FakeContact) -> None:
        contact.updated_at = self._fake.clock()
        contact.pos = next(self._fake._positions)
        self._list_cache.clear()

    def _source_id_for(self, contact: FakeContact, inbox_id: int) -> str:
        """ContactInboxBuilder#generate_source_id."""
        inbox = self._inboxes.get(inbox_id)
        channel = inbox.channel_type if inbox else "Channel::Api"
        if channel == "Channel::Whatsapp":
            if not contact.phone_number:
                raise _unprocessable("contact phone number required")
            return contact.phone_number.lstrip("+")
        if channel in ("Channel::Sms", "Channel::TwilioSms"):
            if not contact.phone_number:
                raise _unprocessable("contact phone number required")
            return contact.phone_number
        if channel == "Channel::Email":
            if not contact.email:
                raise _unprocessable("contact email required")
            return contact.email
        return str(uuid.uuid4())  # Channel::Api, web widget: a new one every time

    def _contact_inbox(self, contact: FakeContact, inbox_id: int, source_id: str | None) -> str:
        """find_or_create the (contact, inbox, source_id) row; returns its source_id."""
        source_id = source_id or self._source_id_for(contact, inbox_id)
        if (inbox_id, source_id) not in contact.contact_inboxes:
            for other in self._contacts.values():
                if other is not contact and (inbox_id, source_id) in other.contact_inboxes:
                    raise _unprocessable("source_id should be unique")
            contact.contact_inboxes.append((inbox_id, source_id))
        return source_id

    def _new_conversation(
        self, contact: FakeContact, inbox_id: int, source_id: str, status: str,
        labels: Iterable[str],
    ) -> FakeConversation:  # fmt: skip
        now = self._fake.clock()
        conversation = FakeConversation(
            id=next(self._display_ids),
            db_id=next(self._fake._conversation_ids),
            uuid=str(uuid.uuid4()),
            inbox_id=inbox_id,
            contact_id=contact.id,
            source_id=source_id,
            status=status,
            labels=_norm_labels(labels),
            created_at=now,
            last_activity_at=now,
        )
        self._conversations[conversation.id] = conversation
        return conversation

    def _sorted_ids(self, kind: str, sort: str | None, extra: Any, select: Callable) -> list[int]:
        """Ids of the rows `select` keeps, in `sort` order; cached until the next write."""
        key = (kind, sort, extra)
        cached = self._list_cache.get(key)
        if cached is not None:
            return cached
        rows = [c for c in self._contacts.values() if select(c)]
        rows.sort(key=lambda c: c.pos)  # heap order: the tie-break and the unsorted order
        desc = bool(sort and sort.startswith("-"))
        name = (sort or "").lstrip("-")
        if name in SORTS:
            value, nulls_last_always = _SORT_KEYS[name]
            present = [c for c in rows if value(c) is not None]
            missing = [c for c in rows if value(c) is None]
            present.sort(key=value, reverse=desc)  # stable: ties stay in heap order
            # `NULLS LAST` in the scope, else PostgreSQL's default (last asc, first desc).
            rows = present + missing if nulls_last_always or not desc else missing + present
        ids = [c.id for c in rows]
        self._list_cache[key] = ids
        return ids


def _attr(key: str) -> Callable[[FakeContact], Any]:
    def value(c: FakeContact) -> Any:
        raw = c.additional_attributes.get(key)
        return None if raw is None else str(raw)

    return value


# sort key → (value of a row, the scope says NULLS LAST in both directions)
_SORT_KEYS: dict[str, tuple[Callable[[FakeContact], Any], bool]] = {
    "created_at": (lambda c: c.created_at, True),
    "last_activity_at": (lambda c: c.last_activity_at, True),
    "name": (lambda c: None if c.name is None else c.name.lower(), False),
    "email": (lambda c: c.email, False),
    "phone_number": (lambda c: c.phone_number, False),
    "company_name": (_attr("company_name"), True),
    "city": (_attr("city"), True),
    "country": (_attr("country"), True),
}


# -- the server ------------------------------------------------------------------------------


class FakeChatwoot:
    """The server. `start()`/`stop()` or use as a context manager.

    `clock` gives "now" in Unix seconds for created_at, last_activity_at and the filter's
    `days_before`; tests may replace it.
    """

    def __init__(self, *, latency: float = 0.0, clock: Callable[[], float] = time.time) -> None:
        self.latency = latency  # seconds added to every answer
        self.clock = clock
        self._lock = threading.RLock()
        self._accounts: dict[int, FakeAccount] = {}
        self._users: dict[str, FakeUser] = {}
        self._faults: list[FaultRule] = []
        self._hooks: list[_Hook] = []
        self._log: list[Received] = []
        self._seq = itertools.count(1)
        self._account_ids = itertools.count(1)
        self._user_ids = itertools.count(1)
        self._inbox_ids = itertools.count(1)
        self._contact_ids = itertools.count(1)
        self._conversation_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._positions = itertools.count(1)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeChatwoot:
        self._stopping.clear()
        self._listen(0)
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes sleeping handlers
        self.down()

    def down(self) -> None:
        """Stop listening and cut every open connection: the next connect is refused."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def up(self) -> None:
        """Listen again, on the same port as before."""
        if self._server is None:
            assert self._port is not None, "server never started"
            self._listen(self._port)

    def _listen(self, port: int) -> None:
        handler = type("Handler", (_Handler,), {"fake": self})
        server = _Server(("127.0.0.1", port), handler)
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def __enter__(self) -> FakeChatwoot:
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

    # -- accounts and users ----------------------------------------------------------------

    def add_account(self, name: str = "Acme", *, token: str | None = None) -> FakeAccount:
        """An account and its administrator, whose token is `account.token`."""
        with self._lock:
            account_id = next(self._account_ids)
            user = self._add_user("Admin", token, {account_id}, "user")
            account = FakeAccount(self, account_id, name, user.token)
            self._accounts[account_id] = account
            return account

    def add_user(
        self, name: str = "Agent", *, accounts: Iterable[int] = (), token: str | None = None
    ) -> FakeUser:
        with self._lock:
            return self._add_user(name, token, set(accounts), "user")

    def add_bot(
        self, name: str = "Bot", *, accounts: Iterable[int] = (), token: str | None = None
    ) -> FakeUser:
        """An agent bot: its token works on conversations#create and messages#create only."""
        with self._lock:
            return self._add_user(name, token, set(accounts), "bot")

    def account(self, account_id: int) -> FakeAccount:
        with self._lock:
            return self._accounts[account_id]

    def _add_user(self, name: str, token: str | None, accounts: set[int], kind: str) -> FakeUser:
        uid = next(self._user_ids)
        user = FakeUser(
            id=uid, name=name, token=token or secrets.token_urlsafe(18), account_ids=accounts,
            kind=kind, email=f"user{uid}@example.com",
        )  # fmt: skip
        self._users[user.token] = user
        return user

    # -- faults and hooks ------------------------------------------------------------------

    def fail(
        self,
        fault: Fault,
        *,
        routes: Iterable[str] | None = None,
        times: int | None = None,
        seconds: float = 0.0,
        status: int = 500,
        body: Any = None,
        retry_after: int | None = None,
    ) -> FaultRule:
        """Answer matching requests with `fault` (`times`: the next N of them; None: all)."""
        chosen = None if routes is None else frozenset(routes)
        if chosen is not None and not chosen <= ROUTES:
            raise ValueError(f"unknown routes {sorted(chosen - ROUTES)}; see ROUTES")
        rule = FaultRule(
            fault=fault, routes=chosen, remaining=times, seconds=seconds, status=status,
            body=body, retry_after=retry_after,
        )  # fmt: skip
        with self._lock:
            self._faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def add_hook(
        self,
        fn: Callable[[Received], None],
        *,
        routes: Iterable[str] | None = None,
        times: int | None = None,
    ) -> None:
        """Call `fn(request)` before a matching request is processed (status/seq not yet
        known: both are 0/None). Runs in the handler thread, outside the lock."""
        chosen = None if routes is None else frozenset(routes)
        if chosen is not None and not chosen <= ROUTES:
            raise ValueError(f"unknown routes {sorted(chosen - ROUTES)}; see ROUTES")
        with self._lock:
            self._hooks.append(_Hook(fn, chosen, times))

    # -- the request log -------------------------------------------------------------------

    def requests(self, route: str | None = None, *, method: str | None = None) -> list[Received]:
        with self._lock:
            return [
                r for r in self._log
                if (route is None or r.route == route) and (method is None or r.method == method)
            ]  # fmt: skip

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    # -- used by the handler ---------------------------------------------------------------

    def _take_fault(self, route: str | None) -> FaultRule | None:
        with self._lock:
            for rule in self._faults:
                if rule.matches(route):
                    rule.hits += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
        return None

    def _run_hooks(self, pending: Received) -> None:
        with self._lock:
            due = []
            for hook in self._hooks:
                if hook.remaining is not None and hook.remaining <= 0:
                    continue
                if hook.routes is None or pending.route in hook.routes:
                    if hook.remaining is not None:
                        hook.remaining -= 1
                    due.append(hook.fn)
        for fn in due:
            fn(pending)

    def _record(self, pending: Received, status: int | None, fault: str | None) -> None:
        entry = Received(
            seq=next(self._seq), at=time.monotonic(), method=pending.method, path=pending.path,
            route=pending.route, account_id=pending.account_id, path_id=pending.path_id,
            query=pending.query, body=pending.body, access_token=pending.access_token,
            status=status, fault=fault,
        )  # fmt: skip
        with self._lock:
            self._log.append(entry)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    allow_reuse_address = True  # `up()` rebinds the same port at once

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        # Headers and body leave in two writes; without this Nagle + delayed ACK cost ~40 ms.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._open_lock:
            self._open.add(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Keep-alive connections outlive the listener; `down()` must cut them too."""
        with self._open_lock:
            conns = list(self._open)
            self._open.clear()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeChatwoot
    protocol_version = "HTTP/1.1"  # keep-alive, like the real server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def do_PUT(self) -> None:  # noqa: N802
        self._handle()

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle()

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        route, groups = _match(self.command, parts.path)
        account_id = _int_or_none(groups.get("account_id"))
        body: Any = None
        bad_json = False
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        pending = Received(
            seq=0, at=0.0, method=self.command, path=parts.path, route=route,
            account_id=account_id, path_id=groups.get("id"), query=query, body=body,
            access_token=self.headers.get("api_access_token"), status=None, fault=None,
        )  # fmt: skip

        fake._run_hooks(pending)
        rule = fake._take_fault(route)
        fault = rule.fault if rule else None
        if rule is not None and fault is Fault.TOO_MANY_REQUESTS:
            headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else {}
            self._finish(pending, 429, RETRY_LATER, fault=fault, headers=headers)
            return
        if rule is not None and fault in (Fault.SERVER_ERROR, Fault.STATUS):
            answer = rule.body
            if answer is None:
                answer = {"status": rule.status, "error": "Internal Server Error"}
            self._finish(pending, rule.status, answer, fault=fault)
            return
        if rule is not None and fault is Fault.DROP:
            fake._record(pending, None, fault.value)
            self._drop()
            return
        if rule is not None and fault is Fault.SLOW:
            fake._sleep(rule.seconds)

        if bad_json:
            status, answer = 400, {"status": 400, "error": "Bad Request"}
        else:
            status, answer = _process(fake, pending, groups)
        if rule is not None and fault is Fault.HANG:
            fake._record(pending, None, fault.value)  # it took effect; the answer never comes
            fake._sleep(rule.seconds)
            self._drop()
            return
        self._finish(pending, status, answer, fault=fault)

    def _finish(
        self, pending: Received, status: int, answer: Any, *, fault: Fault | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.fake._record(pending, status, fault.value if fault else None)
        self.fake._sleep(self.fake.latency)
        self._reply(status, answer, headers or {})

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _reply(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        if isinstance(body, str):
            data, ctype = body.encode(), "text/plain"
            if body.startswith("<"):
                ctype = "text/html; charset=utf-8"
        else:
            data = json.dumps(body, separators=(",", ":")).encode()
            ctype = "application/json; charset=utf-8"
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client went away (e.g. its timeout fired)
            self.close_connection = True


def _match(method: str, path: str) -> tuple[str | None, dict[str, str]]:
    for route_method, pattern, name in _ROUTE_TABLE:
        if route_method == method and (m := pattern.match(path)):
            return name, m.groupdict()
    return None, {}


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


# -- request processing ----------------------------------------------------------------------


def _process(fake: FakeChatwoot, req: Received, groups: Mapping[str, str]) -> tuple[int, Any]:
    """Route, authenticate, authorise and run one request: (status, body)."""
    if req.route is None:
        return (
            404,
            "<html><body><h1>The page you were looking for doesn't exist.</h1></body></html>",
        )
    # Api::BaseController: a blank header means "no token" (devise), else the token must exist.
    token = (req.access_token or "").strip()
    if not token:
        return 401, dict(SIGN_IN_ERRORS)
    with fake._lock:
        user = fake._users.get(token)
    if user is None:
        return 401, dict(INVALID_TOKEN)
    if user.kind == "bot" and req.route not in _BOT_ROUTES:
        return 401, dict(BOTS_NOT_ALLOWED)
    if req.route == "profiles#show":
        return 200, _profile_json(fake, user)

    # Account.find raises before membership is checked: an unknown account is a 404.
    with fake._lock:
        account = fake._accounts.get(req.account_id) if req.account_id is not None else None
    if req.route == "accounts#show":
        # AccountsController#fetch_account: current_user.accounts.find → 404 for both cases.
        if account is None or account.id not in user.account_ids:
            return 404, dict(NOT_FOUND)
        return 200, _account_json(account)
    if account is None:
        return 404, dict(NOT_FOUND)
    if account.id not in user.account_ids:
        return 401, dict(NOT_IN_ACCOUNT)

    params: dict[str, Any] = {k.removesuffix("[]"): v if k.endswith("[]") else v[-1]
                              for k, v in req.query.items()}  # fmt: skip
    if isinstance(req.body, dict):
        params.update(req.body)  # Rails merges the JSON body into params
    try:
        with fake._lock:
            return _ACTIONS[req.route](account, user, params, req.path_id)
    except FakeError as exc:
        return exc.status, exc.body


def _page_of(params: Mapping[str, Any]) -> tuple[int, Any]:
    """Kaminari's page (anything below 1 is page 1) and meta.current_page (the raw param)."""
    raw = params.get("page")
    try:
        number = int(str(raw)) if raw is not None else 1
    except ValueError:
        number = 1
    return max(number, 1), (raw if raw is not None else 1)


def _want_inboxes(params: Mapping[str, Any]) -> bool:
    value = params.get("include_contact_inboxes")
    return True if value in (None, "") else str(value) == "true"


def _find_contact(account: FakeAccount, raw_id: str | None) -> FakeContact:
    contact = account._contacts.get(_int_or_none(raw_id) or -1)
    if contact is None:
        raise _not_found()
    return contact


def _find_conversation(account: FakeAccount, raw_id: str | None) -> FakeConversation:
    conversation = account._conversations.get(_int_or_none(raw_id) or -1)
    if conversation is None:
        raise _not_found()
    return conversation


def _contacts_index(account: FakeAccount, user: FakeUser, params: dict, _id: Any) -> Any:
    labels = params.get("labels")
    if isinstance(labels, str):
        labels = [labels]
    wanted = frozenset(str(x).strip().lower() for x in labels or () if str(x).strip())

    def select(c: FakeContact) -> bool:
        # tagged_with(labels, any: true): case-insensitive, any of them
        return c.resolved and (not wanted or any(x.lower() in wanted for x in c.labels))

    ids = account._sorted_ids("index", params.get("sort"), wanted, select)
    page, current = _page_of(params)
    chunk = ids[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    inboxes = _want_inboxes(params)
    return 200, {
        "meta": {"count": len(ids), "current_page": current},
        "payload": [_contact_json(account, account._contacts[i], inboxes) for i in chunk],
    }


def _contacts_search(account: FakeAccount, user: FakeUser, params: dict, _id: Any) -> Any:
    q = str(params.get("q") or "").strip()
    if not q:
        raise _unprocessable("Specify search string with parameter q")
    needle = q.lower()
    numeric = q.isdigit()

    def select(c: FakeContact) -> bool:
        # name/email/phone ILIKE, identifier LIKE (case-sensitive), id = q when q is digits;
        # on every contact of the account, not only the "resolved" ones.
        return (
            (c.name is not None and needle in c.name.lower())
            or (c.email is not None and needle in c.email.lower())
            or (c.phone_number is not None and needle in c.phone_number.lower())
            or (c.identifier is not None and q in c.identifier)
            or (numeric and c.id == int(q))
        )

    ids = account._sorted_ids("search", params.get("sort"), q, select)
    page, current = _page_of(params)
    chunk = ids[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    has_more = len(ids) > page * PAGE_SIZE
    return 200, {
        # fetch_contacts_with_has_more: count is the size of this page, not the total
        "meta": {"count": len(chunk), "current_page": current, "has_more": has_more},
        "payload": [_contact_json(account, account._contacts[i], True) for i in chunk],
    }


def _contacts_filter(account: FakeAccount, user: FakeUser, params: dict, _id: Any) -> Any:
    payload = params.get("payload")
    if not isinstance(payload, list) or not payload:
        raise FakeError(500, dict(INTERNAL_ERROR))  # `@params[:payload].each` on nil
    today = datetime.fromtimestamp(account._fake.clock(), UTC).date()
    predicate = _compile_filter(payload, today)
    key = json.dumps(payload, sort_keys=True, default=str) + today.isoformat()
    ids = account._sorted_ids("filter", params.get("sort"), key, predicate)
    page, current = _page_of(params)
    chunk = ids[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    inboxes = _want_inboxes(params)
    return 200, {
        "meta": {"count": len(ids), "current_page": current},
        "payload": [_contact_json(account, account._contacts[i], inboxes) for i in chunk],
    }


def _contacts_show(account: FakeAccount, user: FakeUser, params: dict, raw_id: Any) -> Any:
    contact = _find_contact(account, raw_id)
    return 200, {"payload": _contact_json(account, contact, _want_inboxes(params))}


def _contacts_create(account: FakeAccount, user: FakeUser, params: dict, _id: Any) -> Any:
    name = params.get("name")
    phone = params.get("phone_number") or None
    email = (params.get("email") or None) and str(params["email"]).strip().lower()
    identifier = params.get("identifier") or None
    if name is not None and len(str(name)) > 255:
        raise _record_invalid("Name is too long (maximum is 255 characters)", "name")
    if phone is not None and not E164.match(str(phone)):
        raise _record_invalid("Phone number should be in e164 format", "phone_number")
    if email is not None and not _EMAIL.match(email):
        raise _record_invalid("Email Invalid email", "email")
    if phone is not None and phone in account._by_phone:
        raise _record_invalid("Phone number has already been taken", "phone_number")
    if email is not None and email in account._by_email:
        raise _record_invalid("Email has already been taken", "email")
    if identifier is not None and identifier in account._by_identifier:
        raise _record_invalid("Identifier has already been taken", "identifier")
    inbox = None
    if params.get("inbox_id") not in (None, ""):
        inbox = account._inboxes.get(_int_or_none(str(params["inbox_id"])) or -1)
        if inbox is None:
            raise _not_found()
    contact = account._new_contact(
        name=name, phone_number=phone, email=email, identifier=identifier,
        custom_attributes=params.get("custom_attributes"),
        additional_attributes=params.get("additional_attributes"),
        blocked=params.get("blocked") in (True, "true"),
    )  # fmt: skip
    source_id = None
    if inbox is not None:
        try:
            source_id = account._contact_inbox(contact, inbox.id, params.get("source_id"))
        except FakeError:
            account._unindex(contact, keep_row=False)  # the transaction rolls back
            raise
    return 200, {
        "payload": {
            "contact": _contact_json(account, contact, True),
            "contact_inbox": {
                "inbox": _inbox_json(inbox) if inbox else None,
                "source_id": source_id,
            },
        }
    }


def _contact_labels_index(account: FakeAccount, user: FakeUser, params: dict, raw_id: Any) -> Any:
    return 200, {"payload": list(_find_contact(account, raw_id).labels)}


def _contact_labels_create(account: FakeAccount, user: FakeUser, params: dict, raw_id: Any) -> Any:
    contact = _find_contact(account, raw_id)
    labels = params.get("labels") or []
    contact.labels = _norm_labels(labels if isinstance(labels, list) else [labels])
    account._touch(contact)
    return 200, {"payload": list(contact.labels)}


def _contact_conversations(account: FakeAccount, user: FakeUser, params: dict, raw_id: Any) -> Any:
    contact = _find_contact(account, raw_id)
    mine = [c for c in account._conversations.values() if c.contact_id == contact.id]
    mine.sort(key=lambda c: (c.last_activity_at, c.id), reverse=True)
    return 200, {
        "payload": [_conversation_json(account, c) for c in mine[:CONVERSATIONS_PER_CONTACT]]
    }


def _conversations_create(account: FakeAccount, user: FakeUser, params: dict, _id: Any) -> Any:
    inbox = contact = None
    if params.get("inbox_id") not in (None, ""):
        inbox = account._inboxes.get(_int_or_none(str(params["inbox_id"])) or -1)
        if inbox is None:
            raise _not_found()
    if params.get("contact_id") not in (None, ""):
        contact = _find_contact(account, str(params["contact_id"]))
    status = params.get("status") or "open"
    if status not in CONVERSATION_STATUSES:
        raise FakeError(500, dict(INTERNAL_ERROR))  # ArgumentError from the enum, unrescued
    if inbox is not None and contact is not None:
        source_id = account._contact_inbox(contact, inbox.id, params.get("source_id"))
    else:
        # the old fallback: ContactInbox.find_by!(source_id: params[:source_id])
        wanted = params.get("source_id")
        hit = next(
            ((c, i) for c in account._contacts.values() for i, s in c.contact_inboxes
             if wanted and s == wanted),
            None,
        )  # fmt: skip
        if hit is None:
            raise _not_found()
        contact, inbox_id = hit
        inbox = account._inboxes.get(inbox_id)
        source_id = str(wanted)
        if inbox is None:
            raise _not_found()
    existing = None
    if inbox.lock_to_single_conversation:
        existing = max(
            (c for c in account._conversations.values()
             if c.contact_id == contact.id and c.inbox_id == inbox.id and c.source_id == source_id),
            key=lambda c: c.id, default=None,
        )  # fmt: skip
    conversation = existing or account._new_conversation(
        contact, inbox.id, source_id, status, params.get("labels") or ()
    )
    message = params.get("message")
    if isinstance(message, dict) and message:
        _add_message(account, user, conversation, message)
    return 200, _conversation_json(account, conversation)


def _conversations_show(account: FakeAccount, user: FakeUser, params: dict, raw_id: Any) -> Any:
    return 200, _conversation_json(account, _find_conversation(account, raw_id))


def _messages_create(account: FakeAccount, user: FakeUser, params: dict, raw_id: Any) -> Any:
    conversation = _find_conversation(account, raw_id)
    message = _add_message(account, user, conversation, params)
    return 200, _message_json(account, conversation, message)


def _messages_index(account: FakeAccount, user: FakeUser, params: dict, raw_id: Any) -> Any:
    """MessagesController#index: the latest 20 messages, oldest first (no `before`/`after`)."""
    conversation = _find_conversation(account, raw_id)
    latest = conversation.messages[-20:]
    return 200, {
        "meta": {"labels": list(conversation.labels)},
        "payload": [_message_json(account, conversation, m) for m in latest],
    }


def _add_message(
    account: FakeAccount, user: FakeUser, conversation: FakeConversation, params: Mapping[str, Any]
) -> FakeMessage:
    """Messages::MessageBuilder; its errors become 422 {"error": ...} in the controller."""
    kind = params.get("message_type")
    kind = "outgoing" if kind in (None, "") else kind
    if isinstance(kind, int) or (isinstance(kind, str) and kind.isdigit()):
        number = int(kind)
        if number not in MESSAGE_TYPES.values():
            raise _unprocessable(f"'{kind}' is not a valid message_type")
    elif kind in MESSAGE_TYPES:
        number = MESSAGE_TYPES[kind]
    else:
        raise _unprocessable(f"'{kind}' is not a valid message_type")
    content_type = params.get("content_type") or "text"
    if content_type not in CONTENT_TYPES:
        raise _unprocessable(f"'{content_type}' is not a valid content_type")
    now = account._fake.clock()
    incoming = number == MESSAGE_TYPES["incoming"]
    message = FakeMessage(
        id=next(account._fake._message_ids),
        conversation_id=conversation.id,
        content=params.get("content"),
        message_type=number,
        content_type=content_type,
        private=params.get("private") in (True, "true"),
        content_attributes=dict(params.get("content_attributes") or {}),
        created_at=now,
        sender_type="Contact" if incoming else ("AgentBot" if user.kind == "bot" else "User"),
        sender_id=conversation.contact_id if incoming else user.id,
        source_id=params.get("source_id"),
    )
    conversation.messages.append(message)
    conversation.last_activity_at = now
    if incoming:
        # Message#update_contact_activity and #reopen_conversation
        contact = account._contacts.get(conversation.contact_id)
        if contact is not None:
            contact.last_activity_at = now
            account._touch(contact)
        if conversation.status == "resolved":
            conversation.status = "open"
    return message


def _conversation_labels_index(
    account: FakeAccount, user: FakeUser, params: dict, raw_id: Any
) -> Any:
    return 200, {"payload": list(_find_conversation(account, raw_id).labels)}


def _conversation_labels_create(
    account: FakeAccount, user: FakeUser, params: dict, raw_id: Any
) -> Any:
    conversation = _find_conversation(account, raw_id)
    labels = params.get("labels") or []
    conversation.labels = _norm_labels(labels if isinstance(labels, list) else [labels])
    return 200, {"payload": list(conversation.labels)}


def _inboxes_index(account: FakeAccount, user: FakeUser, params: dict, _id: Any) -> Any:
    return 200, {"payload": [_inbox_json(i, full=True) for i in account._inboxes.values()]}


def _labels_index(account: FakeAccount, user: FakeUser, params: dict, _id: Any) -> Any:
    """LabelsController#index. Chatwoot's labels are made in the account's settings; here every
    tag on a contact or a conversation stands for one (case-insensitive, first spelling)."""
    titles = _norm_labels(
        label
        for row in (*account._contacts.values(), *account._conversations.values())
        for label in row.labels
    )
    payload = [
        {"id": n, "title": t, "description": "", "color": "#1f93ff", "show_on_sidebar": True}
        for n, t in enumerate(sorted(titles, key=str.lower), start=1)
    ]
    return 200, {"payload": payload}


_ACTIONS: dict[str, Callable[[FakeAccount, FakeUser, dict, Any], tuple[int, Any]]] = {
    "contacts#index": _contacts_index,
    "contacts#search": _contacts_search,
    "contacts#filter": _contacts_filter,
    "contacts#show": _contacts_show,
    "contacts#create": _contacts_create,
    "contacts/labels#index": _contact_labels_index,
    "contacts/labels#create": _contact_labels_create,
    "contacts/conversations#index": _contact_conversations,
    "conversations#create": _conversations_create,
    "conversations#show": _conversations_show,
    "messages#create": _messages_create,
    "messages#index": _messages_index,
    "conversations/labels#index": _conversation_labels_index,
    "conversations/labels#create": _conversation_labels_create,
    "inboxes#index": _inboxes_index,
    "labels#index": _labels_index,
}


# -- the filter API --------------------------------------------------------------------------


def _compile_filter(payload: Sequence[Any], today: date) -> Callable[[FakeContact], bool]:
    """Contacts::FilterService: validate like Chatwoot, then build a predicate.

    Conditions chain with each one's `query_operator` (the last one's is ignored), AND
    binding tighter than OR as in the SQL Chatwoot builds. SQL NULL counts as false.
    """
    for cond in payload:
        if not isinstance(cond, dict):
            raise FakeError(500, dict(INTERNAL_ERROR))
        op = cond.get("query_operator")
        if op not in (None, "") and str(op).upper() not in ("AND", "OR"):
            raise _unprocessable('Query operator must be either "AND" or "OR".')
    tests: list[Callable[[FakeContact], bool]] = []
    for cond in payload:
        key = str(cond.get("attribute_key"))
        operator = cond.get("filter_operator")
        values = cond.get("values")
        spec = FILTER_KEYS.get(key)
        if spec is not None and operator not in spec[2]:
            raise _unprocessable(
                f"Invalid operator. The allowed operators for {key} are [{','.join(spec[2])}]."
            )
        if operator not in ("is_present", "is_not_present") and not values:
            raise _unprocessable(f"Invalid value. The values provided for {key} are invalid")
        if spec is None:  # not a standard key and no custom attribute definitions here
            raise _unprocessable(
                f"Invalid attribute key - [{key}]. The key should be one of "
                f"[{','.join(FILTER_KEYS)}] or a custom attribute defined in the account."
            )
        vals = list(values) if isinstance(values, list) else [values]
        tests.append(_condition(key, spec, str(operator), vals, today))
    # split into OR-groups of AND-ed conditions
    groups: list[list[Callable[[FakeContact], bool]]] = [[]]
    for i, cond in enumerate(payload):
        groups[-1].append(tests[i])
        if i < len(payload) - 1 and str(cond.get("query_operator") or "AND").upper() == "OR":
            groups.append([])

    def predicate(c: FakeContact) -> bool:
        return c.resolved and any(all(t(c) for t in group) for group in groups)

    return predicate


def _condition(
    key: str, spec: tuple[str, str, tuple[str, ...]], operator: str, values: list[Any], today: date
) -> Callable[[FakeContact], bool]:
    attribute_type, data_type, _ = spec
    if data_type == "labels":
        wanted = {str(v).strip().lower() for v in values}
        if operator == "equal_to":
            return lambda c: any(x.lower() in wanted for x in c.labels)
        if operator == "not_equal_to":
            return lambda c: not any(x.lower() in wanted for x in c.labels)
        if operator == "is_present":
            return lambda c: bool(c.labels)
        return lambda c: not c.labels
    if data_type == "date":
        if operator == "days_before":
            try:
                limit = today - timedelta(days=int(str(values[0])))
            except ValueError:
                raise FakeError(500, dict(INTERNAL_ERROR)) from None
            operator = "is_less_than"
        else:
            limit = _pg_date(values[0])
        attr = key

        def on_day(c: FakeContact) -> bool:
            stamp = getattr(c, attr)
            if stamp is None:
                return False
            # `(contacts.<key>)::date > 'value'::date`: whole UTC days, strictly
            day = datetime.fromtimestamp(stamp, UTC).date()
            return day > limit if operator == "is_greater_than" else day < limit

        return on_day
    if data_type == "boolean":
        wanted_bool = str(values[0]).lower() in ("true", "t", "1")
        if operator == "equal_to":
            return lambda c: c.blocked is wanted_bool
        return lambda c: c.blocked is not wanted_bool

    def text(c: FakeContact) -> str | None:
        if attribute_type == "additional_attributes":
            raw = c.additional_attributes.get(key)
        else:
            raw = getattr(c, key)
        return None if raw is None else str(raw).lower()

    # Contacts::FilterService#filter_values: the first value; a phone gets exactly one '+'
    first = str(values[0])
    first = "+" + first.replace("+", "") if key == "phone_number" else first.lower()
    needles = [str(v).strip().lower() for v in values]
    if operator == "equal_to":
        return lambda c: text(c) == first
    if operator == "not_equal_to":
        return lambda c: (t := text(c)) is not None and t != first
    if operator == "contains":
        return lambda c: (t := text(c)) is not None and any(n in t for n in needles)
    if operator == "does_not_contain":
        return lambda c: (t := text(c)) is not None and not any(n in t for n in needles)
    return lambda c: (t := text(c)) is not None and t.startswith(first)  # starts_with


def _pg_date(value: Any) -> date:
    """What `'value'::date` accepts of what a client sends; anything else is a 500 there."""
    text = str(value).strip()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise FakeError(500, dict(INTERNAL_ERROR)) from None


# -- JSON views ------------------------------------------------------------------------------


def _inbox_json(inbox: FakeInbox, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": inbox.id,
        "avatar_url": "",
        "channel_id": inbox.id,
        "name": inbox.name,
        "channel_type": inbox.channel_type,
        "provider": None,
    }
    if full:  # api/v1/models/_inbox: an admin also sees the channel's secrets
        data.update(
            greeting_enabled=False,
            greeting_message=None,
            working_hours_enabled=False,
            enable_auto_assignment=True,
            allow_messages_after_resolved=True,
            lock_to_single_conversation=inbox.lock_to_single_conversation,
            phone_number=inbox.phone_number,
        )
        if inbox.channel_type == "Channel::Api":
            data.update(
                hmac_token=inbox.hmac_token, webhook_url="", inbox_identifier=inbox.hmac_token[:8]
            )
    return data


def _contact_json(account: FakeAccount, c: FakeContact, with_inboxes: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "additional_attributes": c.additional_attributes,
        "availability_status": "offline",
        "email": c.email,
        "id": c.id,
        "name": c.name,
        "phone_number": c.phone_number,
        "blocked": c.blocked,
        "identifier": c.identifier,
        "thumbnail": "",
        "custom_attributes": c.custom_attributes,
    }
    if c.last_activity_at is not None:
        data["last_activity_at"] = int(c.last_activity_at)
    data["created_at"] = int(c.created_at)
    if with_inboxes:
        data["contact_inboxes"] = [
            {
                "source_id": source_id,
                "inbox": _inbox_json(account._inboxes[inbox_id])
                if inbox_id in account._inboxes
                else None,
            }
            for inbox_id, source_id in c.contact_inboxes
        ]
    return data


def _message_push_data(account: FakeAccount, conv: FakeConversation, m: FakeMessage) -> dict:
    return {
        "id": m.id,
        "content": m.content,
        "account_id": account.id,
        "inbox_id": conv.inbox_id,
        "conversation_id": conv.id,
        "message_type": m.message_type,
        "created_at": int(m.created_at),
        "updated_at": m.created_at,
        "private": m.private,
        "status": m.status,
        "source_id": m.source_id,
        "content_type": m.content_type,
        "content_attributes": m.content_attributes,
        "sender_type": m.sender_type,
        "sender_id": m.sender_id,
    }


def _message_json(account: FakeAccount, conv: FakeConversation, m: FakeMessage) -> dict:
    sender: dict[str, Any] | None
    if m.sender_type == "Contact":
        contact = account._contacts.get(conv.contact_id)
        sender = _contact_json(account, contact, False) if contact else None
        if sender is not None:
            sender["type"] = "contact"
    else:
        sender = {"id": m.sender_id, "name": "Agent", "type": m.sender_type.lower()}
    return {
        "id": m.id,
        "content": m.content,
        "inbox_id": conv.inbox_id,
        "conversation_id": conv.id,
        "message_type": m.message_type,  # message_type_before_type_cast: the integer
        "content_type": m.content_type,
        "status": m.status,
        "content_attributes": m.content_attributes,
        "created_at": int(m.created_at),
        "private": m.private,
        "source_id": m.source_id,
        "sender": sender,
    }


def _conversation_json(account: FakeAccount, conv: FakeConversation) -> dict[str, Any]:
    contact = account._contacts.get(conv.contact_id)
    inbox = account._inboxes.get(conv.inbox_id)
    last = conv.messages[-1] if conv.messages else None
    return {
        "meta": {
            "sender": _contact_json(account, contact, False) if contact else None,
            "channel": inbox.channel_type if inbox else None,
            "hmac_verified": False,
        },
        "id": conv.id,
        "messages": [_message_push_data(account, conv, last)] if last else [],
        "account_id": account.id,
        "uuid": conv.uuid,
        "additional_attributes": conv.additional_attributes,
        "agent_last_seen_at": 0,
        "assignee_last_seen_at": 0,
        "can_reply": True,
        "contact_last_seen_at": 0,
        "custom_attributes": conv.custom_attributes,
        "inbox_id": conv.inbox_id,
        "labels": list(conv.labels),
        "muted": False,
        "snoozed_until": None,
        "status": conv.status,
        "created_at": int(conv.created_at),
        "timestamp": int(conv.last_activity_at),
        "first_reply_created_at": 0,
        "unread_count": 0,
        "last_activity_at": int(conv.last_activity_at),
        "priority": None,
        "waiting_since": 0,
        "sla_policy_id": None,
    }


def _account_json(account: FakeAccount) -> dict[str, Any]:
    return {
        "auto_resolve_duration": None,
        "created_at": "2025-01-01T00:00:00.000Z",
        "custom_attributes": {},
        "domain": None,
        "features": {},
        "id": account.id,
        "locale": "en",
        "name": account.name,
        "support_email": None,
        "status": "active",
        "latest_chatwoot_version": "4.10.0",
    }


def _profile_json(fake: FakeChatwoot, user: FakeUser) -> dict[str, Any]:
    with fake._lock:
        accounts = [fake._accounts[i] for i in sorted(user.account_ids) if i in fake._accounts]
    return {
        "access_token": user.token,  # yes: the profile carries the caller's own token
        "account_id": accounts[0].id if accounts else None,
        "available_name": user.name,
        "email": user.email,
        "id": user.id,
        "name": user.name,
        "role": "administrator",
        "type": "User",
        "accounts": [
            {"id": a.id, "name": a.name, "status": "active", "role": "administrator"}
            for a in accounts
        ],
    }


@pytest.fixture
def fake_chatwoot() -> Iterator[FakeChatwoot]:
    """A started fake Chatwoot server, stopped after the test."""
    with FakeChatwoot() as fake:
        yield fake


__all__ = [
    "FILTER_KEYS",
    "MESSAGE_TYPES",
    "PAGE_SIZE",
    "ROUTES",
    "SORTS",
    "FakeAccount",
    "FakeChatwoot",
    "FakeContact",
    "FakeConversation",
    "FakeInbox",
    "FakeMessage",
    "FakeUser",
    "Fault",
    "FaultRule",
    "Received",
    "fake_chatwoot",
]
