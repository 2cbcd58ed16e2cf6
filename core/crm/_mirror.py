"""Campaign messages copied into Chatwoot ("mirror"), for numbers whose mode is `ours`.

An outbox (`chatwoot_mirror`, one row per recipient) filled from the recipients the worker has
sent, and worked through by its own scheduler job: the send path never waits for Chatwoot,
and a Chatwoot outage only delays the copies (retried with backoff; the number's page shows the
last failure). Mode `evolution` (Evolution's own Chatwoot integration copies sends) and `off`
post nothing.

Never posted twice: a row is claimed (state `posting`, with a lease in `next_attempt_at`) and
committed before any request; each message carries our `source_id` (`wac-recipient-<id>`);
and any later attempt first looks for that `source_id` among the conversation's latest
messages, so a POST whose answer was lost (or a worker killed right after it) is found, not
repeated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, exists, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.base import retry_delay, utcnow
from core.chatwoot import ChatwootClient, ChatwootError, ChatwootNotFoundError
from core.crm._connection import ClientFactory, client_for, default_client
from core.models import (
    Campaign,
    CampaignRecipient,
    ChatwootLink,
    ChatwootMirror,
    Contact,
    RecipientStatus,
    SenderInstance,
)
from core.people import SecretUnreadable

BATCH = 100
ENQUEUE_BATCH = 1000
CLAIM = timedelta(minutes=5)  # a claimed row nobody finished is tried again after this
MAX_ATTEMPTS = 10
BACKOFF_BASE = 30.0
BACKOFF_MAX = 3600.0
REACHED = (RecipientStatus.SENT, RecipientStatus.DELIVERED, RecipientStatus.READ)

log = logging.getLogger("core.crm")


def marker(recipient_id: int) -> str:
    return f"wac-recipient-{recipient_id}"


@dataclass
class MirrorPass:
    queued: int = 0
    posted: int = 0
    found: int = 0  # posted before (answer lost, or a crash): found by its source_id
    retried: int = 0
    failed: int = 0


def mirror_sent(
    engine: Engine, *, now: datetime | None = None, client_factory: ClientFactory = default_client
) -> MirrorPass:
    """One pass of the worker's mirror job: queue new sends, then post the due ones."""
    now = now or utcnow()
    result = MirrorPass()
    with Session(engine, expire_on_commit=False) as session:
        result.queued = _enqueue(session, now)
        due = list(
            session.scalars(
                select(ChatwootMirror.recipient_id)
                .where(
                    ChatwootMirror.state.in_(("queued", "posting")),
                    or_(
                        ChatwootMirror.next_attempt_at.is_(None),
                        ChatwootMirror.next_attempt_at <= now,
                    ),
                )
                .order_by(ChatwootMirror.recipient_id)
                .limit(BATCH)
            )
        )
        session.commit()
        clients: dict[int, ChatwootClient | None] = {}
        try:
            for recipient_id in due:
                _mirror_one(session, recipient_id, now, clients, client_factory, result)
        finally:
            for client in clients.values():
                if client is not None:
                    client.close()
    return result


def _enqueue(session: Session, now: datetime) -> int:
    r, i, m = CampaignRecipient, SenderInstance, ChatwootMirror
    source = (
        select(r.id, i.account_id, i.id, literal("queued"), literal(0), literal(now), literal(now))
        .join(i, i.id == r.instance_id)
        .where(
            i.chatwoot_mirror == "ours",
            i.chatwoot_inbox_id.is_not(None),
            i.chatwoot_mirror_since.is_not(None),
            r.sent_at >= i.chatwoot_mirror_since,
            r.is_test.is_(False),
            r.status.in_(list(REACHED)),
            exists().where(ChatwootLink.account_id == i.account_id),
            ~exists().where(m.recipient_id == r.id),
        )
        .limit(ENQUEUE_BATCH)
    )
    columns = ["recipient_id", "account_id", "instance_id", "state", "attempts"]
    statement = insert(m).from_select([*columns, "created_at", "updated_at"], source)
    try:
        # RETURNING: psycopg reports no rowcount for INSERT ... SELECT.
        queued = len(session.execute(statement.returning(m.recipient_id)).all())
        session.commit()
    except IntegrityError:  # another worker queued the same rows first
        session.rollback()
        return 0
    return queued


def _mirror_one(
    session: Session,
    recipient_id: int,
    now: datetime,
    clients: dict[int, ChatwootClient | None],
    client_factory: ClientFactory,
    result: MirrorPass,
) -> None:
    claimed = session.execute(
        update(ChatwootMirror)
        .where(
            ChatwootMirror.recipient_id == recipient_id,
            ChatwootMirror.state.in_(("queued", "posting")),
            or_(ChatwootMirror.next_attempt_at.is_(None), ChatwootMirror.next_attempt_at <= now),
        )
        .values(state="posting", attempts=ChatwootMirror.attempts + 1, next_attempt_at=now + CLAIM),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    if not claimed.rowcount:
        return  # another worker has it
    row = session.get(ChatwootMirror, recipient_id, populate_existing=True)
    recipient = session.get(CampaignRecipient, recipient_id)
    instance = session.get(SenderInstance, row.instance_id) if row else None
    if row is None or recipient is None or instance is None or not instance.chatwoot_inbox_id:
        return
    if row.account_id not in clients:
        link = session.scalar(select(ChatwootLink).where(ChatwootLink.account_id == row.account_id))
        try:
            clients[row.account_id] = client_for(link, client_factory) if link else None
        except SecretUnreadable:
            clients[row.account_id] = None
    client = clients[row.account_id]
    if client is None or instance.chatwoot_mirror != "ours":
        row.state, row.last_error = "failed", "Chatwoot is not connected or mirroring is off"
        session.commit()
        result.failed += 1
        return
    try:
        _post(session, client, row, recipient, instance.chatwoot_inbox_id, result)
    except ChatwootError as error:
        session.rollback()
        _failed_attempt(session, recipient_id, error, now, result)
        return
    instance.chatwoot_mirror_error = None
    session.commit()


def _post(
    session: Session,
    client: ChatwootClient,
    row: ChatwootMirror,
    recipient: CampaignRecipient,
    inbox_id: int,
    result: MirrorPass,
) -> None:
    if row.chatwoot_contact_id is None:
        linked = None
        if recipient.contact_id is not None:
            linked = session.scalar(
                select(Contact.chatwoot_contact_id).where(Contact.id == recipient.contact_id)
            )
        row.chatwoot_contact_id = (
            linked
            or client.find_or_create_contact(
                recipient.phone, name=recipient.name, inbox_id=inbox_id
            ).id
        )
        session.commit()
    if row.chatwoot_conversation_id is None:
        conversation = client.find_or_create_conversation(row.chatwoot_contact_id, inbox_id)
        row.chatwoot_conversation_id = conversation.id
        session.commit()
    source_id = marker(row.recipient_id)
    if row.attempts > 1:  # an earlier attempt may have posted it: look before posting
        for message in client.recent_messages(row.chatwoot_conversation_id):
            if message.source_id == source_id:
                _done(row, message.id)
                result.found += 1
                return
    message = client.post_outgoing_message(
        row.chatwoot_conversation_id, _content(session, recipient), source_id=source_id
    )
    _done(row, message.id)
    result.posted += 1


def _done(row: ChatwootMirror, message_id: int) -> None:
    row.chatwoot_message_id = message_id
    row.state, row.next_attempt_at, row.last_error = "done", None, None


def _content(session: Session, recipient: CampaignRecipient) -> str:
    """The text as sent, and the media's link when the campaign had one."""
    media = session.scalar(select(Campaign.multimedia).where(Campaign.id == recipient.campaign_id))
    url = media.get("url") if isinstance(media, dict) else None
    return f"{recipient.rendered_text}\n{url}" if url else recipient.rendered_text


def _failed_attempt(
    session: Session, recipient_id: int, error: ChatwootError, now: datetime, result: MirrorPass
) -> None:
    row = session.get(ChatwootMirror, recipient_id, populate_existing=True)
    if row is None:
        return
    if isinstance(error, ChatwootNotFoundError):
        # The conversation or contact went away meanwhile: find or make them again.
        row.chatwoot_conversation_id = None
        row.chatwoot_contact_id = None
    row.last_error = error.message[:500]
    if row.attempts >= MAX_ATTEMPTS:
        row.state, row.next_attempt_at = "failed", None
        result.failed += 1
    else:
        # Left `posting` when the POST may have gone through: the next attempt looks first.
        row.state = "posting" if error.may_have_applied else "queued"
        row.next_attempt_at = now + retry_delay(row.attempts, BACKOFF_BASE, BACKOFF_MAX)
        result.retried += 1
    session.execute(
        update(SenderInstance)
        .where(SenderInstance.id == row.instance_id)
        .values(chatwoot_mirror_error=error.message[:500], chatwoot_mirror_error_at=now),
        execution_options={"synchronize_session": False},
    )
    session.commit()
    log.warning("Chatwoot mirror of recipient %s: %s", recipient_id, error.message)
