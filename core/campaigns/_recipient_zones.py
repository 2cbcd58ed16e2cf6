"""Each recipient's own timezone, for campaigns that deliver in the recipient's local time.

In order: the contact's attribute `timezone` when it names a real zone (staff know best), else
the zone of the phone number's country or area (phonenumbers' data: one zone for most numbers;
where it gives several, the account's if it is one of them, else the first), else the account's.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from phonenumbers import timezone as phone_zones

ATTRIBUTE = "timezone"


@lru_cache(maxsize=1)
def _known() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=4096)
def _zones_of_prefix(phone: str) -> tuple[str, ...]:
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = phone_zones.time_zones_for_number(number)
    return tuple(z for z in zones if z in _known())


def recipient_zone(
    phone: str | None, attributes: Mapping[str, Any] | None, account_zone: str
) -> str:
    given = (attributes or {}).get(ATTRIBUTE)
    if isinstance(given, str) and given.strip() in _known():
        return given.strip()
    zones = _zones_of_prefix(phone or "")
    if zones:
        return account_zone if account_zone in zones else zones[0]
    return account_zone if account_zone in _known() else "UTC"


def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)
