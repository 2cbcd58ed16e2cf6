"""The claim's statements, built once at import with bind parameters only (SQLAlchemy compiles
each once per dialect), run on a bare Connection by the worker's hot path.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)

from core.campaigns import TEST_SEND_STATUSES
from core.models import (
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    InstanceSend,
    RecipientStatus,
    SenderInstance,
    campaign_instances,
)


def one_of(column: Any, values: Any) -> Any:
    """`column IN (values)` for a fixed set, as plain comparisons: a literal list would be an
    "expanding" parameter, which SQLAlchemy re-renders into the SQL text at every execution
    (a measurable share of the worker's CPU per send, bench/dispatch.py)."""
    return or_(*(column == value for value in values))


instances_table = SenderInstance.__table__

sends_table = InstanceSend.__table__

recipients_table = CampaignRecipient.__table__

campaigns_table = Campaign.__table__

accounts_table = Account.__table__

INSTANCE = (
    select(
        instances_table.c.id,
        instances_table.c.account_id,
        instances_table.c.is_active,
        instances_table.c.circuit,
        instances_table.c.rate_per_minute,
        instances_table.c.extra_delay_max_seconds,
        instances_table.c.typing_min_seconds,
        instances_table.c.typing_max_seconds,
        instances_table.c.failure_streak,
        instances_table.c.daily_cap,
        instances_table.c.window_start,
        instances_table.c.window_end,
        instances_table.c.window_days,
        instances_table.c.next_send_at,
        instances_table.c.long_pause_every,
        instances_table.c.long_pause_min_minutes,
        instances_table.c.long_pause_max_minutes,
        instances_table.c.sends_since_long_pause,
        instances_table.c.warmup,
        instances_table.c.number_since,
        instances_table.c.first_sent_at,
        instances_table.c.health_score,
        instances_table.c.health_paused_at,
        instances_table.c.warmup_step,
        instances_table.c.base_url,
        instances_table.c.instance_name,
        instances_table.c.api_version,
        instances_table.c.token_encrypted,
        accounts_table.c.timezone,
        accounts_table.c.campaigns_enabled,
    )
    .join_from(instances_table, accounts_table, accounts_table.c.id == instances_table.c.account_id)
    .where(
        instances_table.c.id == bindparam("p_instance"),
        instances_table.c.lease_owner == bindparam("p_worker"),
        instances_table.c.lease_expires_at > bindparam("p_now"),
    )
    .with_for_update(of=instances_table)
)

SENT_SINCE = (
    select(func.count())
    .select_from(sends_table)
    .where(
        sends_table.c.instance_id == bindparam("p_instance"),
        sends_table.c.sent_at >= bindparam("p_since"),
    )
)

RATE_TH = (
    select(sends_table.c.sent_at)
    .where(
        sends_table.c.instance_id == bindparam("p_instance"),
        sends_table.c.sent_at > bindparam("p_cutoff"),
    )
    .order_by(sends_table.c.sent_at.desc())
    .limit(1)
    .offset(bindparam("p_offset", type_=Integer))
)

CLAIMED_COLUMNS = (
    recipients_table.c.id,
    recipients_table.c.campaign_id,
    recipients_table.c.contact_id,
    recipients_table.c.phone,
    recipients_table.c.rendered_text,
    recipients_table.c.attempts,
    recipients_table.c.is_test,
    recipients_table.c.parts_sent,
    recipients_table.c.claimed_by,
    recipients_table.c.claimed_at,
    recipients_table.c.variant,  # its variant's attachment (core.campaigns.multimedia_of)
)

CONTINUATION = (
    select(*CLAIMED_COLUMNS, campaigns_table.c.multimedia, campaigns_table.c.variants)
    .join_from(
        recipients_table, campaigns_table, campaigns_table.c.id == recipients_table.c.campaign_id
    )
    .where(
        recipients_table.c.status == RecipientStatus.SENDING,
        recipients_table.c.claimed_by == bindparam("p_worker"),
        recipients_table.c.instance_id == bindparam("p_instance"),
        recipients_table.c.parts_sent > 0,
    )
    .limit(1)
)

CAMPAIGNS = (
    select(
        campaigns_table.c.id,
        campaigns_table.c.status,
        campaigns_table.c.window_start,
        campaigns_table.c.window_end,
        campaigns_table.c.window_days,
        campaigns_table.c.multimedia,
        campaigns_table.c.variants,
        campaigns_table.c.deliver_in_recipient_timezone,
    )
    .join_from(
        campaigns_table,
        campaign_instances,
        campaign_instances.c.campaign_id == campaigns_table.c.id,
    )
    .where(
        campaign_instances.c.instance_id == bindparam("p_instance"),
        one_of(campaigns_table.c.status, TEST_SEND_STATUSES),
    )
    .order_by(campaigns_table.c.id)
)

DUE = or_(
    recipients_table.c.next_attempt_at.is_(None),
    recipients_table.c.next_attempt_at <= bindparam("p_now"),
)

CAMPAIGN_MAY_SEND = (
    select(campaigns_table.c.id)
    .where(
        campaigns_table.c.id == recipients_table.c.campaign_id,
        or_(
            campaigns_table.c.status == CampaignStatus.RUNNING,
            and_(
                recipients_table.c.is_test.is_(True),
                one_of(campaigns_table.c.status, TEST_SEND_STATUSES),
            ),
        ),
    )
    .exists()
)


def claim_statement(pick: Any) -> Any:
    """Compare-and-set pending -> sending of the row `pick` finds, only while its campaign may
    still send it (re-checked here: the campaign list may be a second old). One statement."""
    picked = pick.limit(1).with_for_update(skip_locked=True).scalar_subquery()
    return (
        update(recipients_table)
        .where(
            recipients_table.c.id == picked,
            recipients_table.c.status == RecipientStatus.PENDING,
            CAMPAIGN_MAY_SEND,
        )
        .values(
            status=RecipientStatus.SENDING,
            claimed_by=bindparam("p_worker"),
            claimed_at=bindparam("p_now"),
            instance_id=bindparam("p_instance"),
            attempts=recipients_table.c.attempts + 1,
            last_attempt_at=bindparam("p_now"),
        )
        .returning(*CLAIMED_COLUMNS)
    )


PICK_ONE = select(recipients_table.c.id).where(
    recipients_table.c.campaign_id == bindparam("p_campaign"),
    recipients_table.c.status == RecipientStatus.PENDING,
    DUE,
)

PICK_TEST = select(recipients_table.c.id).where(
    recipients_table.c.campaign_id.in_(bindparam("p_campaigns", expanding=True)),
    recipients_table.c.status == RecipientStatus.PENDING,
    recipients_table.c.is_test.is_(True),
    DUE,
)

# A campaign delivering in each recipient's local time: only recipients whose zone's window
# is open now (the claim passes those zones).
PICK_ZONED = PICK_ONE.where(
    func.coalesce(recipients_table.c.timezone, bindparam("p_default_zone")).in_(
        bindparam("p_zones", expanding=True)
    )
)

CLAIM_ONE = claim_statement(PICK_ONE)

CLAIM_ZONED = claim_statement(PICK_ZONED)

CLAIM_TEST = claim_statement(PICK_TEST)

LEFT = {
    id(CLAIM_ONE): select(PICK_ONE.limit(1).exists()),
    id(CLAIM_TEST): select(PICK_TEST.limit(1).exists()),
    id(CLAIM_ZONED): select(PICK_ZONED.limit(1).exists()),
}

RECORD_SEND = (
    insert(sends_table)
    .values(
        instance_id=bindparam("p_instance"),
        recipient_id=bindparam("p_recipient"),
        sent_at=bindparam("p_now"),
    )
    .returning(sends_table.c.id)
)

SET_NEXT = (
    update(instances_table)
    .where(instances_table.c.id == bindparam("p_instance"))
    .values(
        next_send_at=bindparam("p_next"),
        sends_since_long_pause=bindparam("p_since_pause", type_=Integer),
        # The number's age (warm-up) counts from its first send here.
        first_sent_at=func.coalesce(instances_table.c.first_sent_at, bindparam("p_now")),
    )
)

TOUCH = (
    update(recipients_table)
    .where(recipients_table.c.id == bindparam("p_recipient"))
    .values(last_attempt_at=bindparam("p_now"))
)


def pending_left(connection: Any, statement: Any, values: dict[str, Any]) -> bool:
    """After a lost race: is there another pending row to try (else stop looking)?"""
    return bool(connection.execute(LEFT[id(statement)], values).scalar())


PENDING_ZONES = (
    select(recipients_table.c.timezone)
    .where(
        recipients_table.c.campaign_id == bindparam("p_campaign"),
        recipients_table.c.status == RecipientStatus.PENDING,
        recipients_table.c.is_test.is_(False),
    )
    .distinct()
)


def pending_zones(connection: Any, campaign_id: int) -> list[str | None]:
    return [row[0] for row in connection.execute(PENDING_ZONES, {"p_campaign": campaign_id})]


def campaigns_of(connection: Any, instance_id: int) -> list[Any]:
    return list(connection.execute(CAMPAIGNS, {"p_instance": instance_id}).all())
