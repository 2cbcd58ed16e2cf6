"""Chatwoot: an httpx client for the part of Chatwoot's Application API a campaign tool uses.

`ChatwootClient` lists contacts lazily page by page (per label, or changed since a time via
the filter API), reads a contact and its labels (and the account's labels), finds or creates contacts and conversations,
posts outgoing messages and sets conversation labels; `check_connection` gives a settings
page the account's name and inboxes. 429 is retried with backoff; every other failure is a
`ChatwootError` (or a subclass) saying what happened, with the HTTP status and whether it is
transient. The package depends on the standard library and httpx only; the access token
never appears in a repr, an exception or a log line.
"""

from core.chatwoot._client import ChatwootClient
from core.chatwoot._errors import (
    ChatwootAuthError,
    ChatwootError,
    ChatwootNotFoundError,
    ChatwootRejectedError,
)
from core.chatwoot._models import (
    MESSAGE_TYPES,
    ConnectionInfo,
    Contact,
    ContactInbox,
    ContactPage,
    Conversation,
    CreatedContact,
    Inbox,
    Message,
)
from core.chatwoot._phones import phone_variants, to_e164

__all__ = [
    "MESSAGE_TYPES",
    "ChatwootAuthError",
    "ChatwootClient",
    "ChatwootError",
    "ChatwootNotFoundError",
    "ChatwootRejectedError",
    "ConnectionInfo",
    "Contact",
    "ContactInbox",
    "ContactPage",
    "Conversation",
    "CreatedContact",
    "Inbox",
    "Message",
    "phone_variants",
    "to_e164",
]
