"""A campaign's recipients as a whole: frozen from the audience at start, skipped, re-queued."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, false, func, insert, literal_column, select, update
from sqlalchemy.orm import Session

from core import contacts
from core.base import ValidationError, get_settings, stored_text
from core.campaigns import _audience as audience
from core.campaigns import _links as links
from core.campaigns import _templates as message_template
from core.campaigns import _variants as variants
from core.campaigns._recipient_zones import recipient_zone
from core.models import (
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Contact,
    RecipientStatus,
    TrackedLink,
)
from core.people import Actor

RETRYABLE = (RecipientStatus.FAILED, RecipientStatus.UNKNOWN)
NEVER_RETRIED_KINDS = ("not_on_whatsapp",)
# Failures an automatic retry may send again: every attempt met a 429, a 5xx or a connection
# that never went through, so nothing went out. Never `unknown`, `rejected` or `not_on_whatsapp`.
TRANSIENT_KINDS = ("retries_exhausted",)
# Campaigns whose queue a contact who opts out leaves (a finished one has no queue left).
UNFINISHED = (CampaignStatus.PENDING, CampaignStatus.RUNNING, CampaignStatus.PAUSED)
_NO_SYNC = {"synchronize_session": False}
QUEUED = (RecipientStatus.PENDING, RecipientStatus.AWAITING_WINNER)


def _retryable(campaign_id: int) -> list[Any]:
    """Staff's "retry failed": failed and unknown recipients, but for numbers not on WhatsApp."""
    return [
        *_not_opted_out(campaign_id),
        CampaignRecipient.status.in_(RETRYABLE),
        CampaignRecipient.error_kind.is_(None)
        | CampaignRecipient.error_kind.not_in(NEVER_RETRIED_KINDS),
    ]


def _transient(campaign_id: int) -> list[Any]:
    """An automatic retry's: failed for a temporary reason only."""
    return [
        *_not_opted_out(campaign_id),
        CampaignRecipient.status == RecipientStatus.FAILED,
        CampaignRecipient.error_kind.in_(TRANSIENT_KINDS),
    ]


def _not_opted_out(campaign_id: int) -> list[Any]:
    opted_out = select(Contact.id).where(Contact.opted_out_at.is_not(None))
    return [
        CampaignRecipient.campaign_id == campaign_id,
        CampaignRecipient.is_test.is_(False),
        CampaignRecipient.contact_id.is_(None) | CampaignRecipient.contact_id.not_in(opted_out),
    ]


def freeze_recipients(session: Session, campaign: Campaign) -> int:
    """Resolve the audience once and insert one recipient per contact, its variant assigned and
    its text rendered (`_variants`: held-out and A/B-waiting rows get no text yet)."""
    contacts = audience.resolve_audience(session, campaign.account_id, campaign.audience)
    fills = [
        message_template.campaign_renderer(text, campaign.id)
        for text, _media in variants.variant_messages(campaign)
    ]
    plan = variants.plan_of(campaign)
    experiment = bool(campaign.variants) or bool(plan.holdout_share)
    if campaign.deliver_in_recipient_timezone:
        account_zone = session.scalar(
            select(Account.timezone).where(Account.id == campaign.account_id)
        )

        def zone_of(phone: str, attributes: Any) -> str | None:
            return recipient_zone(phone, attributes, account_zone or "UTC")
    else:

        def zone_of(phone: str, attributes: Any) -> str | None:
            return None

    rows = []
    for contact_id, phone, name, attributes in zip(
        contacts["id"].tolist(),
        contacts["phone"].tolist(),
        contacts["name"].tolist(),
        contacts["custom_attributes"].tolist(),
        strict=True,
    ):
        key = contact_id or phone
        status, variant, text = RecipientStatus.PENDING.value, None, None
        if experiment:
            assigned = plan.assign(campaign.id, key)
            variant = assigned.variant
            if assigned.held_out:
                status, text = RecipientStatus.HELD_OUT.value, ""
            elif assigned.awaiting_winner:
                status, text = RecipientStatus.AWAITING_WINNER.value, ""
        if text is None:
            text = fills[variant or 0](key, name, phone, attributes)
        rows.append(
            {
                "contact_id": contact_id,
                "phone": phone,
                "name": name,
                "rendered_text": text,
                "timezone": zone_of(phone, attributes),
                "status": status,
                "variant": variant,
            }
        )
    if rows:
        # Constant columns are SQL literals, not per-row parameters: with 100k rows the per-row
        # bind processing (datetimes above all) would cost about as much as the insert itself.
        statement = insert(CampaignRecipient.__table__).values(
            campaign_id=literal_column(str(int(campaign.id))),
            attempts=literal_column("0"),
            is_test=false(),
            created_at=func.current_timestamp(),
        )
        session.execute(statement, rows)
        if campaign.track_links:
            track_links_of(session, campaign, rows)
    return len(rows)


def track_links_of(session: Session, campaign: Campaign, rows: list[dict[str, Any]]) -> None:
    """Give each recipient's links their own short links (after the insert: they need its id).
    `rows`: the recipients' rendered_text, and their recipient_id or else contact_id."""
    public_api_url = get_settings().public_api_url
    assert public_api_url, "freeze_or_say_why checks PUBLIC_API_URL first"
    ids = dict(
        session.execute(
            select(CampaignRecipient.contact_id, CampaignRecipient.id).where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.is_test.is_(False),
            )
        ).all()
    )
    texts: list[dict[str, Any]] = []
    tracked: list[dict[str, Any]] = []
    for row in rows:
        text, rewritten = links.rewrite_links(row["rendered_text"], public_api_url)
        if not rewritten:
            continue
        recipient_id = row["recipient_id"] if "recipient_id" in row else ids[row["contact_id"]]
        texts.append({"p_id": recipient_id, "p_text": text})
        tracked.extend(
            {"code": link.code, "url": link.url, "recipient_id": recipient_id} for link in rewritten
        )
    if not tracked:
        return
    session.execute(
        update(CampaignRecipient.__table__)
        .where(CampaignRecipient.__table__.c.id == bindparam("p_id"))
        .values(rendered_text=bindparam("p_text")),
        texts,
    )
    session.execute(
        insert(TrackedLink.__table__).values(campaign_id=literal_column(str(int(campaign.id)))),
        tracked,
    )


def freeze_or_say_why(session: Session, campaign: Campaign) -> tuple[int, dict[str, Any] | None]:
    """Freeze the recipients of a campaign that starts: how many, or why it cannot run at all
    (no number, an audience that is not valid or reaches nobody) as a stored message."""
    if not campaign.instances:
        return 0, stored_text.text(stored_text.NO_NUMBER)
    if campaign.track_links and not get_settings().public_api_url:
        return 0, stored_text.text(stored_text.NO_PUBLIC_URL)
    try:
        frozen = freeze_recipients(session, campaign)
    except ValidationError as error:
        return 0, stored_text.text(
            stored_text.INVALID_AUDIENCE, error=stored_text.error_text(error)
        )
    if frozen == 0:
        return 0, stored_text.text(stored_text.EMPTY_AUDIENCE)
    return frozen, None


def skip_pending(session: Session, reason: str, *where: Any) -> tuple[list[int], int]:
    """Queued recipients matching `where` (pending, or waiting for an A/B winner) become
    `skipped` with `reason` (an English sentence of stored_text). Only those: a recipient
    already claimed is on its way and cannot be recalled. Returns the campaign ids touched and how many were skipped."""
    condition = (CampaignRecipient.status.in_(QUEUED), *where)
    campaign_ids = sorted(
        set(session.scalars(select(CampaignRecipient.campaign_id).where(*condition)))
    )
    if not campaign_ids:
        return [], 0
    skipped = session.execute(
        update(CampaignRecipient)
        .where(*condition)
        .values(status=RecipientStatus.SKIPPED, last_error=reason),
        execution_options=_NO_SYNC,
    ).rowcount
    return campaign_ids, skipped


def skip_campaign_queue(session: Session, campaign_id: int, reason: str) -> int:
    """A cancelled campaign's queue (its test sends still go out)."""
    _touched, skipped = skip_pending(
        session,
        reason,
        CampaignRecipient.campaign_id == campaign_id,
        CampaignRecipient.is_test.is_(False),
    )
    return skipped


def skip_opted_out(session: Session, account_id: int, contact_id: int) -> tuple[list[int], int]:
    """Take a contact who opted out of the queues of the account's unfinished campaigns.
    Returns the campaign ids touched and how many recipients were skipped."""
    unfinished = select(Campaign.id).where(
        Campaign.account_id == account_id, Campaign.status.in_(UNFINISHED)
    )
    return skip_pending(
        session,
        stored_text.CONTACT_OPTED_OUT,
        CampaignRecipient.contact_id == contact_id,
        CampaignRecipient.campaign_id.in_(unfinished),
    )


def count_retryable(session: Session, campaign_id: int) -> int:
    return _count(session, _retryable(campaign_id))


def count_transient(session: Session, campaign_id: int) -> int:
    return _count(session, _transient(campaign_id))


def _count(session: Session, where: list[Any]) -> int:
    return session.scalar(select(func.count()).select_from(CampaignRecipient).where(*where)) or 0


def requeue_retryable(session: Session, campaign_id: int) -> int:
    """Failed and unknown recipients back to `pending` as if never tried. Numbers known not to be
    on WhatsApp and contacts who opted out since are left alone."""
    return _requeue(session, _retryable(campaign_id))


def requeue_transient(session: Session, campaign_id: int) -> int:
    """The recipients that failed for a temporary reason back to `pending` as if never tried."""
    return _requeue(session, _transient(campaign_id))


def _requeue(session: Session, where: list[Any]) -> int:
    return session.execute(
        update(CampaignRecipient)
        .where(*where)
        .values(
            status=RecipientStatus.PENDING,
            attempts=0,
            next_attempt_at=None,
            last_error=None,
            error_kind=None,
            http_status=None,
            claimed_by=None,
            claimed_at=None,
            failed_at=None,
        ),
        execution_options=_NO_SYNC,
    ).rowcount


def set_opted_out(session: Session, actor: Actor, contact_id: int, opted_out: bool) -> Contact:
    """Staff opt a contact out (or back in): an opt-out also takes the contact out of the queues
    of unfinished campaigns, as a STOP reply does — frozen before, they would still send."""
    contact = contacts.set_opted_out(session, actor, contact_id, opted_out)
    if opted_out:
        skip_opted_out(session, actor.account_id, contact_id)
    return contact
