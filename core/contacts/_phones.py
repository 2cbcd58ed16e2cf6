"""Phone numbers: anything staff type or import, normalised to E.164 with `phonenumbers`.

`normalize_phone` gives the same answer as `phonenumbers.parse` + `is_valid_number` + E.164
formatting. Because a full parse costs 20-60 µs, a fast path handles the common shapes
("+55 (11) 98765-4321", "11 98765-4321" with a default country) by building the validity
check from phonenumbers' own metadata; whenever a shape could be read differently by the full
parser (national prefixes, international dialling prefixes, a country code typed without '+',
leading zeros, non-geographic codes, unusual characters), it steps aside and the full parser
decides. `tests/test_phones.py` checks the two agree on random input.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, ValidationResult
from phonenumbers.phonenumberutil import _test_number_length

from core.base import ValidationError
from core.i18n import N_, entry

_FORMATTING = str.maketrans("", "", " -.()")
_NON_GEO = "001"
_MAX_FAST_LENGTH = 40

# One compiled check per region: national significant number -> is it a valid number there?
_region_metadata: dict[str, PhoneMetadata | None] = {}


def normalize_phone(raw: str, default_country: str | None = None) -> str:
    """The number as E.164 ('+5511987654321'); `ValidationError` says why it cannot be one.

    `default_country` (two letters) is used for numbers written without a country code.
    """
    text = (raw or "").strip()
    region = default_country.strip().upper() if default_country else None
    if not text:
        raise ValidationError("phone is empty", "phone")
    fast = _fast_e164(text, region)
    if fast is not None:
        return fast
    return _full_e164(text, region)


def _full_e164(text: str, region: str | None) -> str:
    shown = text if len(text) <= 40 else text[:37] + "..."
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as error:
        # phonenumbers keeps the exception it re-raises from in a local (sys.exc_info()): a
        # reference cycle through the frames, which a big import would leave to the collector.
        traceback.clear_frames(error.__traceback__)
        raise ValidationError(
            "{phone!r}: {problem}", "phone", phone=shown, problem=_parse_reason(error, text, region)
        ) from None
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise ValidationError(
        "{phone!r}: {problem}", "phone", phone=shown, problem=_invalid_reason(number)
    )


# Why a number is not one, as messages (`core.i18n.entry`) nested in the error's: the import's
# rejection reasons repeat them for many rows, so they are built once.
_UNKNOWN_CODE = entry(N_("unknown country code"))
_NO_CODE = entry(N_("no country code: write it as +<country code> or set a default country"))
_NOT_A_NUMBER = entry(N_("not a phone number"))
_TOO_SHORT = entry(N_("too short to be a phone number"))
_TOO_LONG = entry(N_("too long to be a phone number"))


def _parse_reason(error: NumberParseException, text: str, region: str | None) -> dict[str, Any]:
    kind = error.error_type
    if kind == NumberParseException.INVALID_COUNTRY_CODE:
        if text.lstrip().startswith(("+", "00")) or region:
            return _UNKNOWN_CODE
        return _NO_CODE
    if kind == NumberParseException.NOT_A_NUMBER:
        return _NOT_A_NUMBER
    if kind in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
        return _TOO_SHORT
    if kind == NumberParseException.TOO_LONG:
        return _TOO_LONG
    return _NOT_A_NUMBER


def _invalid_reason(number: phonenumbers.PhoneNumber) -> dict[str, Any]:
    region = phonenumbers.region_code_for_number(number)
    where = (
        f"{region} (+{number.country_code})"
        if region and region != _NON_GEO
        else (f"+{number.country_code}")
    )
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == ValidationResult.TOO_SHORT:
        return entry(N_("too short for {where}"), {"where": where})
    if reason == ValidationResult.TOO_LONG:
        return entry(N_("too long for {where}"), {"where": where})
    if reason == ValidationResult.INVALID_LENGTH:
        return entry(N_("wrong number of digits for {where}"), {"where": where})
    if reason == ValidationResult.INVALID_COUNTRY_CODE:
        return _UNKNOWN_CODE
    return entry(
        N_("not a valid number in {where} (unknown area code or number range)"), {"where": where}
    )


# --- fast path ---------------------------------------------------------------------------------


def _fast_e164(text: str, region: str | None) -> str | None:
    """E.164 when the shape is unambiguous and the number valid; None means "ask the full parser"."""
    if len(text) > _MAX_FAST_LENGTH:
        return None
    plus = text[0] == "+"
    digits = (text[1:] if plus else text).translate(_FORMATTING)
    if not digits.isdigit() or not digits.isascii() or digits[0] == "0":
        return None
    if plus:
        code = digits[:1] if digits[:1] in _CODES else None
        code = code or (digits[:2] if digits[:2] in _CODES else None)
        code = code or (digits[:3] if digits[:3] in _CODES else None)
        if code is None:
            return None
        national = digits[len(code) :]
        parsing = None  # the parser reads the number with its country's main metadata
    else:
        parsing = _region(region) if region else None
        if parsing is None:
            return None
        if parsing.idd is not None and parsing.idd.match(digits):
            return None
        code, national = parsing.code, digits
        if digits.startswith(code):
            # Typed without '+': the parser takes the country code off when the rest is a
            # better fit (the same rule, in the same order, as phonenumbers).
            rest = digits[len(code) :]
            if parsing.may_strip_prefix(rest):
                return None
            general = parsing.general
            if (
                general is not None and not general.fullmatch(digits) and general.fullmatch(rest)
            ) or _test_number_length(digits, parsing.metadata) == ValidationResult.TOO_LONG:
                national, parsing = rest, None
    if national[:1] == "0" or len(national) < 2:
        return None
    group = _code_group(code)
    if group is None:
        return None
    if (parsing or group[0]).may_strip_prefix(national):
        return None
    if _valid_in_group(national, group):
        return "+" + code + national
    return None


class _Region:
    """What the fast path needs of one region's metadata, with its patterns compiled once."""

    __slots__ = ("code", "general", "idd", "leading", "metadata", "prefix", "valid")

    def __init__(self, metadata: PhoneMetadata) -> None:
        self.metadata = metadata
        self.code = str(metadata.country_code)
        general = metadata.general_desc
        pattern = general.national_number_pattern if general is not None else None
        self.general = re.compile(pattern) if pattern else None
        self.idd = (
            re.compile(metadata.international_prefix) if metadata.international_prefix else None
        )
        prefix = metadata.national_prefix_for_parsing
        self.prefix = re.compile(prefix) if prefix else None
        self.leading = re.compile(metadata.leading_digits) if metadata.leading_digits else None
        self.valid = _build_validator(metadata)

    def may_strip_prefix(self, national: str) -> bool:
        """Whether the parser could take a national prefix or carrier code off this number."""
        if self.prefix is None:
            return False
        match = self.prefix.match(national)
        if match is None:
            return False
        return match.end() > 0 or any(group is not None for group in match.groups())


_CODES = {str(code) for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE}
_regions: dict[str, _Region | None] = {}
_groups: dict[str, tuple[_Region, ...] | None] = {}


def _region(region: str) -> _Region | None:
    if region not in _regions:
        metadata = _metadata(region)
        ok = metadata is not None and metadata.country_code is not None
        _regions[region] = _Region(metadata) if ok else None  # type: ignore[arg-type]
    return _regions[region]


def _code_group(code: str) -> tuple[_Region, ...] | None:
    """The regions sharing a country code, main region first; None for non-geographic codes."""
    if code not in _groups:
        names = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(int(code)) or ()
        regions = tuple(r for r in (_region(n) for n in names if n != _NON_GEO) if r)
        geographic = bool(names) and names[0] != _NON_GEO and len(regions) == len(names)
        _groups[code] = regions if geographic and regions else None
    return _groups[code]


def _valid_in_group(national: str, group: tuple[_Region, ...]) -> bool:
    """phonenumbers' is_valid_number: valid in the region region_code_for_number picks."""
    if len(group) == 1:
        return group[0].valid(national)
    for region in group:
        if region.leading is not None:
            if region.leading.match(national):
                return region.valid(national)
        elif region.valid(national):
            return True
    return False


def _metadata(region: str) -> PhoneMetadata | None:
    if region not in _region_metadata:
        _region_metadata[region] = PhoneMetadata.metadata_for_region(region, None)
    return _region_metadata[region]


def _build_validator(metadata: PhoneMetadata | None) -> Callable[[str], bool]:
    """General description matches, and at least one number type does (per length, one regex)."""
    if metadata is None or metadata.general_desc is None:
        return lambda _national: False
    general = metadata.general_desc
    if not general.national_number_pattern:
        return lambda _national: False
    general_lengths = set(general.possible_length or ())
    general_re = re.compile(general.national_number_pattern)
    descs = [
        metadata.premium_rate,
        metadata.toll_free,
        metadata.shared_cost,
        metadata.voip,
        metadata.personal_number,
        metadata.pager,
        metadata.uan,
        metadata.voicemail,
        metadata.fixed_line,
    ]
    if not metadata.same_mobile_and_fixed_line_pattern:
        descs.append(metadata.mobile)
    typed = [
        (set(desc.possible_length or ()), desc.national_number_pattern)
        for desc in descs
        if desc is not None and desc.national_number_pattern
    ]
    by_length: dict[int, re.Pattern[str] | None] = {}

    def for_length(length: int) -> re.Pattern[str] | None:
        if length not in by_length:
            patterns = [p for lengths, p in typed if not lengths or length in lengths]
            by_length[length] = (
                re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
            )
        return by_length[length]

    def check(national: str) -> bool:
        length = len(national)
        if general_lengths and length not in general_lengths:
            return False
        if general_re.fullmatch(national) is None:
            return False
        combined = for_length(length)
        return combined is not None and combined.fullmatch(national) is not None

    return check
