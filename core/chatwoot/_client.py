"""The Chatwoot Application API client: one object per (server, account, token).

What the server does that shapes this code (from Chatwoot's source, see
../shared/chatwoot-api.md):

- Lists come 15 a page with OFFSET paging and rows move while we read. We page by
  `sort=created_at` (a row never changes its place; new rows come at the end) and
  de-duplicate by id. A delete ahead of our offset can still shift one unseen row into a page
  already read: a listing is never proof that a contact is gone; `get_contact` (404) is.
- The only "changed since" the API offers is `POST /contacts/filter` on `last_activity_at`
  or `created_at`, compared as whole UTC days (`::date > 'YYYY-MM-DD'`). There is no
  `updated_at` filter: an agent editing a name, number or labels is not visible that way.
- HTTP, the 429 backoff and the errors are `_transport.Transport`'s.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from core.chatwoot._errors import ChatwootError, ChatwootNotFoundError, ChatwootRejectedError
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
from core.chatwoot._phones import phone_variants, to_e164
from core.chatwoot._transport import PAGE_SIZE, Transport, _bool, _id, _payload, _unique

DEFAULT_SORT = "created_at"
OPEN_STATUSES = ("open", "pending")  # a conversation still being worked on


class ChatwootClient(Transport):
    """Talks to one Chatwoot account with one access token (a user's, from their profile).

    `timeout` is seconds per request. Pass `http` to share one `httpx.Client` (its pool);
    the token still goes only per request. `transport` is for `httpx.MockTransport`.
    `sleep` and `rng` (a `random.Random`) drive the backoff, injectable for tests.
    """

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

    def list_labels(self) -> list[str]:
        """GET /labels: the titles of the account's labels (what `labels[]` listings take)."""
        titles = []
        for item in self._payload_list(self._call("GET", "/labels")):
            title = item.get("title") if isinstance(item, Mapping) else None
            if isinstance(title, str) and title.strip():
                titles.append(title.strip())
        return titles

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
        source_id: str | None = None,
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
        if source_id is not None:  # our own id for the message: find it again after a crash
            body["source_id"] = source_id
        answer = self._call(
            "POST", f"/conversations/{_id(conversation_id)}/messages", json=body, write=True
        )
        if not isinstance(answer, Mapping):
            raise ChatwootError("unexpected answer for a new message", status=200)
        return parse_message(answer)

    def recent_messages(self, conversation_id: int) -> list[Message]:
        """GET /conversations/{id}/messages: the latest 20, oldest first."""
        answer = self._call("GET", f"/conversations/{_id(conversation_id)}/messages")
        return [parse_message(item) for item in self._payload_list(answer)]

    def set_conversation_labels(self, conversation_id: int, labels: Sequence[str]) -> list[str]:
        """Replace the conversation's labels with `labels`; returns them as stored."""
        answer = self._call(
            "POST",
            f"/conversations/{_id(conversation_id)}/labels",
            json={"labels": list(labels)},
            write=True,
        )
        return [str(x) for x in self._payload_list(answer)]
