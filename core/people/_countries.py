"""The country of numbers written without +country: guessed when an account is made, remembered
per person when they import.

An account's default country comes from its timezone (`country_for_timezone`, the tz database's
own zone -> country table: America/Sao_Paulo -> BR), so `make run` asks nothing; a browser's
language or timezone suggests one where the account has none (`suggested_country`). The country a
person last typed in the import's box is kept on their membership (`remember_import_country`) and
offered first next time (`import_country`).
"""

from __future__ import annotations

import functools
import zoneinfo
from importlib import resources
from pathlib import Path

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.models import Account, Membership
from core.people._access import Actor


def country_for_timezone(name: str | None) -> str | None:
    """'America/Sao_Paulo' -> 'BR'; None for UTC, unknown names and zones of several countries."""
    if not name:
        return None
    country = _zone_countries().get(name.strip())
    return country if country in phonenumbers.SUPPORTED_REGIONS else None


def country_for_locale(locale: str | None) -> str | None:
    """A browser's language -> its country: 'pt-BR' -> 'BR', 'es_MX' -> 'MX', 'es' -> None."""
    if not locale:
        return None
    parts = locale.replace("_", "-").split("-")
    region = next((p.upper() for p in parts[1:] if len(p) == 2 and p.isalpha()), None)
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


def suggested_country(locale: str | None, timezone: str | None) -> str | None:
    """What a browser says: its language's country, else its timezone's."""
    return country_for_locale(locale) or country_for_timezone(timezone)


def import_country(session: Session, actor: Actor) -> str | None:
    """The country to offer in the actor's import box: their last choice, else the account's."""
    remembered = None
    if actor.user_id is not None:
        remembered = session.scalar(
            select(Membership.import_country).where(
                Membership.user_id == actor.user_id, Membership.account_id == actor.account_id
            )
        )
    return remembered or session.scalar(
        select(Account.default_country).where(Account.id == actor.account_id)
    )


def remember_import_country(session: Session, actor: Actor, country: str | None) -> None:
    """Keep the actor's choice for next time (in the caller's transaction). A system actor, or
    no choice, keeps nothing."""
    if not country or actor.user_id is None:
        return
    session.execute(
        update(Membership)
        .where(Membership.user_id == actor.user_id, Membership.account_id == actor.account_id)
        .values(import_country=country),
        execution_options={"synchronize_session": False},
    )


@functools.cache
def _zone_countries() -> dict[str, str]:
    """zone.tab: one zone -> its country (zone1970.tab lists several for shared zones)."""
    text = _zone_table()
    countries: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) >= 3:
            countries.setdefault(fields[2], fields[0])
    return countries


def _zone_table() -> str:
    for directory in zoneinfo.TZPATH:
        path = Path(directory) / "zone.tab"
        if path.is_file():
            return path.read_text(encoding="utf-8")
    try:  # no system tz database (Windows, slim images): the tzdata package's copy
        return (resources.files("tzdata") / "zoneinfo" / "zone.tab").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return ""
