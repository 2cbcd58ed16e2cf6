"""Whether WhatsApp's receipts (delivered, read) can reach us, and whether they do.

Receipts come only through the Evolution webhook. When it is not registered (no PUBLIC_API_URL,
or Evolution refused), or points at a loopback address an Evolution server on another machine
cannot reach, or simply nothing came back well after messages went out, Delivered and Read stay
at 0 and look like nobody read anything. The pages say so, with what to do, instead.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.instances import webhook_url
from core.models import CampaignRecipient, SenderInstance
from core.people import Actor, load_owned, require
from core.tracking._campaign_stats import owned_campaign

# Receipts normally arrive within seconds; after this long with none, something is wrong.
RECEIPT_GRACE = timedelta(minutes=10)
_RECENT = timedelta(days=1)  # the sends an instance's check looks at


class ReceiptTrouble(StrEnum):
    NOT_REGISTERED = "not_registered"  # no webhook: PUBLIC_API_URL unset or registration failed
    LOCAL_ONLY = "local_only"  # the webhook is a loopback address, Evolution is elsewhere
    SILENT = "silent"  # registered, messages sent a while ago, not one receipt back


@dataclass(frozen=True)
class ReceiptWarning:
    trouble: ReceiptTrouble
    instance_id: int
    instance_name: str
    error: str | None  # English, as Evolution or the registration said (NOT_REGISTERED)
    url: str | None  # where the webhook points (or would), from PUBLIC_API_URL


def _is_loopback(url: str | None) -> bool:
    host = (urlsplit(url or "").hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webhook_trouble(instance: SenderInstance) -> ReceiptTrouble | None:
    """What keeps receipts from this instance from arriving, as far as its settings tell."""
    if instance.webhook_registered_at is None or instance.webhook_error:
        return ReceiptTrouble.NOT_REGISTERED
    if _is_loopback(webhook_url(instance)) and not _is_loopback(instance.base_url):
        return ReceiptTrouble.LOCAL_ONLY
    return None


def _silent(session: Session, conditions: list, now: datetime) -> bool:  # type: ignore[type-arg]
    """Messages went out at least RECEIPT_GRACE ago and not one has a receipt."""
    sent, confirmed = session.execute(
        select(
            func.count(CampaignRecipient.id),
            func.count(CampaignRecipient.delivered_at) + func.count(CampaignRecipient.read_at),
        ).where(
            *conditions,
            CampaignRecipient.sent_at.is_not(None),
            CampaignRecipient.sent_at <= now - RECEIPT_GRACE,
        )
    ).one()
    return bool(sent) and not confirmed


def _warning(trouble: ReceiptTrouble, instance: SenderInstance) -> ReceiptWarning:
    return ReceiptWarning(
        trouble, instance.id, instance.name, instance.webhook_error, webhook_url(instance)
    )


def instance_receipt_warning(
    session: Session, actor: Actor, instance_id: int, now: datetime
) -> ReceiptWarning | None:
    require(actor, "instances.read")
    instance = load_owned(session, actor, SenderInstance, instance_id, "WhatsApp number")
    trouble = webhook_trouble(instance)
    if trouble is None and _silent(
        session,
        [
            CampaignRecipient.instance_id == instance.id,
            CampaignRecipient.sent_at >= now - _RECENT,
        ],
        now,
    ):
        trouble = ReceiptTrouble.SILENT
    if trouble is None:
        return None
    return _warning(trouble, instance)


def campaign_receipt_warnings(
    session: Session, actor: Actor, campaign_id: int, now: datetime
) -> list[ReceiptWarning]:
    """One warning per number of the campaign whose receipts cannot or do not arrive."""
    campaign = owned_campaign(session, actor, campaign_id)
    warnings = []
    for instance in campaign.instances:
        trouble = webhook_trouble(instance)
        if trouble is None and _silent(
            session,
            [
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.instance_id == instance.id,
            ],
            now,
        ):
            trouble = ReceiptTrouble.SILENT
        if trouble is not None:
            warnings.append(_warning(trouble, instance))
    return warnings
