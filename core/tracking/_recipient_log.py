"""A campaign's per-recipient log: one page of it for the screen and the API, all of it to export."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from core.campaigns import variant_letter
from core.models import CampaignRecipient, SenderInstance, TrackedLink
from core.people import Actor
from core.tracking._campaign_stats import owned_campaign
from core.tracking._sql_time import zone_of


@dataclass(frozen=True)
class RecipientRow:
    id: int
    phone: str
    name: str | None
    status: str
    attempts: int
    error_kind: str | None
    last_error: str | None
    http_status: int | None
    instance: str | None
    last_attempt_at: datetime | None
    sent_at: datetime | None
    delivered_at: datetime | None
    read_at: datetime | None
    replied_at: datetime | None
    failed_at: datetime | None
    clicked_at: datetime | None
    clicks: int  # on all its tracked links (0: none, or the campaign tracks none)
    variant: int | None = None  # index into the campaign's variants (A=0); None: none or held out
    rendered_text: str = ""  # exactly what was (or will be) sent; last: the export leaves it out


EXPORT_HEADERS = [
    "phone",
    "name",
    "status",
    "attempts",
    "error_kind",
    "last_error",
    "http_status",
    "instance",
    "last_attempt_at",
    "sent_at",
    "delivered_at",
    "read_at",
    "replied_at",
    "failed_at",
    "clicked_at",
    "clicks",
    "variant",  # A, B, ...; empty for a campaign without variants and for the held-out
]


def _log_query(campaign_id: int, statuses: Sequence[str] | None, search: str | None) -> Select[Any]:
    """The columns of RecipientRow, in its order; the instance's name and the clicks joined, not
    loaded per row."""
    clicks = (
        select(TrackedLink.recipient_id, func.sum(TrackedLink.clicks).label("clicks"))
        .where(TrackedLink.campaign_id == campaign_id, TrackedLink.clicks > 0)
        .group_by(TrackedLink.recipient_id)
        .subquery()
    )
    query = (
        select(
            CampaignRecipient.id,
            CampaignRecipient.phone,
            CampaignRecipient.name,
            CampaignRecipient.status,
            CampaignRecipient.attempts,
            CampaignRecipient.error_kind,
            CampaignRecipient.last_error,
            CampaignRecipient.http_status,
            SenderInstance.name,
            CampaignRecipient.last_attempt_at,
            CampaignRecipient.sent_at,
            CampaignRecipient.delivered_at,
            CampaignRecipient.read_at,
            CampaignRecipient.replied_at,
            CampaignRecipient.failed_at,
            CampaignRecipient.clicked_at,
            func.coalesce(clicks.c.clicks, 0),
            CampaignRecipient.variant,
            CampaignRecipient.rendered_text,
        )
        .outerjoin(SenderInstance, SenderInstance.id == CampaignRecipient.instance_id)
        .outerjoin(clicks, clicks.c.recipient_id == CampaignRecipient.id)
        .where(CampaignRecipient.campaign_id == campaign_id, CampaignRecipient.is_test.is_(False))
    )
    if statuses:
        query = query.where(CampaignRecipient.status.in_(list(statuses)))
    if search:
        pattern = f"%{search.strip()}%"
        query = query.where(
            CampaignRecipient.phone.like(pattern) | CampaignRecipient.name.ilike(pattern)
        )
    return query


def recipient_log(
    session: Session,
    actor: Actor,
    campaign_id: int,
    statuses: Sequence[str] | None = None,
    page: int = 1,
    per_page: int = 50,
    search: str | None = None,
) -> tuple[list[RecipientRow], int]:
    """One page of the recipients (in the order they were frozen), and how many match."""
    owned_campaign(session, actor, campaign_id)
    query = _log_query(campaign_id, statuses, search)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = max(1, page)
    rows = session.execute(
        query.order_by(CampaignRecipient.id).limit(per_page).offset((page - 1) * per_page)
    )
    return [RecipientRow(*row) for row in rows], total


def recipient_export_rows(
    session: Session, actor: Actor, campaign_id: int, statuses: Sequence[str] | None = None
) -> Iterator[list[Any]]:
    """Every matching recipient as a row of EXPORT_HEADERS, times in the account's timezone."""
    campaign = owned_campaign(session, actor, campaign_id)
    zone = zone_of(session, campaign.account_id)
    query = _log_query(campaign_id, statuses, None).order_by(CampaignRecipient.id)
    # Streamed: a campaign may have 100,000 recipients, and spreadsheets want naive local times.
    for row in session.execute(query.execution_options(yield_per=2000)):
        *values, variant = astuple(RecipientRow(*row))[1:-1]  # EXPORT_HEADERS: no id, no text
        yield [
            *(
                value.astimezone(zone).replace(tzinfo=None)
                if isinstance(value, datetime)
                else value
                for value in values
            ),
            variant_letter(variant) if variant is not None else None,
        ]
