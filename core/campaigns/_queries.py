"""Reading campaigns: one by id, the list, their JSON, and the numbers they may send through."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import Row, Select, String, bindparam, cast, func, select
from sqlalchemy.orm import Session

from core.base import NotFound, PermissionDenied, ValidationError
from core.campaigns._statuses import allowed_actions
from core.i18n import Term
from core.models import (
    Account,
    Campaign,
    CampaignStatus,
    SenderInstance,
    campaign_instances,
)
from core.people import Actor, load_owned, require


def get(session: Session, actor: Actor, campaign_id: int) -> Campaign:
    require(actor, "campaigns.read")
    return load_owned(session, actor, Campaign, campaign_id, "campaign")


def list_campaigns(
    session: Session,
    actor: Actor,
    status: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> tuple[list[Campaign], int]:
    filtered, params = _page_params(actor, status, page, per_page)
    total = session.scalar(_COUNT[filtered], params) or 0
    return list(session.scalars(_ROWS[filtered], params)), total


def list_campaigns_json(
    session: Session,
    actor: Actor,
    status: str | None = None,
    page: int = 1,
    per_page: int = 25,
) -> tuple[list[dict[str, Any]], int]:
    """`list_campaigns` as `campaign_json`s, read as plain rows with their numbers' ids in the
    same query: no ORM objects and no second query for the numbers (bench/api_reads.py)."""
    filtered, params = _page_params(actor, status, page, per_page)
    connection = session.connection()
    total = connection.scalar(_COUNT[filtered], params) or 0
    return [_row_json(row) for row in connection.execute(_JSON_ROWS[filtered], params)], total


def get_json(session: Session, actor: Actor, campaign_id: int) -> dict[str, Any]:
    """`campaign_json(get(...))` in one query, as `list_campaigns_json` reads."""
    require(actor, "campaigns.read")
    row = session.connection().execute(_JSON_ONE, {"campaign_id": campaign_id}).first()
    if row is None or row.account_id != actor.account_id:  # as load_owned answers
        raise NotFound("{thing} {id} does not exist", thing=Term("campaign"), id=campaign_id)
    return _row_json(row)


def _page_params(
    actor: Actor, status: str | None, page: int, per_page: int
) -> tuple[bool, dict[str, Any]]:
    """The list's filter, checked: whether it is by status, and the statements' parameters."""
    require(actor, "campaigns.read")
    if page < 1:
        raise ValidationError("page starts at 1", "page")
    if not 1 <= per_page <= 100:
        raise ValidationError("per_page must be between 1 and 100", "per_page")
    params: dict[str, Any] = {
        "account_id": actor.account_id,
        "offset": (page - 1) * per_page,
        "limit": per_page,
    }
    if not status:
        return False, params
    if status not in set(CampaignStatus):
        raise ValidationError(
            "unknown status {status!r} (use {choices})",
            "status",
            status=status,
            choices=", ".join(CampaignStatus),
        )
    return True, {**params, "status": status}


def _json_select() -> Select[Any]:
    """The campaigns table's columns and `instance_ids`: the ids of its numbers joined by commas
    (group_concat on SQLite, string_agg on PostgreSQL), NULL when it has none."""
    link = campaign_instances.c
    instance_ids = (
        select(func.aggregate_strings(cast(link.instance_id, String), ","))
        .where(link.campaign_id == Campaign.id)
        .scalar_subquery()
    )
    return select(Campaign.__table__, instance_ids.label("instance_ids"))


def _scope(filtered: bool) -> list[Any]:
    scope = [Campaign.account_id == bindparam("account_id")]
    if filtered:
        scope.append(Campaign.status == bindparam("status"))
    return scope


def _paged(statement: Select[Any], filtered: bool) -> Select[Any]:
    return (
        statement.where(*_scope(filtered))
        .order_by(Campaign.created_at.desc(), Campaign.id.desc())
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
    )


# Built once and bound per request: building a statement costs about as much as running it.
# Keyed by whether the list is filtered by status.
_COUNT = {
    filtered: select(func.count()).select_from(Campaign).where(*_scope(filtered))
    for filtered in (False, True)
}
_ROWS = {filtered: _paged(select(Campaign), filtered) for filtered in (False, True)}
_JSON_ROWS = {filtered: _paged(_json_select(), filtered) for filtered in (False, True)}
_JSON_ONE = _json_select().where(Campaign.id == bindparam("campaign_id"))


def _row_json(row: Row[Any]) -> dict[str, Any]:
    ids = row.instance_ids
    return campaign_json(row, sorted(int(i) for i in ids.split(",")) if ids else [])  # type: ignore[arg-type]


def _iso(value: datetime | time | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def campaign_json(campaign: Campaign, instance_ids: list[int] | None = None) -> dict[str, Any]:
    """The seed's fields plus what DESIGN.md adds; times in UTC ISO 8601. `campaign` may be a
    row of the campaigns table, with its `instance_ids` (sorted) given."""
    return {
        "id": campaign.id,
        "account_id": campaign.account_id,
        "title": campaign.title,
        "message": campaign.message,
        "audience": campaign.audience,
        "scheduled_at": _iso(campaign.scheduled_at),
        "status": str(campaign.status),
        "multimedia": campaign.multimedia,
        "delivery_stats": campaign.delivery_stats or {},
        "sender_id": campaign.sender_id,
        "instance_ids": (
            instance_ids
            if instance_ids is not None
            else sorted(instance.id for instance in campaign.instances)
        ),
        "window_start": _iso(campaign.window_start),
        "window_end": _iso(campaign.window_end),
        "window_days": campaign.window_days,
        "allowed_actions": sorted(allowed_actions(campaign.status)),
        "started_at": _iso(campaign.started_at),
        "completed_at": _iso(campaign.completed_at),
        "error_message": campaign.error_message,
        "paused_by": campaign.pause_cause if campaign.status == CampaignStatus.PAUSED else None,
        "deliver_in_recipient_timezone": bool(campaign.deliver_in_recipient_timezone),
        "auto_retry_hours": campaign.auto_retry_hours,
        "auto_retry_limit": campaign.auto_retry_limit if campaign.auto_retry_hours else None,
        "auto_retries_done": campaign.auto_retries_done or 0,
        "auto_retry_at": _iso(campaign.auto_retry_at),
        "track_links": bool(campaign.track_links),
        "variants": campaign.variants,
        "ab_test": campaign.ab_test,
        "holdout_share": campaign.holdout_share,
        "ab_winner": campaign.ab_winner,
        "ab_decided_at": _iso(campaign.ab_decided_at),
        "ab_decision": campaign.ab_decision,
        "created_at": _iso(campaign.created_at),
        "updated_at": _iso(campaign.updated_at),
    }


def sender_instances(session: Session, actor: Actor) -> list[SenderInstance]:
    """The account's active WhatsApp numbers a campaign may send through."""
    require(actor, "campaigns.read")
    return list(
        session.scalars(
            select(SenderInstance)
            .where(SenderInstance.account_id == actor.account_id, SenderInstance.is_active)
            .order_by(SenderInstance.name)
        )
    )


def load_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("account {id} does not exist", id=account_id)
    return account


def require_campaigns_enabled(account: Account) -> None:
    if not account.campaigns_enabled:
        raise PermissionDenied("campaigns are turned off for this account")


def instance_ids_of(campaign: Campaign | None) -> list[int]:
    return [instance.id for instance in campaign.instances] if campaign else []
