"""An account's settings, read and changed by its admins: name, timezone, default country and
language, opt-out keywords, the notification webhook, the campaigns switch, the confirmation size, the reply window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from sqlalchemy.orm import Session

from core.base import ValidationError, check_outbound_url
from core.models import Account
from core.people import _audit as audit
from core.people._access import Actor, require
from core.people._accounts import get_account, validate_country, validate_timezone
from core.people._languages import validate_language

MAX_CONFIRM_ABOVE = 1_000_000
MAX_KEYWORD_LENGTH = 40
MAX_REPLY_WINDOW_DAYS = 90


@dataclass(frozen=True)
class AccountSettings:
    name: str
    timezone: str
    default_country: str | None
    language: str
    opt_out_keywords: list[str]
    notification_webhook_url: str | None
    campaigns_enabled: bool
    confirm_above_recipients: int
    reply_window_days: int = 3


def account_settings(session: Session, actor: Actor) -> AccountSettings:
    require(actor, "settings.manage")
    account = get_account(session, actor.account_id)
    return AccountSettings(
        name=account.name,
        timezone=account.timezone,
        default_country=account.default_country,
        language=account.language,
        opt_out_keywords=list(account.opt_out_keywords or []),
        notification_webhook_url=account.notification_webhook_url,
        campaigns_enabled=account.campaigns_enabled,
        confirm_above_recipients=account.confirm_above_recipients,
        reply_window_days=account.reply_window_days,
    )


def update_account_settings(session: Session, actor: Actor, changes: dict[str, Any]) -> Account:
    """Validate every field first (all problems reported at once); write nothing unless all pass."""
    require(actor, "settings.manage")
    account = get_account(session, actor.account_id)
    unknown = set(changes) - set(AccountSettings.__dataclass_fields__)
    if unknown:
        raise ValidationError("unknown setting(s): {names}", names=", ".join(sorted(unknown)))
    clean: dict[str, Any] = {}
    problems: list[dict[str, Any]] = []
    for field, value in changes.items():
        try:
            clean[field] = _VALIDATORS[field](value)
        except ValidationError as error:
            problems.append(error.detail(field))
    if problems:
        raise ValidationError.several(problems, joined=True)
    changed = {field: value for field, value in clean.items() if getattr(account, field) != value}
    for field, value in changed.items():
        setattr(account, field, value)
    if changed:
        # The webhook URL may carry a secret in its path or query: record that it changed only.
        details = {
            field: ("(changed)" if field == "notification_webhook_url" else value)
            for field, value in changed.items()
        }
        audit.record_audit(
            session, actor, "account.settings_changed", "account", account.id, details
        )
    session.flush()
    return account


def _name(value: Any) -> str:
    name = str(value or "").strip()
    if not name:
        raise ValidationError("the account name must not be empty", "name")
    if len(name) > 200:
        raise ValidationError("the account name must have at most 200 characters", "name")
    return name


def _timezone(value: Any) -> str:
    return validate_timezone(str(value or "").strip())


def _keywords(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.replace("\n", ",").split(",")
    if not isinstance(value, list | tuple):
        raise ValidationError("opt-out keywords must be a list of words", "opt_out_keywords")
    keywords: list[str] = []
    for raw in value:
        word = " ".join(str(raw).split()).upper()
        if not word:
            continue
        if len(word) > MAX_KEYWORD_LENGTH:
            raise ValidationError(
                "opt-out keyword {word!r} is longer than {count} characters",
                "opt_out_keywords",
                word=word,
                count=MAX_KEYWORD_LENGTH,
            )
        if word not in keywords:
            keywords.append(word)
    if not keywords:
        # Without a keyword nobody could opt out by replying; that would break the law in places.
        raise ValidationError(
            "keep at least one opt-out keyword (such as STOP)", "opt_out_keywords"
        )
    return keywords


def _webhook_url(value: Any) -> str | None:
    url = str(value or "").strip()
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValidationError(
            "the notification webhook URL must start with http:// or https:// and name a host",
            "notification_webhook_url",
        )
    if len(url) > 500:
        raise ValidationError(
            "the notification webhook URL must have at most 500 characters",
            "notification_webhook_url",
        )
    check_outbound_url(url, "notification_webhook_url")
    return url


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("campaigns_enabled must be true or false", "campaigns_enabled")
    return value


def _confirm_above(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError(
            "confirm_above_recipients must be a whole number", "confirm_above_recipients"
        )
    try:
        number = int(value)
    except ValueError:
        raise ValidationError(
            "confirm_above_recipients must be a whole number", "confirm_above_recipients"
        ) from None
    if not 0 <= number <= MAX_CONFIRM_ABOVE:
        raise ValidationError(
            "confirm_above_recipients must be between 0 and {limit}",
            "confirm_above_recipients",
            limit=MAX_CONFIRM_ABOVE,
        )
    return number


def _reply_window(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValidationError("reply_window_days must be a whole number", "reply_window_days")
    try:
        days = int(value)
    except ValueError:
        raise ValidationError(
            "reply_window_days must be a whole number", "reply_window_days"
        ) from None
    if not 1 <= days <= MAX_REPLY_WINDOW_DAYS:
        raise ValidationError(
            "reply_window_days must be between 1 and {limit}",
            "reply_window_days",
            limit=MAX_REPLY_WINDOW_DAYS,
        )
    return days


_VALIDATORS = {
    "name": _name,
    "timezone": _timezone,
    "default_country": validate_country,
    "language": validate_language,
    "opt_out_keywords": _keywords,
    "notification_webhook_url": _webhook_url,
    "campaigns_enabled": _flag,
    "confirm_above_recipients": _confirm_above,
    "reply_window_days": _reply_window,
}
