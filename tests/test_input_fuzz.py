"""Property tests of the parsers that take outside input (issue 16, fuzz): whatever they are
given, they answer a bounded value or a ValidationError, never another exception."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from core.base import EARLIEST, LATEST, ValidationError, json_depth_exceeds, parse_datetime
from core.contacts import check_attribute_value
from core.contacts._row_parser import RowRejected, row_parser

ZONES = st.sampled_from(["UTC", "America/Sao_Paulo", "Pacific/Kiritimati", "Etc/GMT+12"])
OFFSETS = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@settings(max_examples=300, deadline=None)
@given(st.datetimes(timezones=st.none() | OFFSETS), ZONES)
def test_any_datetime_is_bounded_or_refused(moment, zone):
    for value in (moment, moment.isoformat()):
        try:
            parsed = parse_datetime(value, "scheduled_at", zone)
        except ValidationError as error:
            assert error.field == "scheduled_at"
        else:
            assert parsed.tzinfo is UTC and EARLIEST <= parsed <= LATEST


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), ZONES)
def test_any_text_is_a_bounded_datetime_or_refused(raw, zone):
    try:
        parsed = parse_datetime(raw, "scheduled_at", zone)
    except ValidationError as error:
        assert error.field == "scheduled_at"
    else:
        assert parsed is None or EARLIEST <= parsed <= LATEST


@given(st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2100, 12, 30)))
def test_every_moment_inside_the_range_is_taken(moment):
    assert parse_datetime(moment.replace(tzinfo=UTC), "x") == moment.replace(tzinfo=UTC)


@given(st.floats() | st.integers() | st.booleans() | st.text(max_size=1200))
def test_attribute_values_are_finite_and_short_or_refused(value):
    try:
        kept = check_attribute_value("x", value)
    except ValidationError:
        assert (isinstance(value, float) and not math.isfinite(value)) or (
            isinstance(value, str) and (len(value) > 1000 or "\x00" in value)
        )
    else:
        assert kept is value
        assert not isinstance(kept, float) or math.isfinite(kept)


PARSE = row_parser(["phone", "n"], {"phone": "phone", "n": "number"}, "BR")
PARSE_AUTO = row_parser(["phone", "a"], {"phone": "phone", "a": "auto"}, "BR")
NUMBERISH = st.from_regex(r"[+-]?\d{0,420}([.,]\d{0,20})?(e\d{1,4})?", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(NUMBERISH | st.text(max_size=50))
def test_csv_numbers_are_finite_or_the_row_is_rejected(cell):
    for parse in (PARSE, PARSE_AUTO):
        try:
            row = parse(2, ["+5511999990001", cell])
        except RowRejected:
            continue
        values = row[4]
        assert all(not isinstance(v, float) or math.isfinite(v) for v in values.values())
        json.loads(row[5])  # what is stored is JSON (no Infinity, no NaN)


JSON = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab', max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=80,
)


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(JSON, st.integers(min_value=0, max_value=8))
def test_the_depth_check_agrees_with_the_parsed_depth(value, limit):
    raw = json.dumps(value).encode()
    assert json_depth_exceeds(raw, limit) == (_depth(value) > limit)
