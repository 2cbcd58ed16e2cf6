"""The worker's side of the contact sync: every account whose sync is due, one after another.

Runs in its own scheduler job and thread with its own HTTP client, so a slow Chatwoot never
holds up a send. Two workers may both look: the sync's own compare-and-set lets one run.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from core.base import Conflict, NotFound, utcnow
from core.crm._connection import ClientFactory, default_client
from core.crm._sync import sync_contacts
from core.models import ChatwootLink
from core.people import Actor

log = logging.getLogger("core.crm")


def run_due_syncs(
    engine: Engine, *, now: datetime | None = None, client_factory: ClientFactory = default_client
) -> int:
    """Sync each account whose `next_sync_at` has come (a schedule of 0 minutes never is).
    Returns how many syncs ran to the end."""
    now = now or utcnow()
    with Session(engine) as session:
        due = list(
            session.scalars(
                select(ChatwootLink.account_id).where(
                    ChatwootLink.sync_every_minutes > 0,
                    ChatwootLink.next_sync_at.is_not(None),
                    ChatwootLink.next_sync_at <= now,
                    ChatwootLink.sync_started_at.is_(None),
                )
            )
        )
    done = 0
    for account_id in due:
        with Session(engine, expire_on_commit=False) as session:
            try:
                sync_contacts(
                    session, Actor.system(account_id, "worker"), now=now,
                    client_factory=client_factory,
                )  # fmt: skip
                done += 1
            except (Conflict, NotFound) as error:
                # Already running elsewhere, disconnected meanwhile, or Chatwoot failed (the
                # link's last_error says so and the next run is scheduled anyway).
                log.info("Chatwoot sync of account %s skipped: %s", account_id, error)
    return done
