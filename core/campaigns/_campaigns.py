"""Campaigns: authoring, the life cycle (DESIGN.md § Campaign life), starting and freezing.

Every change of status is a compare-and-set `UPDATE ... WHERE status IN (...)` whose row count
says whether it happened, so a double click, two workers, or the scheduler racing a manual
trigger can never start (or pause, cancel...) a campaign twice. Services flush; callers commit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete as sql_delete
from sqlalchemy import false, func, insert, literal_column, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from core.base import Conflict, NotFound, PermissionDenied, ValidationError, stored_text, utcnow
from core.campaigns import _audience as audience
from core.campaigns import _media as media
from core.campaigns import _templates as message_template
from core.campaigns._estimate import Estimate, Pace, estimate
from core.contacts import attribute_keys
from core.i18n import N_, Term
from core.models import (
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Contact,
    RecipientStatus,
    SenderInstance,
    campaign_instances,
)
from core.notifications import notify
from core.people import Actor, load_owned, record_audit, require

log = logging.getLogger(__name__)

S = CampaignStatus
EDITABLE = (S.DRAFT, S.PENDING)
DELETABLE = (S.DRAFT, S.PENDING, S.PAUSED, S.COMPLETED, S.CANCELLED, S.FAILED)
TEST_STATUSES = (S.DRAFT, S.PENDING, S.RUNNING, S.PAUSED, S.COMPLETED)
# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[S, ...], S]] = {
    "trigger": ((S.DRAFT, S.PENDING), S.RUNNING),
    "pause": ((S.RUNNING,), S.PAUSED),
    "resume": ((S.PAUSED,), S.RUNNING),
    "cancel": ((S.PENDING, S.RUNNING, S.PAUSED), S.CANCELLED),
    "retry_failed": ((S.COMPLETED,), S.RUNNING),
}
DATA_KEYS = (
    "title",
    "message",
    "audience",
    "scheduled_at",
    "status",
    "multimedia",
    "instance_ids",
    "window_start",
    "window_end",
    "window_days",
)
# Fields of campaign_json that clients may send back unchanged; they are ignored.
READ_ONLY_KEYS = frozenset(
    {
        "id",
        "account_id",
        "delivery_stats",
        "sender_id",
        "created_at",
        "updated_at",
        "started_at",
        "completed_at",
        "error_message",
    }
)
MAX_TEST_PHONES = 5
SCHEDULE_GRACE = timedelta(minutes=1)  # a time picked "now" in a form is a few seconds old on save
RETRYABLE = (RecipientStatus.FAILED, RecipientStatus.UNKNOWN)
NEVER_RETRIED_KINDS = ("not_on_whatsapp",)


# -- reading ------------------------------------------------------------------------------------


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
    require(actor, "campaigns.read")
    if page < 1:
        raise ValidationError("page starts at 1", "page")
    if not 1 <= per_page <= 100:
        raise ValidationError("per_page must be between 1 and 100", "per_page")
    scope = [Campaign.account_id == actor.account_id]
    if status:
        if status not in set(S):
            raise ValidationError(
                "unknown status {status!r} (use {choices})",
                "status",
                status=status,
                choices=", ".join(S),
            )
        scope.append(Campaign.status == status)
    total = session.scalar(select(func.count()).select_from(Campaign).where(*scope)) or 0
    rows = session.scalars(
        select(Campaign)
        .where(*scope)
        .order_by(Campaign.created_at.desc(), Campaign.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return list(rows), total


def _iso(value: datetime | time | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, time):
        return value.strftime("%H:%M")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def campaign_json(campaign: Campaign) -> dict[str, Any]:
    """The seed's fields plus what DESIGN.md adds; times in UTC ISO 8601."""
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
        "instance_ids": sorted(instance.id for instance in campaign.instances),
        "window_start": _iso(campaign.window_start),
        "window_end": _iso(campaign.window_end),
        "window_days": campaign.window_days,
        "started_at": _iso(campaign.started_at),
        "completed_at": _iso(campaign.completed_at),
        "error_message": campaign.error_message,
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


# -- validating what staff send ---------------------------------------------------------------


def _account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("account {id} does not exist", id=account_id)
    return account


def _require_enabled(account: Account) -> None:
    if not account.campaigns_enabled:
        raise PermissionDenied("campaigns are turned off for this account")


def parse_scheduled_at(value: Any, timezone: str) -> datetime | None:
    """ISO 8601 text or a datetime, as UTC. A time without an offset is in the account's zone."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                "scheduled_at {value!r} is not an ISO 8601 date and time",
                "scheduled_at",
                value=value,
            ) from None
    if not isinstance(value, datetime):
        raise ValidationError("scheduled_at must be an ISO 8601 date and time", "scheduled_at")
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(UTC)


def _parse_time(value: Any, key: str) -> time | None:
    if value is None or value == "":
        return None
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    if isinstance(value, str):
        try:
            return time.fromisoformat(value.strip()).replace(second=0, microsecond=0)
        except ValueError:
            pass
    raise ValidationError("{key} must be a time of day such as 09:00", key, key=key)


def _parse_days(value: Any) -> list[int] | None:
    if value is None:
        return None
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in value)
    ):
        raise ValidationError(
            "window_days must be a non-empty list of weekdays, 0 (Monday) to 6 (Sunday)",
            "window_days",
        )
    return sorted(set(value))


def _parse_instance_ids(session: Session, account_id: int, value: Any) -> list[int]:
    if not isinstance(value, list | tuple) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in value
    ):
        raise ValidationError("instance_ids must be a list of WhatsApp number ids", "instance_ids")
    wanted = sorted(set(value))
    found = set(
        session.scalars(
            select(SenderInstance.id).where(
                SenderInstance.account_id == account_id, SenderInstance.id.in_(wanted)
            )
        )
    )
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ValidationError("WhatsApp number {id} does not exist", "instance_ids", id=missing[0])
    return wanted


class _Errors:
    """Collects every field's problem so a form can show each next to its field."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []  # as ValidationError.detail() gives them

    def check(self, field: str, check: Any, *args: Any) -> Any:
        try:
            return check(*args)
        except ValidationError as error:
            self.items.extend(error.details or [error.detail(field)])
            return None

    def add(self, field: str, template: str, **params: Any) -> None:
        """`template`: a constant marked with N_ (it is not raised here, so not extracted)."""
        self.items.append({"field": field, "template": template, "params": params})

    def fields(self) -> set[str]:
        return {item["field"].split(".")[0] for item in self.items if item.get("field")}

    def raise_any(self) -> None:
        if self.items:
            raise ValidationError.several(self.items)


def _title(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("title must not be empty", "title")
    if len(value.strip()) > 255:
        raise ValidationError("title is longer than 255 characters", "title")
    return value.strip()


def _status(value: Any) -> S:
    if value not in (S.DRAFT, S.PENDING):
        raise ValidationError(
            "status must be 'draft' or 'pending' (use trigger, pause, resume or cancel for "
            "the others)",
            "status",
        )
    return S(value)


def _clean(
    session: Session,
    actor: Actor,
    account: Account,
    data: Mapping[str, Any],
    current: Campaign | None,
    now: datetime,
) -> tuple[dict[str, Any], list[int] | None]:
    """Column values for the keys present in `data` (all of them on create), and instance ids.

    Raises one `ValidationError` listing every problem, each with its field.
    """
    if not isinstance(data, Mapping):
        raise ValidationError("the campaign must be an object", None)
    errors = _Errors()
    for key in data:
        if key not in DATA_KEYS and key not in READ_ONLY_KEYS:
            errors.add(str(key), N_("unknown field {key!r}"), key=key)
    creating = current is None

    def given(key: str) -> bool:
        return creating or key in data

    values: dict[str, Any] = {}
    if given("title"):
        values["title"] = errors.check("title", _title, data.get("title"))
    if given("status"):
        values["status"] = errors.check("status", _status, data.get("status") or S.DRAFT)
    if given("audience"):
        values["audience"] = errors.check(
            "audience", audience.validate_audience, data.get("audience")
        )
    if given("multimedia"):
        values["multimedia"] = errors.check(
            "multimedia", media.validate_multimedia, session, account.id, data.get("multimedia")
        )
    if given("scheduled_at"):
        scheduled = errors.check(
            "scheduled_at", parse_scheduled_at, data.get("scheduled_at"), account.timezone
        )
        previous = current.scheduled_at if current else None
        # Checked only when set: a campaign whose time has come must still be saveable and
        # startable (the seed's check on every save stopped campaigns from ever starting).
        if scheduled is not None and scheduled != previous and scheduled < now - SCHEDULE_GRACE:
            errors.add("scheduled_at", N_("scheduled_at is in the past"))
        values["scheduled_at"] = scheduled
    if given("window_start"):
        values["window_start"] = errors.check(
            "window_start", _parse_time, data.get("window_start"), "window_start"
        )
    if given("window_end"):
        values["window_end"] = errors.check(
            "window_end", _parse_time, data.get("window_end"), "window_end"
        )
    if given("window_days"):
        values["window_days"] = errors.check("window_days", _parse_days, data.get("window_days"))
    instance_ids: list[int] | None = None
    if "instance_ids" in data and data["instance_ids"] is not None:
        instance_ids = errors.check(
            "instance_ids", _parse_instance_ids, session, account.id, data["instance_ids"]
        )
    elif creating:
        only = session.scalars(
            select(SenderInstance.id).where(
                SenderInstance.account_id == account.id, SenderInstance.is_active
            )
        ).all()
        instance_ids = list(only) if len(only) == 1 else []  # the seed knew one number only

    # Checks that need several fields, on the campaign as it will be.
    def final(key: str) -> Any:
        return values[key] if key in values else getattr(current, key, None)

    multimedia = final("multimedia")
    if given("message") or given("multimedia"):
        message = data.get("message") if given("message") else final("message")
        if message is None or (isinstance(message, str) and not message.strip()):
            if not multimedia and "multimedia" not in errors.fields():
                errors.add("message", N_("message must not be empty"))
            values["message"] = ""
        elif not isinstance(message, str):
            errors.add("message", N_("message must be text"))
        else:
            known = attribute_keys(session, actor)
            values["message"] = errors.check(
                "message", message_template.validate_message, message, known
            )
    if final("status") == S.PENDING and not errors.items:
        if not (instance_ids if instance_ids is not None else _instance_ids(current)):
            errors.add("instance_ids", N_("choose at least one WhatsApp number to send through"))
        if "audience" in values or (current is not None and current.status != S.PENDING):
            reach = audience.preview_audience(session, account.id, final("audience"), sample=0)
            if reach.count == 0:
                errors.add("audience", N_("the audience matches no contacts who can receive it"))
    errors.raise_any()
    return values, instance_ids


def _instance_ids(campaign: Campaign | None) -> list[int]:
    return [instance.id for instance in campaign.instances] if campaign else []


def _set_instances(session: Session, campaign: Campaign, instance_ids: Iterable[int]) -> None:
    session.execute(
        sql_delete(campaign_instances).where(campaign_instances.c.campaign_id == campaign.id)
    )
    rows = [{"campaign_id": campaign.id, "instance_id": i} for i in instance_ids]
    if rows:
        session.execute(insert(campaign_instances), rows)
    session.expire(campaign, ["instances"])


# -- authoring ----------------------------------------------------------------------------------


def create(
    session: Session, actor: Actor, data: Mapping[str, Any], now: datetime | None = None
) -> Campaign:
    require(actor, "campaigns.write")
    account = _account(session, actor.account_id)
    _require_enabled(account)
    now = now or utcnow()
    values, instance_ids = _clean(session, actor, account, data, None, now)
    campaign = Campaign(account_id=account.id, sender_id=actor.user_id, **values)
    session.add(campaign)
    session.flush()
    _set_instances(session, campaign, instance_ids or [])
    record_audit(
        session, actor, "campaign.create", "campaign", campaign.id, {"title": campaign.title}
    )
    return campaign


def update(
    session: Session,
    actor: Actor,
    campaign_id: int,
    data: Mapping[str, Any],
    now: datetime | None = None,
) -> Campaign:
    """Change a draft or scheduled campaign; a campaign that started meanwhile is a Conflict."""
    require(actor, "campaigns.write")
    campaign = get(session, actor, campaign_id)
    account = _account(session, actor.account_id)
    _require_enabled(account)
    if campaign.status not in EDITABLE:
        raise Conflict("a {status} campaign can no longer be edited", status=Term(campaign.status))
    now = now or utcnow()
    values, instance_ids = _clean(session, actor, account, data, campaign, now)
    changed = sorted(set(values) | ({"instance_ids"} if instance_ids is not None else set()))
    result = session.execute(
        update_stmt(campaign_id, EDITABLE).values(**values, updated_at=now),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount != 1:
        raise Conflict(
            "the campaign started or changed state meanwhile; it can no longer be edited"
        )
    if instance_ids is not None:
        _set_instances(session, campaign, instance_ids)
    session.refresh(campaign)
    record_audit(session, actor, "campaign.update", "campaign", campaign.id, {"fields": changed})
    return campaign


def update_stmt(campaign_id: int, from_statuses: Sequence[str]) -> Any:
    """The compare-and-set: only a campaign still in one of `from_statuses` is changed."""
    return sql_update(Campaign).where(
        Campaign.id == campaign_id, Campaign.status.in_(from_statuses)
    )


def delete(session: Session, actor: Actor, campaign_id: int) -> None:
    require(actor, "campaigns.write")
    campaign = get(session, actor, campaign_id)
    title = campaign.title
    result = session.execute(
        sql_delete(Campaign).where(Campaign.id == campaign_id, Campaign.status.in_(DELETABLE)),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount != 1:
        raise Conflict("a running campaign cannot be deleted: pause or cancel it first")
    session.expunge(campaign)
    record_audit(session, actor, "campaign.delete", "campaign", campaign_id, {"title": title})


def duplicate(session: Session, actor: Actor, campaign_id: int) -> Campaign:
    """A new draft with the same content, audience, media, numbers and window; no schedule."""
    require(actor, "campaigns.write")
    source = get(session, actor, campaign_id)
    _require_enabled(_account(session, actor.account_id))
    copy = Campaign(
        account_id=source.account_id,
        title=f"{source.title} (copy)"[:255],
        message=source.message,
        audience=dict(source.audience or {}),
        multimedia=dict(source.multimedia) if source.multimedia else None,
        status=S.DRAFT,
        scheduled_at=None,
        sender_id=actor.user_id,
        window_start=source.window_start,
        window_end=source.window_end,
        window_days=list(source.window_days) if source.window_days is not None else None,
    )
    session.add(copy)
    session.flush()
    _set_instances(session, copy, _instance_ids(source))
    record_audit(
        session, actor, "campaign.create", "campaign", copy.id, {"duplicated_from": source.id}
    )
    return copy


# -- the life cycle -----------------------------------------------------------------------------


def _transition(
    session: Session,
    actor: Actor,
    campaign_id: int,
    action: str,
    now: datetime,
    **values: Any,
) -> Campaign:
    campaign = get(session, actor, campaign_id)
    from_statuses, to_status = TRANSITIONS[action]
    result = session.execute(
        update_stmt(campaign_id, from_statuses).values(status=to_status, updated_at=now, **values),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount != 1:
        session.refresh(campaign)
        raise _cannot(action, campaign.status, from_statuses)
    session.refresh(campaign)
    return campaign


def _cannot(action: str, status: str, allowed: Sequence[str]) -> Conflict:
    """ "cannot pause a completed campaign (only a running one)", one template per count of
    allowed statuses so that each reads as a sentence once translated."""
    words = {"action": Term(action.replace("_", " ")), "status": Term(status)}
    first, *others = (Term(s) for s in allowed)
    if not others:
        return Conflict(
            "cannot {action} a {status} campaign (only a {allowed} one)", **words, allowed=first
        )
    if len(others) == 1:
        return Conflict(
            "cannot {action} a {status} campaign (only a {allowed} or {other} one)",
            **words,
            allowed=first,
            other=others[0],
        )
    return Conflict(
        "cannot {action} a {status} campaign (only a {allowed} or {other} or {third} one)",
        **words,
        allowed=first,
        other=others[0],
        third=others[1],
    )


def pause(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    require(actor, "campaigns.trigger")
    campaign = _transition(session, actor, campaign_id, "pause", now or utcnow())
    record_audit(session, actor, "campaign.pause", "campaign", campaign_id)
    return campaign


def resume(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    require(actor, "campaigns.trigger")
    _require_enabled(_account(session, actor.account_id))
    campaign = _transition(
        session, actor, campaign_id, "resume", now or utcnow(), error_message=None, error_text=None
    )
    record_audit(session, actor, "campaign.resume", "campaign", campaign_id)
    return campaign


def cancel(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    """Stop for good: recipients not yet sent are skipped (one being sent right now finishes)."""
    require(actor, "campaigns.trigger")
    now = now or utcnow()
    campaign = _transition(session, actor, campaign_id, "cancel", now, completed_at=now)
    skipped = session.execute(
        sql_update(CampaignRecipient)
        .where(
            CampaignRecipient.campaign_id == campaign_id,
            CampaignRecipient.status == RecipientStatus.PENDING,
            CampaignRecipient.is_test.is_(False),
        )
        .values(status=RecipientStatus.SKIPPED, last_error=stored_text.CAMPAIGN_CANCELLED),
        execution_options={"synchronize_session": False},
    ).rowcount
    record_audit(session, actor, "campaign.cancel", "campaign", campaign_id, {"skipped": skipped})
    return campaign


def _retryable(campaign_id: int) -> list[Any]:
    opted_out = select(Contact.id).where(Contact.opted_out_at.is_not(None))
    return [
        CampaignRecipient.campaign_id == campaign_id,
        CampaignRecipient.is_test.is_(False),
        CampaignRecipient.status.in_(RETRYABLE),
        CampaignRecipient.error_kind.is_(None)
        | CampaignRecipient.error_kind.not_in(NEVER_RETRIED_KINDS),
        CampaignRecipient.contact_id.is_(None) | CampaignRecipient.contact_id.not_in(opted_out),
    ]


def retry_failed(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> int:
    """Re-queue a completed campaign's failed and unknown recipients; returns how many.

    Numbers known not to be on WhatsApp and contacts who opted out since are left alone.
    """
    require(actor, "campaigns.trigger")
    _require_enabled(_account(session, actor.account_id))
    get(session, actor, campaign_id)
    now = now or utcnow()
    waiting = session.scalar(
        select(func.count()).select_from(CampaignRecipient).where(*_retryable(campaign_id))
    )
    if not waiting:
        raise Conflict("no failed or unknown recipients to retry")
    _transition(session, actor, campaign_id, "retry_failed", now, completed_at=None)
    requeued = session.execute(
        sql_update(CampaignRecipient)
        .where(*_retryable(campaign_id))
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
        execution_options={"synchronize_session": False},
    ).rowcount
    record_audit(
        session, actor, "campaign.retry", "campaign", campaign_id, {"recipients": requeued}
    )
    return requeued


def trigger(
    session: Session, actor: Actor, campaign_id: int, now: datetime | None = None
) -> Campaign:
    """Start a draft or scheduled campaign now (the seed's manual trigger)."""
    require(actor, "campaigns.trigger")
    campaign = get(session, actor, campaign_id)
    _require_enabled(_account(session, actor.account_id))
    now = now or utcnow()
    if campaign.status not in EDITABLE:
        raise Conflict(
            "cannot trigger a {status} campaign (only a draft or pending one)",
            status=Term(campaign.status),
        )
    if not campaign.instances:
        raise ValidationError("choose at least one WhatsApp number to send through", "instance_ids")
    if (
        audience.preview_audience(session, campaign.account_id, campaign.audience, sample=0).count
        == 0
    ):
        raise ValidationError("the audience matches no contacts who can receive it", "audience")
    if not start(session, campaign_id, now, EDITABLE):
        session.refresh(campaign)
        raise Conflict(
            "the campaign was already started (it is {status})", status=Term(campaign.status)
        )
    session.refresh(campaign)
    record_audit(session, actor, "campaign.trigger", "campaign", campaign_id)
    return campaign


def start(session: Session, campaign_id: int, now: datetime, from_statuses: Sequence[str]) -> bool:
    """Move the campaign to running and freeze its recipients, in the caller's transaction.

    False when it was not in `from_statuses` (someone else started it). A campaign that cannot
    run at all (no number, no one in the audience) goes to `failed` with the reason, and a
    notification; that still counts as started (True): the status changed.
    """
    result = session.execute(
        update_stmt(campaign_id, from_statuses).values(
            status=S.RUNNING,
            started_at=now,
            completed_at=None,
            error_message=None,
            error_text=None,
            updated_at=now,
        ),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount != 1:
        return False
    campaign = session.get(Campaign, campaign_id)
    assert campaign is not None
    session.refresh(campaign)
    reason: dict[str, Any] | None = None
    frozen = 0
    if not campaign.instances:
        reason = stored_text.text(stored_text.NO_NUMBER)
    else:
        try:
            frozen = freeze_recipients(session, campaign)
        except ValidationError as error:
            reason = stored_text.text(
                stored_text.INVALID_AUDIENCE, error=stored_text.error_text(error)
            )
        if not reason and frozen == 0:
            reason = stored_text.text(stored_text.EMPTY_AUDIENCE)
    if reason:
        session.execute(
            sql_update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(
                status=S.FAILED,
                error_message=stored_text.english(reason),
                error_text=reason,
                completed_at=now,
                updated_at=now,
            ),
            execution_options={"synchronize_session": False},
        )
        session.refresh(campaign)
        notify(
            session,
            campaign.account_id,
            "campaign_failed",
            {"title": campaign.title},
            reason,
            campaign_id=campaign_id,
        )
    log.info(
        "campaign started",
        extra={
            "campaign_id": campaign_id,
            "recipients": frozen,
            "failed": stored_text.english(reason) if reason else None,
        },
    )
    return True


def freeze_recipients(session: Session, campaign: Campaign) -> int:
    """Resolve the audience once and insert one pending recipient per contact, text rendered."""
    contacts = audience.resolve_audience(session, campaign.account_id, campaign.audience)
    fill = message_template.message_renderer(campaign.message or "")
    rows = [
        {
            "contact_id": contact_id,
            "phone": phone,
            "name": name,
            "rendered_text": fill(name, phone, attributes),
        }
        for contact_id, phone, name, attributes in zip(
            contacts["id"].tolist(),
            contacts["phone"].tolist(),
            contacts["name"].tolist(),
            contacts["custom_attributes"].tolist(),
            strict=True,
        )
    ]
    if rows:
        # Constant columns are SQL literals, not per-row parameters: with 100k rows the per-row
        # bind processing (datetimes above all) would cost about as much as the insert itself.
        statement = insert(CampaignRecipient.__table__).values(
            campaign_id=literal_column(str(int(campaign.id))),
            status=literal_column(f"'{RecipientStatus.PENDING.value}'"),
            attempts=literal_column("0"),
            is_test=false(),
            created_at=func.current_timestamp(),
        )
        session.execute(statement, rows)
    return len(rows)


def start_due(session: Session, now: datetime) -> list[int]:
    """Start the scheduled campaigns whose time has come (the worker's poll); their ids.

    Each start runs in a savepoint: one that breaks is marked failed instead of blocking the rest.
    """
    due = session.scalars(
        select(Campaign.id)
        .join(Account, Account.id == Campaign.account_id)
        .where(
            Campaign.status == S.PENDING,
            Campaign.scheduled_at.is_not(None),
            Campaign.scheduled_at <= now,
            Account.campaigns_enabled.is_(True),
        )
        .order_by(Campaign.scheduled_at, Campaign.id)
    ).all()
    started = []
    for campaign_id in due:
        try:
            with session.begin_nested():
                if start(session, campaign_id, now, (S.PENDING,)):
                    started.append(campaign_id)
        except Exception as error:  # a bug or bad data in one campaign must not stop the others
            log.exception("campaign could not start", extra={"campaign_id": campaign_id})
            crashed = stored_text.text(stored_text.START_CRASHED, error=type(error).__name__)
            with session.begin_nested():
                session.execute(
                    update_stmt(campaign_id, (S.PENDING,)).values(
                        status=S.FAILED,
                        error_message=stored_text.english(crashed),
                        error_text=crashed,
                        completed_at=now,
                        updated_at=now,
                    ),
                    execution_options={"synchronize_session": False},
                )
    return started


# -- tests and estimates ------------------------------------------------------------------------


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
    account = _account(session, actor.account_id)
    if campaign.status not in TEST_STATUSES:
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
        sample = audience.preview_audience(session, account.id, campaign.audience, sample=1).sample
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
            rendered_text=message_template.render_message(campaign.message or "", source),
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


def estimate_for(
    session: Session,
    actor: Actor,
    recipients: int,
    instance_ids: Sequence[int],
    start_at: datetime,
    window: tuple[time | None, time | None, Sequence[int] | None] | None = None,
) -> Estimate:
    """How long `recipients` take through these numbers, starting at `start_at`."""
    require(actor, "campaigns.read")
    account = _account(session, actor.account_id)
    instances = (
        session.scalars(
            select(SenderInstance).where(
                SenderInstance.account_id == actor.account_id,
                SenderInstance.id.in_(list(instance_ids)),
            )
        ).all()
        if instance_ids
        else []
    )
    paces = [
        Pace(
            rate_per_minute=max(1, instance.rate_per_minute),
            extra_delay_max_seconds=instance.extra_delay_max_seconds or 0.0,
            daily_cap=instance.daily_cap,
            window_start=instance.window_start,
            window_end=instance.window_end,
            window_days=instance.window_days,
        )
        for instance in instances
    ]
    return estimate(recipients, paces, start_at, account.timezone, window)


def needs_confirmation(session: Session, actor: Actor, recipients: int) -> bool:
    """Above the account's threshold the UI asks staff to confirm before scheduling."""
    return recipients > _account(session, actor.account_id).confirm_above_recipients
