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
from collections.abc import Callable

import phonenumbers
from phonenumbers import NumberParseException, PhoneMetadata, ValidationResult
from phonenumbers.phonenumberutil import _test_number_length

from core.errors import ValidationError

_FORMATTING = str.maketrans("", "", " -.()")
_NON_GEO = "001"
_MAX_FAST_LENGTH = 40

# One compiled check per region: national significant number -> is it a valid number there?
_validators: dict[str, Callable[[str], bool]] = {}
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


def whatsapp_digits(e164: str) -> str:
    """Digits only, as Evolution wants them ('+5511987654321' -> '5511987654321')."""
    return "".join(ch for ch in e164 if ch.isdigit())


def _full_e164(text: str, region: str | None) -> str:
    shown = text if len(text) <= 40 else text[:37] + "..."
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as error:
        raise ValidationError(f"{shown!r}: {_parse_reason(error, text, region)}", "phone") from None
    if phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise ValidationError(f"{shown!r}: {_invalid_reason(number)}", "phone")


def _parse_reason(error: NumberParseException, text: str, region: str | None) -> str:
    kind = error.error_type
    if kind == NumberParseException.INVALID_COUNTRY_CODE:
        if text.lstrip().startswith(("+", "00")) or region:
            return "unknown country code"
        return "no country code: write it as +<country code> or set a default country"
    if kind == NumberParseException.NOT_A_NUMBER:
        return "not a phone number"
    if kind in (NumberParseException.TOO_SHORT_NSN, NumberParseException.TOO_SHORT_AFTER_IDD):
        return "too short to be a phone number"
    if kind == NumberParseException.TOO_LONG:
        return "too long to be a phone number"
    return "not a phone number"


def _invalid_reason(number: phonenumbers.PhoneNumber) -> str:
    region = phonenumbers.region_code_for_number(number)
    where = (
        f"{region} (+{number.country_code})"
        if region and region != _NON_GEO
        else (f"+{number.country_code}")
    )
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == ValidationResult.TOO_SHORT:
        return f"too short for {where}"
    if reason == ValidationResult.TOO_LONG:
        return f"too long for {where}"
    if reason == ValidationResult.INVALID_LENGTH:
        return f"wrong number of digits for {where}"
    if reason == ValidationResult.INVALID_COUNTRY_CODE:
        return "unknown country code"
    return f"not a valid number in {where} (unknown area code or number range)"


# --- fast path ---------------------------------------------------------------------------------


def _fast_e164(text: str, region: str | None) -> str | None:
    """E.164 when the shape is unambiguous and the number valid; None means "ask the full parser"."""
    if len(text) > _MAX_FAST_LENGTH:
        return None
    plus = text[0] == "+"
    digits = (text[1:] if plus else text).translate(_FORMATTING)
    if not digits.isascii() or not digits.isdigit() or digits[0] == "0":
        return None
    if plus:
        country_code, national = _split_country_code(digits)
        if country_code is None:
            return None
    else:
        metadata = _metadata(region) if region else None
        if metadata is None or metadata.country_code is None:
            return None
        idd = metadata.international_prefix
        if idd and re.match(idd, digits):
            return None
        country_code, national = metadata.country_code, digits
        code = str(country_code)
        if digits.startswith(code):
            # Typed without '+': the parser takes the country code off when the rest is a
            # better fit (the same rule, in the same order, as phonenumbers).
            rest = digits[len(code) :]
            if _may_strip_national_prefix(rest, metadata):
                return None
            general = metadata.general_desc.national_number_pattern
            if (
                not re.fullmatch(general, digits) and re.fullmatch(general, rest)
            ) or _test_number_length(digits, metadata) == ValidationResult.TOO_LONG:
                national = rest
    if national[:1] == "0" or len(national) < 2:
        return None
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions or regions[0] == _NON_GEO:
        return None
    main = _metadata(regions[0])
    if main is None or _may_strip_national_prefix(national, main):
        return None
    if _valid_for_code(national, regions):
        return f"+{country_code}{national}"
    return None


def _split_country_code(digits: str) -> tuple[int | None, str]:
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code, digits[size:]
    return None, digits


def _may_strip_national_prefix(national: str, metadata: PhoneMetadata) -> bool:
    pattern = metadata.national_prefix_for_parsing
    if not pattern:
        return False
    match = re.match(pattern, national)
    if match is None:
        return False
    return match.end() > 0 or any(group is not None for group in match.groups())


def _valid_for_code(national: str, regions: tuple[str, ...] | list[str]) -> bool:
    """phonenumbers' is_valid_number: the region chosen as region_code_for_number does it."""
    if len(regions) == 1:
        return _validator(regions[0])(national)
    for region in regions:
        metadata = _metadata(region)
        if metadata is None:
            continue
        if metadata.leading_digits is not None:
            if re.match(metadata.leading_digits, national):
                return _validator(region)(national)
        elif _validator(region)(national):
            return True
    return False


def _metadata(region: str) -> PhoneMetadata | None:
    if region not in _region_metadata:
        _region_metadata[region] = PhoneMetadata.metadata_for_region(region, None)
    return _region_metadata[region]


def _validator(region: str) -> Callable[[str], bool]:
    check = _validators.get(region)
    if check is None:
        check = _validators[region] = _build_validator(_metadata(region))
    return check


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
