"""Builders for statistics tests: campaigns, instances and recipients inserted as model rows.

They bypass the campaign service on purpose: statistics must follow whatever rows exist.
"""

from __future__ import annotations

from datetime import datetime
from itertools import count
from typing import Any

from sqlalchemy.orm import Session

from core.models import (
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    InstanceSend,
    SenderInstance,
)

_sequence = count(1)


def make_instance(
    session: Session, account: Account, name: str | None = None, **fields: Any
) -> SenderInstance:
    instance = SenderInstance(
        account_id=account.id,
        name=name or f"number-{next(_sequence)}",
        base_url="http://127.0.0.1:9",
        instance_name=name or "inst",
        token_encrypted="not-a-real-token",
        **fields,
    )
    session.add(instance)
    session.flush()
    return instance


def make_campaign(
    session: Session,
    account: Account,
    title: str = "Promo",
    status: str = CampaignStatus.RUNNING,
    instances: list[SenderInstance] = (),  # type: ignore[assignment]
    **fields: Any,
) -> Campaign:
    campaign = Campaign(
        account_id=account.id, title=title, message="Hi {{name}}", status=status, **fields
    )
    campaign.instances = list(instances)
    session.add(campaign)
    session.flush()
    return campaign


def make_recipient(
    session: Session, campaign: Campaign, status: str = "pending", **fields: Any
) -> CampaignRecipient:
    number = next(_sequence)
    fields.setdefault("phone", f"+5511{number:09d}")
    fields.setdefault("name", f"Contact {number}")
    fields.setdefault("rendered_text", "Hi")
    recipient = CampaignRecipient(campaign_id=campaign.id, status=status, **fields)
    session.add(recipient)
    session.flush()
    return recipient


def make_send(session: Session, instance: SenderInstance, at: datetime) -> InstanceSend:
    send = InstanceSend(instance_id=instance.id, sent_at=at)
    session.add(send)
    session.flush()
    return send
