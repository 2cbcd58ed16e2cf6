"""The contact sync (pull): Chatwoot's contacts with a phone become or update ours.

What Chatwoot's API allows shapes the run (see core/chatwoot/_client.py and
../shared/chatwoot-api.md):

- Labels are not in a contact. We read the account's labels (GET /labels) and list each
  label's contacts (`labels[]`): one request per 15 labelled contacts instead of one per
  contact. Those lists also carry the contacts themselves, so every labelled contact is
  refreshed on every run, and a contact whose last label was removed is noticed.
- "Changed since" exists only for `created_at` and `last_activity_at` (the filter API): an
  incremental run reads the contacts created or active since the last run started. An
  agent's edit of a name or a number moves neither, so a full run (every contact, by
  `sort=created_at`) happens first and then every FULL_EVERY.
- Deletions: Chatwoot's contact count (meta.count) lower than the last run's plus the ones
  created since means some went; the run then reads the whole list. A contact missing from
  a listing is unlinked only when GET /contacts/{id} answers 404 (rows move under a pager).
- 429 is backed off inside the client. Any other Chatwoot failure ends the run with
  `last_error` set: what was written stays (each batch commits), the "since" does not move.

A run holds the link's `sync_started_at` (compare-and-set), so the worker and "Sync now"
never run two at once; a run dead for STALE_AFTER is taken over.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import contacts
from core.base import Conflict, utcnow
from core.chatwoot import ChatwootClient, ChatwootError, ChatwootNotFoundError
from core.chatwoot import Contact as ChatwootContact
from core.crm._connection import ClientFactory, client_for, default_client, get_link
from core.crm._sync_writer import SyncWriter, Tally
from core.models import Account, ChatwootLink, Contact, contact_labels
from core.people import Actor, SecretUnreadable, record_audit, require

BATCH = 500
# What `last_error` says (English, as Chatwoot's own errors there are).
CHANGED_MEANWHILE = "the contacts changed during the sync; it will pick up the rest next time"
UNREADABLE_TOKEN = "the stored Chatwoot token cannot be read: save it again"
FULL_EVERY = timedelta(hours=24)
STALE_AFTER = timedelta(hours=2)
# The next run asks from a little before this one started: clocks of two servers differ.
OVERLAP = timedelta(minutes=5)

log = logging.getLogger("core.crm")


@dataclass
class SyncReport:
    mode: str  # "full" | "incremental"
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    unlinked: int = 0
    skipped: int = 0  # contacts without a phone
    errors: list[dict[str, Any]] = field(default_factory=list)
    started_at: str = ""
    finished_at: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sync_contacts(
    session: Session,
    actor: Actor,
    *,
    full: bool = False,
    now: datetime | None = None,
    client_factory: ClientFactory = default_client,
) -> SyncReport:
    """Run one sync of the actor's account now. Commits as it goes (a batch at a time)."""
    require(actor, "contacts.import")
    link = get_link(session, actor)
    started = now or utcnow()
    _claim(session, link, started)
    try:
        with client_for(link, client_factory) as client:
            report = _run(session, link, client, full=full, started=started)
    except ChatwootError as error:
        session.rollback()
        _finish(session, link.id, started, error=error.message)
        log.warning("Chatwoot sync of account %s failed: %s", actor.account_id, error.message)
        raise Conflict("the Chatwoot sync stopped: {error}", error=error.message) from None
    except IntegrityError:
        # Another writer (an import, an edit) took a phone between our look-up and our write:
        # that batch is rolled back whole; the next run sees the other writer's contact.
        session.rollback()
        _finish(session, link.id, started, error=CHANGED_MEANWHILE)
        raise Conflict(
            "the contacts changed during the sync; it will pick up the rest next time"
        ) from None
    except SecretUnreadable:
        session.rollback()
        _finish(session, link.id, started, error=UNREADABLE_TOKEN)
        raise Conflict("the stored Chatwoot token cannot be read: save it again") from None
    except BaseException:
        session.rollback()
        _finish(session, link.id, started, error="the sync stopped unexpectedly")
        raise
    if actor.user_id is not None:  # staff asked for it; the schedule's runs would only be noise
        details = {k: getattr(report, k) for k in ("mode", "created", "updated", "rejected")}
        record_audit(session, actor, "chatwoot.synced", "chatwoot", link.id, details)
        session.commit()
    return report


def _claim(session: Session, link: ChatwootLink, now: datetime) -> None:
    result = session.execute(
        update(ChatwootLink)
        .where(
            ChatwootLink.id == link.id,
            or_(
                ChatwootLink.sync_started_at.is_(None),
                ChatwootLink.sync_started_at < now - STALE_AFTER,
            ),
        )
        .values(sync_started_at=now),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    if not result.rowcount:
        raise Conflict("a Chatwoot sync of this account is already running")


def _finish(
    session: Session,
    link_id: int,
    started: datetime,
    *,
    error: str | None = None,
    report: SyncReport | None = None,
    state: dict[str, Any] | None = None,
) -> None:
    link = session.get(ChatwootLink, link_id, populate_existing=True)
    if link is None:
        return
    link.sync_started_at = None
    link.last_sync_at = utcnow() if report else link.last_sync_at
    link.last_error = error[:500] if error else None
    if report is not None:
        link.last_report = report.as_dict()
    for key, value in (state or {}).items():
        setattr(link, key, value)
    if link.sync_every_minutes:
        link.next_sync_at = started + timedelta(minutes=link.sync_every_minutes)
    session.commit()


def _run(
    session: Session, link: ChatwootLink, client: ChatwootClient, *, full: bool, started: datetime
) -> SyncReport:
    account_id = link.account_id
    country = session.scalar(select(Account.default_country).where(Account.id == account_id))
    since = link.synced_from
    if (
        since is None
        or link.last_full_sync_at is None
        or started - link.last_full_sync_at >= FULL_EVERY
    ):
        full = True
    total = _total(client)
    tally = Tally()
    writer = SyncWriter(session, account_id, country)
    labels_of, labelled = _labels(client)
    seen: set[int] = set()

    def write(batch: list[ChatwootContact]) -> None:
        fresh = [c for c in batch if c.id not in seen]
        seen.update(c.id for c in fresh)
        if fresh and writer.write(fresh, labels_of, tally, utcnow()):
            contacts.bump_contacts_revision(session, account_id)
        session.commit()

    # Every labelled contact, read with its labels.
    for batch in _batches(labelled.values()):
        write(batch)
    if not full:
        assert since is not None
        created = 0
        for batch in _batches(client.iter_contacts_created_since(since)):
            created += len(batch)
            write(batch)
        for batch in _batches(client.iter_contacts_active_since(since)):
            write(batch)
        if link.last_total is not None and total < link.last_total + created:
            full = True  # fewer than expected: some were deleted (or left the list)
    mode = "full" if full else "incremental"
    if full:
        for batch in _batches(client.iter_contacts()):
            write(batch)
    gone = _confirm_missing(session, client, account_id, seen, labelled, full)
    if gone.found:
        write(gone.found)
    if writer.unlink(gone.deleted, tally):
        contacts.bump_contacts_revision(session, account_id)
    session.commit()
    report = SyncReport(
        mode=mode,
        created=tally.created,
        updated=tally.updated,
        unchanged=tally.unchanged,
        rejected=tally.rejected,
        unlinked=tally.unlinked,
        skipped=tally.skipped,
        errors=tally.errors,
        started_at=started.isoformat(),
        finished_at=utcnow().isoformat(),
    )
    state: dict[str, Any] = {"synced_from": started - OVERLAP, "last_total": total}
    if full:
        state["last_full_sync_at"] = started
    _finish(session, link.id, started, report=report, state=state)
    return report


def _total(client: ChatwootClient) -> int:
    first = next(iter(client.iter_contact_pages()), None)
    return first.count or 0 if first is not None else 0


def _labels(client: ChatwootClient) -> tuple[dict[int, list[str]], dict[int, ChatwootContact]]:
    """Chatwoot id → its labels, and every labelled contact, from one listing per label."""
    labels_of: dict[int, list[str]] = {}
    labelled: dict[int, ChatwootContact] = {}
    for title in client.list_labels():
        for contact in client.iter_contacts_with_label(title):
            labels_of.setdefault(contact.id, []).append(title)
            labelled[contact.id] = contact
    return labels_of, labelled


@dataclass
class _Missing:
    found: list[ChatwootContact]  # listed nowhere we looked, but still there
    deleted: list[int]


def _confirm_missing(
    session: Session,
    client: ChatwootClient,
    account_id: int,
    seen: set[int],
    labelled: dict[int, ChatwootContact],
    full: bool,
) -> _Missing:
    """Linked contacts this run did not meet where it should have: after a full listing,
    any; after an incremental one, those that had labels (their last one went, or they did).
    Each is asked for by id: 404 is the only proof of a deletion."""
    query = select(Contact.chatwoot_contact_id).where(
        Contact.account_id == account_id, Contact.chatwoot_contact_id.is_not(None)
    )
    if not full:
        has_labels = select(func.count()).where(contact_labels.c.contact_id == Contact.id)
        query = query.where(has_labels.scalar_subquery() > 0)
    missing = [cid for cid in session.scalars(query) if cid not in seen]
    found: list[ChatwootContact] = []
    deleted: list[int] = []
    for chatwoot_id in missing:
        try:
            found.append(client.get_contact(chatwoot_id, include_contact_inboxes=False))
        except ChatwootNotFoundError:
            deleted.append(chatwoot_id)
    return _Missing(found, deleted)


def _batches(items: Iterable[ChatwootContact]) -> Iterator[list[ChatwootContact]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, BATCH)):
        yield batch
