"""The A/B decision: when it is due, made once, and what it does to the rest of the audience.

**When.** The clock starts when the test share has finished sending: none of its recipients is
still pending or being sent (a retry waiting counts as pending), and it starts at the moment the
last of them went out or failed for good (their latest `sent_at` / `failed_at`). From then on,
`decide_after_minutes` passes before the worker decides (`decide_due`, its periodic
maintenance). Counted from the last send, not the first, every test recipient has had at least
that long to read, reply or click; the moment is read from the rows, so it survives restarts.

**Once.** The decision is a compare-and-set on the campaign (`ab_winner IS NULL`), in the same
transaction as turning the waiting rest (`awaiting_winner`) into `pending` with the winner's
text: two workers, or a worker racing staff's pick, decide it exactly once.

Staff may pick the winner by hand (`pick_winner`) before the time is up. Either way it is
audited and staff are notified. The campaign's status is not touched (the life cycle's).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.base import Conflict, ValidationError, as_utc, stored_text, utcnow
from core.campaigns import _templates as message_template
from core.campaigns._ab_rule import (
    MIN_SENT_PER_VARIANT,
    TIE_POINTS,
    How,
    VariantNumbers,
    choose_winner,
)
from core.campaigns._queries import get
from core.campaigns._recipients import track_links_of
from core.campaigns._variants import variant_letter, variant_messages
from core.models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    RecipientStatus,
)
from core.notifications import notify
from core.people import Actor, record_audit, require

log = logging.getLogger("core.campaigns")

REACHED_SENT = (RecipientStatus.SENT, RecipientStatus.DELIVERED, RecipientStatus.READ)
STILL_SENDING = (RecipientStatus.PENDING, RecipientStatus.SENDING)
DECIDABLE = (CampaignStatus.RUNNING, CampaignStatus.PAUSED)
_NO_SYNC = {"synchronize_session": False}


def _test_rows(campaign_id: int) -> tuple[Any, ...]:
    """The test share, before the decision: the rows that already have a variant."""
    return (
        CampaignRecipient.campaign_id == campaign_id,
        CampaignRecipient.is_test.is_(False),
        CampaignRecipient.variant.is_not(None),
    )


def test_numbers(session: Session, campaign_id: int) -> list[VariantNumbers]:
    """Per variant, the test share's messages that went out and how many were read, replied
    to and clicked (one grouped query)."""
    went_out = CampaignRecipient.status.in_(REACHED_SENT)
    rows = session.execute(
        select(
            CampaignRecipient.variant,
            func.count(),
            func.count(CampaignRecipient.read_at),
            func.count(CampaignRecipient.replied_at),
            func.count(CampaignRecipient.clicked_at),
        )
        .where(*_test_rows(campaign_id), went_out)
        .group_by(CampaignRecipient.variant)
    ).all()
    return [VariantNumbers(int(v), int(s), int(r), int(re), int(c)) for v, s, r, re, c in rows]


def test_finished_at(session: Session, campaign: Campaign) -> datetime | None:
    """When the test share finished sending (module docstring); None while it still sends."""
    still = session.scalar(
        select(func.count())
        .select_from(CampaignRecipient)
        .where(*_test_rows(campaign.id), CampaignRecipient.status.in_(STILL_SENDING))
    )
    if still:
        return None
    last = session.scalar(
        select(
            func.max(func.coalesce(CampaignRecipient.sent_at, CampaignRecipient.failed_at))
        ).where(*_test_rows(campaign.id))
    )
    moment = last if last is not None else campaign.started_at
    return as_utc(moment) if moment is not None else None


def decision_due_at(session: Session, campaign: Campaign) -> datetime | None:
    """When the worker decides (None: the test share still sends, or nothing to decide)."""
    if not campaign.ab_test or campaign.ab_winner is not None:
        return None
    finished = test_finished_at(session, campaign)
    if finished is None:
        return None
    return finished + timedelta(minutes=int(campaign.ab_test["decide_after_minutes"]))


def decide_due(session: Session, now: datetime) -> list[int]:
    """The worker's step: decide every A/B test whose time has come. Returns the campaign ids."""
    # Running campaigns are few; a JSON column's "no test" may be SQL NULL or JSON null, so the
    # test itself is looked at here rather than in SQL.
    candidates = session.execute(
        select(Campaign.id, Campaign.ab_test).where(
            Campaign.ab_winner.is_(None), Campaign.status.in_(DECIDABLE)
        )
    ).all()
    waiting = [session.get(Campaign, row.id) for row in candidates if row.ab_test]
    decided = []
    for campaign in waiting:
        assert campaign is not None
        due = decision_due_at(session, campaign)
        if due is None or now < due:
            continue
        numbers = test_numbers(session, campaign.id)
        weights = [int(v.get("weight") or 1) for v in campaign.variants or []]
        verdict = choose_winner(numbers, campaign.ab_test["metric"], weights)
        if _decide(session, campaign, verdict.winner, verdict.how, numbers, None, now):
            decided.append(campaign.id)
    return decided


def pick_winner(
    session: Session, actor: Actor, campaign_id: int, variant: Any, now: datetime | None = None
) -> Campaign:
    """Staff pick the winner by hand, before the worker's decision."""
    require(actor, "campaigns.trigger")
    campaign = get(session, actor, campaign_id)
    if not campaign.ab_test:
        raise Conflict("this campaign has no A/B test")
    count = len(campaign.variants or [])
    if isinstance(variant, bool) or not isinstance(variant, int) or not 0 <= variant < count:
        raise ValidationError(
            "variant must be a variant's number, from 0 to {high}", "variant", high=count - 1
        )
    if campaign.ab_winner is not None:
        raise Conflict("the winner was already decided")
    if campaign.status not in DECIDABLE:
        raise Conflict("the winner can only be picked while the campaign runs or is paused")
    numbers = test_numbers(session, campaign.id)
    if not _decide(session, campaign, variant, How.MANUAL, numbers, actor, now or utcnow()):
        raise Conflict("the winner was already decided")
    session.refresh(campaign)
    return campaign


def _decide(
    session: Session,
    campaign: Campaign,
    winner: int,
    how: str,
    numbers: list[VariantNumbers],
    actor: Actor | None,
    now: datetime,
) -> bool:
    metric = campaign.ab_test["metric"]
    decision = {
        "how": how,
        "metric": metric,
        "by": actor.username if actor else None,
        "min_sent_per_variant": MIN_SENT_PER_VARIANT,
        "tie_points": TIE_POINTS,
        "numbers": [
            {
                "variant": n.variant,
                "sent": n.sent,
                "read": n.read,
                "replied": n.replied,
                "clicked": n.clicked,
                "rate": n.rate(metric),
            }
            for n in sorted(numbers, key=lambda n: n.variant)
        ],
    }
    won = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.ab_winner.is_(None))
        .values(ab_winner=winner, ab_decided_at=now, ab_decision=decision, updated_at=now),
        execution_options=_NO_SYNC,
    )
    if won.rowcount != 1:
        return False  # another worker, or staff, decided first
    released = _release_rest(session, campaign, winner)
    details = {**decision, "winner": winner, "released": released}
    by = actor or Actor.system(campaign.account_id)  # the worker's decision: "system"
    record_audit(session, by, "campaign.ab_winner", "campaign", campaign.id, details)
    summary = ", ".join(
        f"{variant_letter(n['variant'])} {n['rate']:.1f}%"
        for n in decision["numbers"]
        if n["rate"] is not None
    )
    letter = variant_letter(winner)
    body = {
        How.AUTO: stored_text.text(stored_text.AB_WON_BY_RATE, numbers=summary or "—"),
        How.TIE: stored_text.text(
            stored_text.AB_WON_TIE, points=TIE_POINTS, numbers=summary or "—"
        ),
        How.TOO_LITTLE_DATA: stored_text.text(
            stored_text.AB_WON_LITTLE_DATA, minimum=MIN_SENT_PER_VARIANT
        ),
        How.MANUAL: stored_text.text(
            stored_text.AB_WON_MANUAL, user=actor.username if actor else "", numbers=summary or "—"
        ),
    }[how]
    notify(
        session,
        campaign.account_id,
        "campaign_ab_decided",
        {"title": campaign.title, "variant": letter},
        body,
        campaign_id=campaign.id,
    )
    log.info(
        "A/B winner decided",
        extra={"campaign_id": campaign.id, "winner": winner, "how": how, "released": released},
    )
    return True


# Driver-level statements (as the contact import writes): the rest may be 100,000 rows, and the
# ORM's per-row results and bind processing cost more than the rendering.
_WAITING_SQL = """
    SELECT r.id, r.contact_id, r.phone, r.name, c.custom_attributes
    FROM campaign_recipients r LEFT JOIN contacts c ON c.id = r.contact_id
    WHERE r.campaign_id = ? AND r.is_test = ? AND r.status = ?
"""
_RELEASE_SQL = """
    UPDATE campaign_recipients SET status = ?, variant = ?, rendered_text = ?
    WHERE id = ? AND status = ?
"""


def _driver_sql(session: Session, statement: str) -> str:
    """sqlite3 takes `?`; psycopg `%s`."""
    return (
        statement.replace("?", "%s") if session.get_bind().dialect.name != "sqlite" else statement
    )


def _release_rest(session: Session, campaign: Campaign, winner: int) -> int:
    """The waiting rest becomes pending with the winner's text, rendered as at freezing (the
    same spintax choice per contact; the contact's attributes as they are now)."""
    text, _media = variant_messages(campaign)[winner]
    fill = message_template.campaign_renderer(text, campaign.id)
    connection = session.connection()
    waiting = RecipientStatus.AWAITING_WINNER.value
    rows = connection.exec_driver_sql(
        _driver_sql(session, _WAITING_SQL), (campaign.id, False, waiting)
    ).all()
    if not rows:
        return 0
    released = []
    for recipient_id, contact_id, phone, name, attributes in rows:
        if isinstance(attributes, str):  # SQLite hands JSON back as text
            attributes = json.loads(attributes)
        rendered = fill(contact_id or phone, name, phone, attributes or {})
        released.append((RecipientStatus.PENDING.value, winner, rendered, recipient_id, waiting))
    connection.exec_driver_sql(_driver_sql(session, _RELEASE_SQL), released)
    if campaign.track_links:
        track_links_of(
            session,
            campaign,
            [{"recipient_id": row[3], "rendered_text": row[2]} for row in released],
        )
    return len(released)
