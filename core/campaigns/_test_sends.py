"""Test sends: the rendered message to a few staff numbers, through the campaign's numbers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.base import Conflict, ValidationError, utcnow
from core.campaigns import _audience as audience
from core.campaigns import _templates as message_template
from core.campaigns._queries import get, load_account
from core.campaigns._statuses import TEST_SEND_STATUSES
from core.i18n import Term
from core.models import (
    CampaignRecipient,
    Contact,
    RecipientStatus,
)
from core.people import Actor, record_audit, require

MAX_TEST_PHONES = 5


def send_test(
    session: Session,
    actor: Actor,
    campaign_id: int,
    phones: Sequence[str],
    now: datetime | None = None,
) -> list[CampaignRecipient]:
    """Queue the rendered message (with its media) to a few staff numbers, marked as a test.

    The worker sends them through the campaign's numbers under the same pacing; tests never
    count in the campaign's statistics. A staff number that is a contact is rendered with its
    own data, any other with the first contact of the audience (to show real values).
    """
    from core.contacts import normalize_phone  # the contacts area's module

    require(actor, "campaigns.test_send")
    campaign = get(session, actor, campaign_id)
    account = load_account(session, actor.account_id)
    if campaign.status not in TEST_SEND_STATUSES:
        raise Conflict("a {status} campaign cannot send tests", status=Term(campaign.status))
    if not campaign.instances:
        raise ValidationError("choose at least one WhatsApp number to send through", "instance_ids")
    cleaned = [p for p in (phones or []) if p and p.strip()]
    if not cleaned:
        raise ValidationError("give at least one phone number for the test", "test_phones")
    if len(cleaned) > MAX_TEST_PHONES:
        raise ValidationError(
            "a test goes to at most {count} numbers", "test_phones", count=MAX_TEST_PHONES
        )
    numbers = []
    for raw in cleaned:
        try:
            numbers.append(normalize_phone(raw, account.default_country))
        except ValidationError as error:
            raise ValidationError(
                "{phone}: {problem}",
                "test_phones",
                phone=raw,
                problem=error.entry(),
            ) from None
    example: dict[str, Any] = {}
    try:
        sample = audience.preview_for_account(
            session, account.id, campaign.audience, sample=1
        ).sample
        example = sample[0] if sample else {}
    except ValidationError:
        pass
    queued = []
    for number in dict.fromkeys(numbers):
        contact = session.scalar(
            select(Contact).where(Contact.account_id == account.id, Contact.phone == number)
        )
        source = contact if contact is not None else example
        recipient = CampaignRecipient(
            campaign_id=campaign.id,
            contact_id=None,  # keeps the (campaign, contact) uniqueness for the real send
            is_test=True,
            phone=number,
            name=contact.name if contact is not None else None,
            rendered_text=message_template.render_message(
                campaign.message or "", source, campaign.id
            ),
            status=RecipientStatus.PENDING,
            created_at=now or utcnow(),
        )
        session.add(recipient)
        queued.append(recipient)
    session.flush()
    record_audit(
        session, actor, "campaign.test_send", "campaign", campaign.id, {"phones": list(numbers)}
    )
    return queued
