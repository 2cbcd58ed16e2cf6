"""CRM: an account's link to its Chatwoot. It owns the connection (URL, Chatwoot account id,
the access token encrypted and write-only, "test connection" with the account's name and
inboxes) and the contact sync that pulls Chatwoot's contacts into ours (full, then
incremental; labels kept in step; deleted contacts unlinked), run by the worker on a
schedule, by staff ("Sync now", the API) and by the CLI; and the mirror that copies sent
campaign messages into the numbers' Chatwoot inboxes (an outbox worked by the worker). It talks to Chatwoot only through
`core.chatwoot`, and writes contacts through the rules of `core.contacts`.
"""

from core.crm._connection import (
    TOKEN_MASK,
    ChatwootSettings,
    ClientFactory,
    ConnectionCheck,
    chatwoot_settings,
    connect_chatwoot,
    default_client,
    disconnect_chatwoot,
    test_connection,
)
from core.crm._mirror import MirrorPass, mirror_sent
from core.crm._schedule import run_due_syncs
from core.crm._sync import SyncReport, sync_contacts

__all__ = [
    "TOKEN_MASK",
    "ChatwootSettings",
    "ClientFactory",
    "ConnectionCheck",
    "MirrorPass",
    "SyncReport",
    "chatwoot_settings",
    "connect_chatwoot",
    "default_client",
    "disconnect_chatwoot",
    "mirror_sent",
    "run_due_syncs",
    "sync_contacts",
    "test_connection",
]
