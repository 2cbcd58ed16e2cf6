"""PostgreSQL's hot path in three statements per send, each atomic on its own (autocommit).

SQLite runs the claim as a write transaction of short statements (`_claim_statements`): its one
writer makes that safe and it has no network to pay for. Over a network every statement, and a
transaction's BEGIN and COMMIT, is a round trip, so PostgreSQL gets instead:

- `STATE`: the number's whole pacing state in one read (its row and its account's, the sends of
  its local day when a daily limit applies, the sends of the last minute, a half-sent message
  of this worker). No lock: the claim below re-checks what could have changed.
- `recorded(...)`: claim and record in one statement (data-modifying CTEs): lock the number's
  row (`owner`: still this worker's lease, still allowed to send, and `next_send_at` still what
  `STATE` read: every claim moves it forward, so an unchanged value proves no send was recorded
  in between and the read's counts still hold), take the recipient (`FOR UPDATE SKIP LOCKED`),
  insert its `instance_sends` row and set the next gap. All or nothing.
- `MARK_SENT_MANY`: the outcomes of the sends that went through, however many arrived together,
  in one statement (`unnest` of arrays).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Integer,
    String,
    Text,
    bindparam,
    case,
    exists,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from core.campaigns import TEST_SEND_STATUSES
from core.models import Circuit, RecipientStatus, campaign_instances
from core.sending._claim_statements import (
    CLAIM_ONE,
    CLAIM_TEST,
    CLAIM_ZONED,
    CLAIMED_COLUMNS,
    CONTINUATION,
    DUE,
    INSTANCE,
    accounts_table,
    campaigns_table,
    instances_table,
    one_of,
    recipients_table,
    sends_table,
)

_TIME = instances_table.c.next_send_at.type
P_NOW = bindparam("p_now", type_=_TIME)
P_INSTANCE = bindparam("p_instance", type_=Integer)

_zone = func.coalesce(accounts_table.c.timezone, "UTC")
# The account's local midnight, as a UTC instant (local_day_bounds in Python).
_DAY_START = func.timezone(_zone, func.date_trunc("day", func.timezone(_zone, P_NOW)))
_HAS_DAILY_LIMIT = instances_table.c.daily_cap.is_not(None) | one_of(
    func.jsonb_typeof(instances_table.c.warmup), ("string", "array")
)
_SENT_TODAY = (
    select(func.count())
    .select_from(sends_table)
    .where(sends_table.c.instance_id == instances_table.c.id, sends_table.c.sent_at >= _DAY_START)
    .scalar_subquery()
)
# The last minute's sends, newest first, as many as the number's own rate (its effective rate,
# lowered by health, is never higher) up to RECENT_KEPT: the rate-th of them is what the window
# needs. A rate above that (none the UI allows) gets its nominal rate-th instead.
RECENT_KEPT = 60
_IN_WINDOW = (
    select(sends_table.c.sent_at)
    .where(
        sends_table.c.instance_id == instances_table.c.id,
        sends_table.c.sent_at > bindparam("p_cutoff", type_=_TIME),
    )
    .order_by(sends_table.c.sent_at.desc())
)
_RECENT = func.array(
    _IN_WINDOW.limit(
        func.least(func.greatest(instances_table.c.rate_per_minute, 1), RECENT_KEPT)
    ).scalar_subquery(),
    type_=ARRAY(_TIME),
)
_NOMINAL_TH = case(
    (
        instances_table.c.rate_per_minute > RECENT_KEPT,
        _IN_WINDOW.offset(instances_table.c.rate_per_minute - 1).limit(1).scalar_subquery(),
    ),
    else_=None,
)
_HALF_SENT = (
    CONTINUATION.where(bindparam("p_continuation", type_=Boolean))
    .with_only_columns(
        recipients_table.c.id.label("continuing_id"),
        recipients_table.c.parts_sent.label("continuing_parts_sent"),
        recipients_table.c.rendered_text.label("continuing_text"),
        campaigns_table.c.multimedia.label("continuing_multimedia"),
        campaigns_table.c.variants.label("continuing_variants"),
        recipients_table.c.variant.label("continuing_variant"),
    )
    .subquery("half_sent")
)

# A test send waiting on one of the number's campaigns (else its claim is not even tried).
_TEST_WAITING = (
    select(recipients_table.c.id)
    .join_from(
        recipients_table,
        campaign_instances,
        campaign_instances.c.campaign_id == recipients_table.c.campaign_id,
    )
    .where(
        campaign_instances.c.instance_id == instances_table.c.id,
        recipients_table.c.is_test.is_(True),
        recipients_table.c.status == RecipientStatus.PENDING,
        DUE,
    )
    .exists()
)

# The campaigns the number serves, as CAMPAIGNS reads them (`campaigns_in`), in one column.
_CAMPAIGNS = (
    select(
        func.jsonb_agg(
            func.jsonb_build_object(
                "id", campaigns_table.c.id,
                "status", campaigns_table.c.status,
                "window_start", campaigns_table.c.window_start,
                "window_end", campaigns_table.c.window_end,
                "window_days", campaigns_table.c.window_days,
                "multimedia", campaigns_table.c.multimedia,
                "variants", campaigns_table.c.variants,
                "zoned", campaigns_table.c.deliver_in_recipient_timezone,
            )
        )
    )
    .join_from(
        campaigns_table,
        campaign_instances,
        campaign_instances.c.campaign_id == campaigns_table.c.id,
    )
    .where(
        campaign_instances.c.instance_id == instances_table.c.id,
        one_of(campaigns_table.c.status, TEST_SEND_STATUSES),
    )
    .scalar_subquery()
)  # fmt: skip


@dataclass(frozen=True)
class CampaignRow:
    """A row of `_claim_statements.CAMPAIGNS`, read from `STATE.campaigns`."""

    id: int
    status: str
    window_start: time | None
    window_end: time | None
    window_days: list[int] | None
    multimedia: dict[str, Any] | None
    variants: list[dict[str, Any]] | None  # each with its own attachment (core.campaigns)
    deliver_in_recipient_timezone: bool


def campaigns_in(value: list[dict[str, Any]] | None) -> list[CampaignRow]:
    def clock(text: str | None) -> time | None:
        return time.fromisoformat(text) if text else None

    rows = [
        CampaignRow(
            id=item["id"],
            status=item["status"],
            window_start=clock(item["window_start"]),
            window_end=clock(item["window_end"]),
            window_days=item["window_days"],
            multimedia=item["multimedia"],
            variants=item.get("variants"),
            deliver_in_recipient_timezone=bool(item["zoned"]),
        )
        for item in value or []
    ]
    return sorted(rows, key=lambda row: row.id)


STATE = (
    select(
        *INSTANCE.selected_columns,
        case((_HAS_DAILY_LIMIT, _SENT_TODAY), else_=None).label("sent_today"),
        _RECENT.label("recent"),
        _NOMINAL_TH.label("nominal_rate_th"),
        *_HALF_SENT.c,
        _TEST_WAITING.label("test_waiting"),
        _CAMPAIGNS.label("campaigns"),
    )
    .join_from(instances_table, accounts_table, accounts_table.c.id == instances_table.c.account_id)
    .outerjoin(_HALF_SENT, true())
    .where(INSTANCE.whereclause)
)


def _owner() -> Any:
    """The number's row, locked, while this claim may still be made (see the module's doc)."""
    return (
        select(instances_table.c.id)
        .join_from(
            instances_table, accounts_table, accounts_table.c.id == instances_table.c.account_id
        )
        .where(
            instances_table.c.id == P_INSTANCE,
            instances_table.c.lease_owner == bindparam("p_worker"),
            instances_table.c.lease_expires_at > P_NOW,
            instances_table.c.is_active.is_(True),
            instances_table.c.circuit == Circuit.CLOSED,
            instances_table.c.health_paused_at.is_(None),
            accounts_table.c.campaigns_enabled.is_(True),
            instances_table.c.next_send_at.is_not_distinct_from(bindparam("p_seen", type_=_TIME)),
        )
        .with_for_update(of=instances_table)
        .cte("owner")
    )


def recorded(claim: Any, with_multimedia: bool = False) -> Any:
    """`claim` (an UPDATE … RETURNING CLAIMED_COLUMNS of one recipient) made one statement with
    its lock, its `instance_sends` row and the next gap. One row when claimed; a row with only
    `owner_id` when the number may send but no recipient was taken; no row when it may not."""
    owner = _owner()
    claimed = claim.where(exists(select(owner.c.id))).cte("claimed")
    sent = (
        insert(sends_table)
        .from_select(
            ["instance_id", "recipient_id", "sent_at"],
            select(P_INSTANCE, claimed.c.id, P_NOW),
        )
        .returning(sends_table.c.id)
        .cte("sent")
    )
    paced = (
        update(instances_table)
        .where(instances_table.c.id == P_INSTANCE, exists(select(claimed.c.id)))
        .values(
            next_send_at=bindparam("p_next", type_=_TIME),
            sends_since_long_pause=bindparam("p_since_pause", type_=Integer),
            # The number's age (warm-up) counts from its first send here.
            first_sent_at=func.coalesce(instances_table.c.first_sent_at, P_NOW),
            updated_at=P_NOW,  # (the column's onupdate is not applied inside a CTE)
        )
        .returning(instances_table.c.id)
        .cte("paced")
    )
    columns = [owner.c.id.label("owner_id"), *claimed.c, sent.c.id.label("send_id")]
    if with_multimedia:
        for column in (campaigns_table.c.multimedia, campaigns_table.c.variants):
            columns.append(
                select(column)
                .where(campaigns_table.c.id == claimed.c.campaign_id)
                .scalar_subquery()
                .label(column.name)
            )
    return (
        select(*columns)
        .select_from(owner.outerjoin(claimed, true()).outerjoin(sent, true()))
        .add_cte(paced)
    )


CLAIM_ONE_RECORDED = recorded(CLAIM_ONE)

CLAIM_ZONED_RECORDED = recorded(CLAIM_ZONED)

CLAIM_TEST_RECORDED = recorded(CLAIM_TEST)

# The next part of a message under way (audio after its text): still this worker's claim.
CONTINUE_RECORDED = recorded(
    update(recipients_table)
    .where(
        recipients_table.c.id == bindparam("p_recipient"),
        recipients_table.c.status == RecipientStatus.SENDING,
        recipients_table.c.claimed_by == bindparam("p_worker"),
        recipients_table.c.instance_id == P_INSTANCE,
        recipients_table.c.parts_sent > 0,
    )
    .values(last_attempt_at=P_NOW)
    .returning(*CLAIMED_COLUMNS),
    with_multimedia=True,
)

RECORDED = {
    id(CLAIM_ONE): CLAIM_ONE_RECORDED,
    id(CLAIM_ZONED): CLAIM_ZONED_RECORDED,
    id(CLAIM_TEST): CLAIM_TEST_RECORDED,
}

_batch = (
    select(
        func.unnest(
            bindparam("p_sends", type_=ARRAY(Integer)),
            bindparam("p_recipients", type_=ARRAY(Integer)),
            bindparam("p_workers", type_=ARRAY(String)),
            bindparam("p_claimed", type_=ARRAY(DateTime(timezone=True))),
            bindparam("p_done", type_=ARRAY(DateTime(timezone=True))),
            bindparam("p_parts", type_=ARRAY(Integer)),
            bindparam("p_http", type_=ARRAY(Integer)),
            bindparam("p_errors", type_=ARRAY(Text)),
            bindparam("p_messages", type_=ARRAY(Text)),
        )
        .table_valued(
            "send_id", "recipient_id", "worker", "claimed_at", "done", "parts", "http", "error",
            "message",
        )
        .render_derived(name="b")
    )
    .cte("batch")
)  # fmt: skip
_answered = (
    update(sends_table)
    .where(sends_table.c.id == _batch.c.send_id)
    .values(sent_at=_batch.c.done)
    .returning(sends_table.c.id)
    .cte("answered")
)
# As `_outcome_rules._MARK_SENT`, for many sends: each answer becomes its send's time (pacing
# counts from there), and each recipient still claimed by that claim becomes `sent`.
MARK_SENT_MANY = (
    update(recipients_table)
    .where(
        recipients_table.c.id == _batch.c.recipient_id,
        recipients_table.c.claimed_by == _batch.c.worker,
        recipients_table.c.claimed_at == _batch.c.claimed_at,
        one_of(recipients_table.c.status, (RecipientStatus.SENDING, RecipientStatus.UNKNOWN)),
    )
    .values(
        status=RecipientStatus.SENT,
        sent_at=_batch.c.done,
        parts_sent=_batch.c.parts,
        http_status=_batch.c.http,
        last_error=_batch.c.error,
        error_kind=None,
        next_attempt_at=None,
        provider_message_id=func.coalesce(recipients_table.c.provider_message_id, _batch.c.message),
    )
    .returning(recipients_table.c.id)
    .add_cte(_answered)
)
