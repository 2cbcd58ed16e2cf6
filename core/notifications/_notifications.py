"""Notifications to staff: in the app, and to the account's webhook URL when one is set."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.base import outbound_refusal, retry_delay, stored_text
from core.models import Account, Notification
from core.people import Actor, load_owned, require

log = logging.getLogger(__name__)


def notify(
    session: Session,
    account_id: int,
    kind: str,
    params: Mapping[str, Any],
    body: stored_text.StoredText | None = None,
    campaign_id: int | None = None,
    instance_id: int | None = None,
) -> Notification:
    """Record a notification in the caller's transaction; webhook delivery happens elsewhere.

    The title is the kind's (stored_text.NOTIFICATION_TITLES) filled with `params`; the body is a
    message of core.stored_text. Both are stored in English and as messages (see there).
    """
    title = stored_text.text(stored_text.NOTIFICATION_TITLES[kind], **params)
    account = session.get(Account, account_id)
    notification = Notification(
        account_id=account_id,
        kind=kind,
        title=stored_text.english(title)[:255],
        body=stored_text.english(body) if body else "",
        title_text=title,
        body_text=body or None,
        campaign_id=campaign_id,
        instance_id=instance_id,
        webhook_status="pending" if account and account.notification_webhook_url else "none",
    )
    session.add(notification)
    session.flush()
    return notification


def title_of(notification: Notification) -> str:
    """The title in the reader's language (the stored English for notifications older than that)."""
    return stored_text.localized(notification.title_text, notification.title)


def body_of(notification: Notification) -> str:
    return stored_text.localized(notification.body_text, notification.body)


# --- In the app ---------------------------------------------------------------------------------


def list_notifications(
    session: Session, actor: Actor, page: int = 1, per_page: int = 25, unread_only: bool = False
) -> tuple[list[Notification], int]:
    """Newest first, one page of them, and how many there are."""
    require(actor, "notifications.read")
    query = select(Notification).where(Notification.account_id == actor.account_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(per_page)
        .offset((max(1, page) - 1) * per_page)
    )
    return list(rows), total


def unread_count(session: Session, actor: Actor) -> int:
    require(actor, "notifications.read")
    return (
        session.scalar(
            select(func.count()).where(
                Notification.account_id == actor.account_id, Notification.read_at.is_(None)
            )
        )
        or 0
    )


def newer_than(session: Session, actor: Actor, after_id: int, limit: int = 5) -> list[Notification]:
    """Notifications that arrived after the one the page saw last (for a toast), oldest first."""
    require(actor, "notifications.read")
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.account_id == actor.account_id, Notification.id > after_id)
            .order_by(Notification.id)
            .limit(limit)
        )
    )


def latest_id(session: Session, actor: Actor) -> int:
    require(actor, "notifications.read")
    return (
        session.scalar(
            select(func.max(Notification.id)).where(Notification.account_id == actor.account_id)
        )
        or 0
    )


def mark_read(session: Session, actor: Actor, notification_id: int, now: datetime) -> Notification:
    require(actor, "notifications.read")
    notification = load_owned(session, actor, Notification, notification_id, "notification")
    if notification.read_at is None:
        notification.read_at = now
        session.flush()
    return notification


def mark_all_read(session: Session, actor: Actor, now: datetime) -> int:
    """Marks every unread notification of the account read; returns how many."""
    require(actor, "notifications.read")
    result = session.execute(
        update(Notification)
        .where(Notification.account_id == actor.account_id, Notification.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- To the account's webhook -------------------------------------------------------------------

WEBHOOK_MAX_ATTEMPTS = 6
WEBHOOK_BACKOFF_BASE = timedelta(seconds=30)
WEBHOOK_BACKOFF_MAX = timedelta(minutes=30)
WEBHOOK_CLAIM = timedelta(minutes=2)  # another worker leaves a claimed notification alone this long
WEBHOOK_BATCH = 20
WEBHOOK_TIMEOUT = httpx.Timeout(5.0, connect=3.0)


@dataclass
class WebhookReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def webhook_payload(notification: Notification, account_name: str) -> dict[str, Any]:
    """JSON for the account's URL; `text` makes it a valid Slack (or Mattermost) message."""
    text = f"*{notification.title}*"
    if notification.body:
        text += f"\n{notification.body}"
    return {
        "text": f"[{account_name}] {text}",
        "id": notification.id,
        "event": notification.kind,
        "title": notification.title,
        "body": notification.body,
        "account": account_name,
        "campaign_id": notification.campaign_id,
        "instance_id": notification.instance_id,
        "created_at": notification.created_at.isoformat(),
    }


def webhook_backoff(attempts: int) -> timedelta:
    """Wait after the `attempts`-th failed POST: 30 s, 1 min, 2 min, … capped at 30 min."""
    return retry_delay(
        max(1, attempts),
        WEBHOOK_BACKOFF_BASE.total_seconds(),
        WEBHOOK_BACKOFF_MAX.total_seconds(),
        jitter=False,
    )


def _due(now: datetime) -> Any:
    return (Notification.webhook_status == "pending") & (
        Notification.webhook_next_attempt_at.is_(None)
        | (Notification.webhook_next_attempt_at <= now)
    )


def _claim(session_factory: Callable[[], Session], now: datetime, limit: int) -> list[int]:
    """Takes up to `limit` due notifications for this worker (compare-and-set, committed)."""
    claimed: list[int] = []
    with session_factory() as session:
        due = session.scalars(
            select(Notification.id).where(_due(now)).order_by(Notification.id).limit(limit)
        ).all()
        for notification_id in due:
            result = session.execute(
                update(Notification)
                .where(Notification.id == notification_id, _due(now))
                .values(webhook_next_attempt_at=now + WEBHOOK_CLAIM)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(notification_id)
        session.commit()
    return claimed


def _post(
    session_factory: Callable[[], Session],
    notification_id: int,
    client: httpx.Client,
    unreachable: set[int],
) -> tuple[bool | None, str]:
    """POSTs one notification: True sent, False failed, None nothing to send any more.

    Accounts in `unreachable` already failed in this run: their notifications are not tried
    again now (they stay claimed, so they come back after WEBHOOK_CLAIM without losing an
    attempt) — one dead URL must not cost a timeout per notification.
    """
    with session_factory() as session:
        notification = session.get(Notification, notification_id)
        account = session.get(Account, notification.account_id) if notification else None
        if notification is None or account is None or not account.notification_webhook_url:
            return None, "no webhook URL"
        if account.id in unreachable:
            return False, "skipped"
        url = account.notification_webhook_url
        payload = webhook_payload(notification, account.name)
    # The URL may itself be a secret (Slack's are): it never goes into a log or an error text.
    if outbound_refusal(url):  # judged again now: its name may resolve elsewhere since saving
        unreachable.add(account.id)
        return False, "address not allowed"
    try:
        response = client.post(url, json=payload, timeout=WEBHOOK_TIMEOUT)
    except httpx.HTTPError as error:
        unreachable.add(account.id)
        return False, type(error).__name__
    if 200 <= response.status_code < 300:
        return True, ""
    unreachable.add(account.id)
    return False, f"HTTP {response.status_code}"


def _record(
    session_factory: Callable[[], Session],
    notification_id: int,
    outcome: bool | None,
    now: datetime,
    report: WebhookReport,
) -> None:
    with session_factory() as session:
        notification = session.get(Notification, notification_id)
        if notification is None:
            return
        if outcome is None:
            notification.webhook_status = "none"
            notification.webhook_next_attempt_at = None
        else:
            notification.webhook_attempts += 1
            if outcome:
                notification.webhook_status = "sent"
                notification.webhook_next_attempt_at = None
                report.sent += 1
            elif notification.webhook_attempts >= WEBHOOK_MAX_ATTEMPTS:
                notification.webhook_status = "failed"
                notification.webhook_next_attempt_at = None
                report.failed += 1
            else:
                notification.webhook_next_attempt_at = now + webhook_backoff(
                    notification.webhook_attempts
                )
                report.retrying += 1
        session.commit()


def deliver_pending_webhooks(
    session_factory: Callable[[], Session],
    now: datetime,
    client: httpx.Client,
    limit: int = WEBHOOK_BATCH,
) -> WebhookReport:
    """POSTs due notifications to their account's webhook URL; a scheduler job calls it.

    `session_factory()` gives a Session usable as a context manager (a `sessionmaker`). No
    transaction is held open during an HTTP call; a notification is claimed first so two workers
    never POST it at once. A failed POST is retried with backoff, at most WEBHOOK_MAX_ATTEMPTS
    times; a worker that dies mid-POST leaves it to be retried after WEBHOOK_CLAIM (at least once).
    """
    report = WebhookReport()
    unreachable: set[int] = set()
    for notification_id in _claim(session_factory, now, limit):
        outcome, reason = _post(session_factory, notification_id, client, unreachable)
        if reason == "skipped":
            report.retrying += 1
            continue
        if outcome is False:
            log.warning(
                "notification webhook failed",
                extra={"notification_id": notification_id, "reason": reason},
            )
        _record(session_factory, notification_id, outcome, now, report)
    return report
