"""Experiments: a campaign's message variants, its A/B test share and its holdout group.

Each recipient is assigned when the campaign starts, from hashes of (campaign, contact) alone, so
a restart, a retry or freezing again gives every contact the same answer:

- held out or not: one hash (salt "holdout") in [0, 1) below `holdout_share`;
- in the test share or not (A/B test only): an independent hash (salt "test") below `test_share`;
- its variant: a third hash (salt "variant") against the cumulative weights.

A held-out recipient gets no variant and is never sent. With an A/B test, the rest of the
audience waits (`awaiting_winner`, no variant) until the winner is decided
(`_ab_decision`). Independent hashes keep the three choices from leaning on each other: the
held-out are not mostly variant A, the test share is not mostly one variant.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from core.base import ValidationError
from core.campaigns._media import validate_multimedia
from core.models import AbMetric, Campaign

MIN_VARIANTS = 2
MAX_VARIANTS = 5
MAX_WEIGHT = 1000
MAX_HOLDOUT_SHARE = 0.5
MAX_DECIDE_AFTER_MINUTES = 7 * 24 * 60  # a week
VARIANT_KEYS = ("message", "multimedia", "weight")
AB_TEST_KEYS = ("test_share", "decide_after_minutes", "metric")
_UNIT = float(2**64)


def variant_letter(index: int) -> str:
    """How pages name a variant: A, B, C..."""
    return chr(ord("A") + index)


def unit_hash(campaign_id: int | None, key: object, salt: str) -> float:
    """A number in [0, 1), the same in every process and restart (not Python's salted hash)."""
    digest = hashlib.sha256(f"{salt}:{campaign_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _UNIT


def pick_variant(weights: Sequence[int], point: float) -> int:
    """The variant whose share of the cumulative weights holds `point` (in [0, 1))."""
    total = sum(weights)
    edge = 0.0
    for index, weight in enumerate(weights):
        edge += weight / total
        if point < edge:
            return index
    return len(weights) - 1  # rounding at the very top


@dataclass(frozen=True)
class Assignment:
    variant: int | None  # None: held out, waiting for the winner, or no variants at all
    held_out: bool = False
    awaiting_winner: bool = False  # the rest of an A/B audience


@dataclass(frozen=True)
class Plan:
    """What a campaign's experiment asks of freezing: weights (empty: no variants), shares."""

    weights: tuple[int, ...]
    holdout_share: float
    test_share: float | None  # None: no A/B test, every recipient gets its variant at once

    def assign(self, campaign_id: int | None, key: object) -> Assignment:
        if self.holdout_share and unit_hash(campaign_id, key, "holdout") < self.holdout_share:
            return Assignment(None, held_out=True)
        if self.test_share is not None and unit_hash(campaign_id, key, "test") >= self.test_share:
            return Assignment(None, awaiting_winner=True)
        if not self.weights:
            return Assignment(None)
        return Assignment(pick_variant(self.weights, unit_hash(campaign_id, key, "variant")))


def plan_of(campaign: Campaign) -> Plan:
    variants = campaign.variants or []
    ab_test = campaign.ab_test if variants else None
    return Plan(
        weights=tuple(int(v.get("weight") or 1) for v in variants),
        holdout_share=float(campaign.holdout_share or 0.0),
        test_share=float(ab_test["test_share"]) if ab_test else None,
    )


def variant_messages(campaign: Campaign) -> list[tuple[str, dict[str, Any] | None]]:
    """(message, multimedia) of each variant; the campaign's own one without variants."""
    if not campaign.variants:
        return [(campaign.message or "", campaign.multimedia)]
    return [(v.get("message") or "", v.get("multimedia")) for v in campaign.variants]


def multimedia_of(
    multimedia: dict[str, Any] | None, variants: Sequence[Mapping[str, Any]] | None, variant: Any
) -> dict[str, Any] | None:
    """The attachment a recipient of `variant` gets (the campaign's own without variants)."""
    if variants and isinstance(variant, int) and 0 <= variant < len(variants):
        return variants[variant].get("multimedia")
    return multimedia


# -- validation --------------------------------------------------------------------------------


def _share(value: Any, field: str, low_open: bool, high: float, high_open: bool) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    number = float(value) if ok else 0.0
    ok = ok and (number > 0 if low_open else number >= 0)
    ok = ok and (number < high if high_open else number <= high)
    if not ok:
        raise ValidationError(
            "{name} must be a fraction between {low} and {high}",
            field,
            name=field,
            low=0,
            high=high,
        )
    return number


def validate_holdout_share(value: Any) -> float | None:
    """None or 0: no holdout group; else a fraction up to 0.5."""
    if value is None or value == 0:
        return None
    return _share(value, "holdout_share", True, MAX_HOLDOUT_SHARE, False)


def validate_variants(
    session: Session, account_id: int, value: Any, check_message: Any
) -> list[dict[str, Any]] | None:
    """2-5 variants, each a message template (checked by `check_message(text, field)`) and/or an
    attachment, with a positive whole weight (default 1). None or []: no variants."""
    if value is None or value == []:
        return None
    if not isinstance(value, list):
        raise ValidationError("variants must be a list", "variants")
    if not MIN_VARIANTS <= len(value) <= MAX_VARIANTS:
        raise ValidationError(
            "variants must hold from {low} to {high} messages (it holds {count})",
            "variants",
            low=MIN_VARIANTS,
            high=MAX_VARIANTS,
            count=len(value),
        )
    cleaned = []
    for index, item in enumerate(value):
        field = f"variants.{index}"
        if not isinstance(item, Mapping):
            raise ValidationError("{name} must be an object", field, name=field)
        unknown = sorted(str(k) for k in item if k not in VARIANT_KEYS)
        if unknown:
            raise ValidationError(
                "{name} has an unknown key {key!r} (use {choices})",
                f"{field}.{unknown[0]}",
                name=field,
                key=unknown[0],
                choices=", ".join(VARIANT_KEYS),
            )
        weight = item.get("weight", 1)
        if weight is None:
            weight = 1
        if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= MAX_WEIGHT:
            raise ValidationError(
                "{name} must be a whole number from 1 to {high}",
                f"{field}.weight",
                name=f"{field}.weight",
                high=MAX_WEIGHT,
            )
        multimedia = validate_multimedia(session, account_id, item.get("multimedia"))
        message = item.get("message")
        if message is None or (isinstance(message, str) and not message.strip()):
            if not multimedia:
                raise ValidationError(
                    "{name} needs a message or an attachment",
                    f"{field}.message",
                    name=field,
                )
            message = ""
        elif not isinstance(message, str) or "\x00" in message:
            raise ValidationError(
                "{name} must be text", f"{field}.message", name=f"{field}.message"
            )
        else:
            message = check_message(message, f"{field}.message")
        cleaned.append({"message": message, "multimedia": multimedia, "weight": weight})
    return cleaned


def validate_ab_test(value: Any, has_variants: bool, track_links: bool) -> dict[str, Any] | None:
    """None: no test (every recipient gets its variant at once)."""
    if value is None or value == {}:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError("ab_test must be an object", "ab_test")
    unknown = sorted(str(k) for k in value if k not in AB_TEST_KEYS)
    if unknown:
        raise ValidationError(
            "ab_test has an unknown key {key!r} (use {choices})",
            f"ab_test.{unknown[0]}",
            key=unknown[0],
            choices=", ".join(AB_TEST_KEYS),
        )
    if not has_variants:
        raise ValidationError("ab_test needs at least two variants", "ab_test")
    share = _share(value.get("test_share"), "ab_test.test_share", True, 1.0, True)
    minutes = value.get("decide_after_minutes")
    if (
        isinstance(minutes, bool)
        or not isinstance(minutes, int)
        or not 1 <= minutes <= MAX_DECIDE_AFTER_MINUTES
    ):
        raise ValidationError(
            "{name} must be a whole number from 1 to {high}",
            "ab_test.decide_after_minutes",
            name="ab_test.decide_after_minutes",
            high=MAX_DECIDE_AFTER_MINUTES,
        )
    metric = value.get("metric")
    if metric not in tuple(AbMetric):
        raise ValidationError(
            "ab_test.metric must be one of {choices}",
            "ab_test.metric",
            choices=", ".join(AbMetric),
        )
    if metric == AbMetric.CLICK and not track_links:
        raise ValidationError(
            "ab_test.metric 'click' needs track_links on (clicks are counted on tracked links)",
            "ab_test.metric",
        )
    return {"test_share": share, "decide_after_minutes": minutes, "metric": str(metric)}
