"""What staff send for a campaign, checked field by field: every problem named with its field at once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import contacts
from core.base import ValidationError, get_settings, parse_datetime
from core.campaigns import _audience as audience
from core.campaigns import _media as media
from core.campaigns import _templates as message_template
from core.campaigns import _variants as variants
from core.campaigns._auto_retry import MAX_HOURS, MAX_LIMIT
from core.campaigns._criteria import validate_audience
from core.campaigns._queries import instance_ids_of
from core.i18n import N_
from core.models import (
    Account,
    Campaign,
    CampaignStatus,
    Contact,
    SenderInstance,
)
from core.people import Actor

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
    "auto_retry_hours",
    "auto_retry_limit",
    "track_links",
    "deliver_in_recipient_timezone",
    "variants",
    "ab_test",
    "holdout_share",
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
        "allowed_actions",
        "paused_by",
        "auto_retries_done",
        "auto_retry_at",
        "ab_winner",
        "ab_decided_at",
        "ab_decision",
    }
)

SCHEDULE_GRACE = timedelta(minutes=1)  # a time picked "now" in a form is a few seconds old on save


def parse_scheduled_at(value: Any, timezone: str) -> datetime | None:
    """ISO 8601 text or a datetime, as UTC, within years 2000-2100 (`core.base.parse_datetime`).
    A time without an offset is in the account's zone."""
    return parse_datetime(value, "scheduled_at", timezone)


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


def _check_contact_ids(session: Session, account_id: int, wanted: list[int]) -> None:
    """Every id a contact of this account: another account's ids are refused, never kept
    (they would match nobody here, and say which ids exist elsewhere if they did)."""
    found: set[int] = set()
    for start in range(0, len(wanted), 10_000):  # bound the statement's parameters
        chunk = wanted[start : start + 10_000]
        found.update(
            session.scalars(
                select(Contact.id).where(Contact.account_id == account_id, Contact.id.in_(chunk))
            )
        )
    missing = [i for i in wanted if i not in found]
    if missing:
        raise ValidationError(
            "audience.contact_ids: no contact with id {ids} in this account",
            "audience.contact_ids",
            ids=", ".join(str(i) for i in missing[:10]) + (" …" if len(missing) > 10 else ""),
        )


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
    if "\x00" in value:
        raise ValidationError("title contains a NUL character", "title")
    if len(value.strip()) > 255:
        raise ValidationError("title is longer than 255 characters", "title")
    return value.strip()


def _whole(value: Any, key: str, high: int) -> int | None:
    """An optional whole number from 1 to `high` (None or 0: off)."""
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ValidationError(
            "{key} must be a whole number from 1 to {high}, or empty to turn it off",
            key,
            key=key,
            high=high,
        )
    return value


def _track_links(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValidationError("track_links must be true or false", "track_links")
    if value and not get_settings().public_api_url:
        raise ValidationError(
            "track_links needs PUBLIC_API_URL: the address where recipients' phones reach the "
            "API, for the short links",
            "track_links",
        )
    return value


def _status(value: Any) -> CampaignStatus:
    if value not in (CampaignStatus.DRAFT, CampaignStatus.PENDING):
        raise ValidationError(
            "status must be 'draft' or 'pending' (use trigger, pause, resume or cancel for "
            "the others)",
            "status",
        )
    return CampaignStatus(value)


def _known_attributes(session: Session, actor: Actor, message: str) -> set[str]:
    """The attribute names the message may use: checked one by one for the variables it uses,
    and only when one is missing all of them (for the error's list of known names)."""
    wanted = message_template.message_variables(message) - set(message_template.BUILTIN_VARIABLES)
    used = contacts.attribute_keys_used(session, actor, wanted)
    return used if used == wanted else set(contacts.attribute_keys(session, actor))


def clean_fields(
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
        # A new campaign with a time and no status is scheduled (what the seed's API clients
        # expect); `draft` only when asked for. A change keeps the status unless sent.
        scheduled = data.get("scheduled_at") not in (None, "")
        default = CampaignStatus.PENDING if creating and scheduled else CampaignStatus.DRAFT
        values["status"] = errors.check("status", _status, data.get("status") or default)
    if given("audience"):
        values["audience"] = errors.check("audience", validate_audience, data.get("audience"))
        if values["audience"] and values["audience"].get("contact_ids"):
            errors.check(
                "audience.contact_ids",
                _check_contact_ids,
                session,
                account.id,
                values["audience"]["contact_ids"],
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
    if given("deliver_in_recipient_timezone"):
        flag = data.get("deliver_in_recipient_timezone")
        if flag is None:
            pass  # not given (the API sends null for fields left out)
        elif not isinstance(flag, bool):
            errors.add(
                "deliver_in_recipient_timezone",
                N_("deliver_in_recipient_timezone must be true or false"),
            )
        else:
            values["deliver_in_recipient_timezone"] = flag
    if given("auto_retry_hours"):
        values["auto_retry_hours"] = errors.check(
            "auto_retry_hours", _whole, data.get("auto_retry_hours"), "auto_retry_hours", MAX_HOURS
        )
    if given("auto_retry_limit"):
        limit = errors.check(
            "auto_retry_limit", _whole, data.get("auto_retry_limit"), "auto_retry_limit", MAX_LIMIT
        )
        values["auto_retry_limit"] = limit or 1
    if given("track_links"):
        values["track_links"] = errors.check("track_links", _track_links, data.get("track_links"))
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

    _clean_experiment(session, actor, account, data, given, final, values, errors)
    multimedia = final("multimedia")
    if (given("message") or given("multimedia")) and not final("variants"):
        message = data.get("message") if given("message") else final("message")
        if message is None or (isinstance(message, str) and not message.strip()):
            if not multimedia and "multimedia" not in errors.fields():
                errors.add("message", N_("message must not be empty"))
            values["message"] = ""
        elif not isinstance(message, str):
            errors.add("message", N_("message must be text"))
        elif "\x00" in message:
            errors.add("message", N_("message contains a NUL character"))
        else:
            known = _known_attributes(session, actor, message)
            values["message"] = errors.check(
                "message", message_template.validate_message, message, known
            )
    elif not creating and "variants" not in data:
        # With variants the message is variant A's: a change goes through `variants`, or it
        # would be lost silently (the same values sent back are fine).
        for key in ("message", "multimedia"):
            if key in data and (data[key] or None) != (getattr(current, key) or None):
                errors.add(key, N_("this campaign has variants: change its messages in variants"))
    if final("status") == CampaignStatus.PENDING and not errors.items:
        if not (instance_ids if instance_ids is not None else instance_ids_of(current)):
            errors.add("instance_ids", N_("choose at least one WhatsApp number to send through"))
        if "audience" in values or (
            current is not None and current.status != CampaignStatus.PENDING
        ):
            reach = audience.preview_for_account(session, account.id, final("audience"), sample=0)
            if reach.count == 0:
                errors.add("audience", N_("the audience matches no contacts who can receive it"))
    errors.raise_any()
    return values, instance_ids


def _clean_experiment(
    session: Session,
    actor: Actor,
    account: Account,
    data: Mapping[str, Any],
    given: Any,
    final: Any,
    values: dict[str, Any],
    errors: _Errors,
) -> None:
    """Variants (their first one mirrored into message/multimedia), the A/B test, the holdout."""

    def check_message(text: str, field: str) -> str:
        known = _known_attributes(session, actor, text)
        return message_template.validate_message(text, known, field)

    if given("variants"):
        found = errors.check(
            "variants",
            variants.validate_variants,
            session,
            account.id,
            data.get("variants"),
            check_message,
        )
        values["variants"] = found
        if found:
            values["message"] = found[0]["message"]
            values["multimedia"] = found[0]["multimedia"]
    if given("holdout_share"):
        values["holdout_share"] = errors.check(
            "holdout_share", variants.validate_holdout_share, data.get("holdout_share")
        )
    if given("ab_test") or given("variants") or given("track_links"):
        wanted = data.get("ab_test") if given("ab_test") else final("ab_test")
        has_variants = bool(final("variants")) or "variants" in errors.fields()
        values["ab_test"] = errors.check(
            "ab_test", variants.validate_ab_test, wanted, has_variants, bool(final("track_links"))
        )


def check_startable(session: Session, campaign: Campaign) -> None:
    """What a campaign needs to start: a number to send through and someone to receive it."""
    if not campaign.instances:
        raise ValidationError("choose at least one WhatsApp number to send through", "instance_ids")
    reach = audience.preview_for_account(session, campaign.account_id, campaign.audience, sample=0)
    if reach.count == 0:
        raise ValidationError("the audience matches no contacts who can receive it", "audience")
