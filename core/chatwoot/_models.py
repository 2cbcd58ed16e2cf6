"""Typed views of the Chatwoot JSON we read, and the parsers that build them.

Only fields we use are kept. Raw inbox JSON is never kept: for administrators Chatwoot puts
channel secrets in it (HMAC tokens, IMAP/SMTP passwords, WhatsApp provider config).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Message#message_type; Chatwoot answers with the integer, accepts the name.
MESSAGE_TYPES: Mapping[str, int] = {"incoming": 0, "outgoing": 1, "activity": 2, "template": 3}


@dataclass(frozen=True, slots=True)
class ContactInbox:
    """A contact's identity in one inbox: `source_id` (for WhatsApp inboxes the number)."""

    inbox_id: int
    source_id: str


@dataclass(frozen=True, slots=True)
class Contact:
    id: int
    name: str | None
    phone_number: str | None  # E.164 with '+'
    email: str | None
    identifier: str | None
    custom_attributes: dict[str, Any] = field(default_factory=dict)
    additional_attributes: dict[str, Any] = field(default_factory=dict)
    created_at: int | None = None  # Unix seconds
    last_activity_at: int | None = None  # Unix seconds; None: never active
    blocked: bool = False
    # Empty when listed with include_contact_inboxes=false (the listing default here).
    contact_inboxes: tuple[ContactInbox, ...] = ()

    def source_id_for(self, inbox_id: int) -> str | None:
        for ci in self.contact_inboxes:
            if ci.inbox_id == inbox_id:
                return ci.source_id
        return None


@dataclass(frozen=True, slots=True)
class ContactPage:
    """One page of a contact listing. `count` is meta.count: the total for index and filter
    (at the moment of this page), the size of this page for search."""

    number: int
    count: int | None
    contacts: tuple[Contact, ...]
    has_more: bool | None = None  # search only


@dataclass(frozen=True, slots=True)
class CreatedContact:
    contact: Contact
    source_id: str | None  # of the contact inbox made with it, when an inbox_id was given


@dataclass(frozen=True, slots=True)
class Inbox:
    id: int
    name: str
    channel_type: str  # e.g. "Channel::Api" (Evolution's integration), "Channel::Whatsapp"
    phone_number: str | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int  # the display id every conversation path uses
    inbox_id: int
    status: str  # open | pending | snoozed | resolved
    contact_id: int | None
    labels: tuple[str, ...] = ()
    created_at: int | None = None
    last_activity_at: int | None = None


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    conversation_id: int
    content: str | None
    message_type: int  # see MESSAGE_TYPES
    content_type: str | None
    status: str | None
    private: bool
    created_at: int | None
    source_id: str | None = None

    @property
    def outgoing(self) -> bool:
        return self.message_type == MESSAGE_TYPES["outgoing"]


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    account_id: int
    account_name: str
    inboxes: tuple[Inbox, ...]


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def parse_contact(data: Mapping[str, Any]) -> Contact:
    inboxes = []
    for item in data.get("contact_inboxes") or ():
        inbox = item.get("inbox") if isinstance(item, Mapping) else None
        inbox_id = _int(inbox.get("id")) if isinstance(inbox, Mapping) else None
        source_id = item.get("source_id") if isinstance(item, Mapping) else None
        if inbox_id is not None and isinstance(source_id, str):
            inboxes.append(ContactInbox(inbox_id=inbox_id, source_id=source_id))
    contact_id = _int(data.get("id"))
    if contact_id is None:
        raise ValueError("contact without an id")
    return Contact(
        id=contact_id,
        name=_str(data.get("name")),
        phone_number=_str(data.get("phone_number")),
        email=_str(data.get("email")),
        identifier=_str(data.get("identifier")),
        custom_attributes=_dict(data.get("custom_attributes")),
        additional_attributes=_dict(data.get("additional_attributes")),
        created_at=_int(data.get("created_at")),
        last_activity_at=_int(data.get("last_activity_at")),
        blocked=data.get("blocked") is True,
        contact_inboxes=tuple(inboxes),
    )


def parse_inbox(data: Mapping[str, Any]) -> Inbox:
    inbox_id = _int(data.get("id"))
    if inbox_id is None:
        raise ValueError("inbox without an id")
    return Inbox(
        id=inbox_id,
        name=str(data.get("name") or ""),
        channel_type=str(data.get("channel_type") or ""),
        phone_number=_str(data.get("phone_number")),
    )


def parse_conversation(data: Mapping[str, Any]) -> Conversation:
    conversation_id = _int(data.get("id"))
    if conversation_id is None:
        raise ValueError("conversation without an id")
    sender = (
        (data.get("meta") or {}).get("sender") if isinstance(data.get("meta"), Mapping) else None
    )
    labels = data.get("labels") or ()
    return Conversation(
        id=conversation_id,
        inbox_id=_int(data.get("inbox_id")) or 0,
        status=str(data.get("status") or ""),
        contact_id=_int(sender.get("id")) if isinstance(sender, Mapping) else None,
        labels=tuple(str(x) for x in labels if isinstance(x, str)),
        created_at=_int(data.get("created_at")),
        last_activity_at=_int(data.get("last_activity_at", data.get("timestamp"))),
    )


def parse_message(data: Mapping[str, Any]) -> Message:
    message_id = _int(data.get("id"))
    if message_id is None:
        raise ValueError("message without an id")
    raw_type = data.get("message_type")
    # The integer is what Chatwoot sends; accept the name too rather than misread it.
    message_type = MESSAGE_TYPES.get(raw_type, -1) if isinstance(raw_type, str) else _int(raw_type)
    return Message(
        id=message_id,
        conversation_id=_int(data.get("conversation_id")) or 0,
        content=data.get("content") if isinstance(data.get("content"), str) else None,
        message_type=-1 if message_type is None else message_type,
        content_type=_str(data.get("content_type")),
        status=_str(data.get("status")),
        private=data.get("private") is True,
        created_at=_int(data.get("created_at")),
        source_id=_str(data.get("source_id")),
    )
