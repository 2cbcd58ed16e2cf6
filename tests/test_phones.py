"""Phone normalisation: E.164 out, a clear reason otherwise, and the fast path never disagrees."""

from __future__ import annotations

import gc

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.base import ValidationError
from core.contacts import normalize_phone
from core.contacts._phones import _fast_e164


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("+55 11 98765-4321", None, "+5511987654321"),
        ("(11) 98765-4321", "BR", "+5511987654321"),
        ("11987654321", "BR", "+5511987654321"),
        ("5511987654321", "BR", "+5511987654321"),  # country code typed without '+'
        ("011 98765-4321", "BR", "+5511987654321"),  # trunk prefix 0
        ("0055 11 98765 4321", "PT", "+5511987654321"),  # international dialling prefix
        ("+1 (415) 555-2671", "BR", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("+52 55 1234 5678", None, "+525512345678"),
        ("+34 612 34 56 78", None, "+34612345678"),
        ("+351 912 345 678", None, "+351912345678"),
        ("  +55 21 99876 5432  ", None, "+5521998765432"),
        ("'+5511987654321", None, "+5511987654321"),  # as our own CSV export writes it
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, country: str | None, expected: str) -> None:
    assert normalize_phone(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country", "reason"),
    [
        ("", "BR", "phone is empty"),
        ("   ", "BR", "phone is empty"),
        ("abc", "BR", "not a phone number"),
        ("11987654321", None, "no country code"),
        ("+999 1234 5678", None, "unknown country code"),
        ("123", "BR", "too short"),
        ("+55 11 98765-43210000", None, "too long"),
        ("+55 11 1234", None, "too short for BR (+55)"),
        ("+55 00 98765-4321", None, "not a valid number in BR (+55)"),
        ("1" * 30, "BR", "too long"),
    ],
)
def test_invalid_numbers_say_why(raw: str, country: str | None, reason: str) -> None:
    with pytest.raises(ValidationError) as error:
        normalize_phone(raw, country)
    assert reason in error.value.message
    assert error.value.field == "phone"


def _reference(raw: str, country: str | None) -> str | None:
    """What phonenumbers alone says: the E.164 form of a valid number, else None."""
    try:
        number = phonenumbers.parse(raw, country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


REGIONS = st.sampled_from(
    [
        "BR",
        "US",
        "CA",
        "MX",
        "AR",
        "CO",
        "CL",
        "PE",
        "ES",
        "PT",
        "GB",
        "DE",
        "IT",
        "FR",
        "IN",
        "RU",
        "KZ",
        "AU",
        "NL",
        None,
    ]
)
CODES = st.sampled_from(
    [
        "55",
        "1",
        "52",
        "54",
        "57",
        "56",
        "51",
        "34",
        "351",
        "44",
        "49",
        "39",
        "33",
        "91",
        "7",
        "61",
        "31",
        "800",
        "882",
        "",
    ]
)
PUNCTUATION = st.sampled_from(["", " ", "-", ".", "(", ")", "  "])


@st.composite
def phone_like(draw: st.DrawFn) -> str:
    plus = draw(st.sampled_from(["", "+", "00", "0"]))
    code = draw(CODES)
    digits = draw(st.text(alphabet="0123456789", min_size=0, max_size=13))
    pieces = [plus, code]
    for digit in digits:
        pieces.append(draw(PUNCTUATION) if draw(st.booleans()) else "")
        pieces.append(digit)
    return "".join(pieces)


@settings(max_examples=1500, deadline=None)
@given(raw=phone_like(), country=REGIONS)
def test_fast_path_agrees_with_phonenumbers(raw: str, country: str | None) -> None:
    text = raw.strip()
    fast = _fast_e164(text, country) if text else None
    if fast is not None:
        assert fast == _reference(text, country)
    expected = _reference(text, country) if text else None
    if expected is None:
        with pytest.raises(ValidationError):
            normalize_phone(raw, country)
    else:
        assert normalize_phone(raw, country) == expected


def test_refused_numbers_leave_no_reference_cycles_behind() -> None:
    """A big import pauses the cycle collector: a refused number must be freed by refcounting."""
    gc.collect()
    gc.disable()
    try:
        for raw in [
            "abc",
            "123",
            "+999 123 456",
            "(11) 1234",
            "0800",
            "n/a",
            "+55 11 12345-6789012",
        ]:
            with pytest.raises(ValidationError):
                normalize_phone(raw, "BR")
        assert gc.collect() == 0
    finally:
        gc.enable()
