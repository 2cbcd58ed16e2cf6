"""A contact's message after a campaign reached them: a reply to that campaign, once.

An inbound message counts for the most recent campaign that reached the contact (sent,
delivered or read; test sends left out) when it arrives within the account's reply window
of that send. One reply per recipient: a compare-and-set on `replied_at`, so two webhook
deliveries of the same message (or two messages at once) count it once; later messages
never move it to an older campaign. Opt-out keywords are handled before and never get here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.models import Account, CampaignRecipient, Contact
from core.tracking._status_groups import REACHED_SENT

DEFAULT_REPLY_WINDOW_DAYS = 3


def reply_window(session: Session, account_id: int) -> timedelta:
    days = session.scalar(select(Account.reply_window_days).where(Account.id == account_id))
    return timedelta(days=DEFAULT_REPLY_WINDOW_DAYS if days is None else days)


def record_reply(session: Session, contact: Contact, at: datetime, window: timedelta) -> int | None:
    """Mark the contact's latest reached recipient as replied at `at` when it is within
    `window` of its send and not marked yet; returns its campaign's id when it was marked."""
    latest = session.execute(
        select(CampaignRecipient.id, CampaignRecipient.campaign_id, CampaignRecipient.replied_at)
        .where(
            CampaignRecipient.contact_id == contact.id,
            CampaignRecipient.is_test.is_(False),
            CampaignRecipient.sent_at.is_not(None),
            CampaignRecipient.sent_at <= at,
            CampaignRecipient.status.in_(list(REACHED_SENT)),
        )
        .order_by(CampaignRecipient.sent_at.desc(), CampaignRecipient.id.desc())
        .limit(1)
    ).first()
    if latest is None or latest.replied_at is not None:
        return None
    marked = session.execute(
        update(CampaignRecipient)
        .where(
            CampaignRecipient.id == latest.id,
            CampaignRecipient.replied_at.is_(None),
            CampaignRecipient.sent_at >= at - window,
        )
        .values(replied_at=at),
        execution_options={"synchronize_session": False},
    )
    return latest.campaign_id if marked.rowcount else None
