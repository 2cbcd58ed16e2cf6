"""Notifications to staff: in the app, and to the account's webhook URL when one is set."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.models import Account, Notification


def notify(
    session: Session,
    account_id: int,
    kind: str,
    title: str,
    body: str = "",
    campaign_id: int | None = None,
    instance_id: int | None = None,
) -> Notification:
    """Record a notification in the caller's transaction; webhook delivery happens elsewhere."""
    account = session.get(Account, account_id)
    notification = Notification(
        account_id=account_id,
        kind=kind,
        title=title,
        body=body,
        campaign_id=campaign_id,
        instance_id=instance_id,
        webhook_status="pending" if account and account.notification_webhook_url else "none",
    )
    session.add(notification)
    session.flush()
    return notification
