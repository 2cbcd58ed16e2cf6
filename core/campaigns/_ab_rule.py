"""The A/B test's rule: which variant wins, from the test share's numbers. Pure.

- Each variant's rate is its metric's count (read, replied or clicked) over its test messages
  that went out (sent, delivered or read). Failed and unsent messages are not in the rate.
- **Minimum sample**: every variant needs at least `MIN_SENT_PER_VARIANT` sent, else there is
  too little data to compare.
- **Tie**: variants whose rate is within `TIE_POINTS` percentage points of the best are tied.
- When the numbers cannot tell (too little data, or a tie), the rule picks among the candidates
  (all variants, or the tied ones) the one with the **highest weight**, and on equal weights the
  **first** (A before B): the variant staff expected most of. The decision says which case it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.models import AbMetric

MIN_SENT_PER_VARIANT = 30
TIE_POINTS = 1.0  # percentage points


class How:
    AUTO = "auto"  # the best rate, by more than TIE_POINTS
    TIE = "tie"
    TOO_LITTLE_DATA = "too_little_data"
    MANUAL = "manual"  # staff picked it


@dataclass(frozen=True)
class VariantNumbers:
    variant: int
    sent: int  # went out (sent, delivered or read)
    read: int
    replied: int
    clicked: int

    def count(self, metric: str) -> int:
        return {AbMetric.READ: self.read, AbMetric.REPLY: self.replied}.get(metric, self.clicked)

    def rate(self, metric: str) -> float | None:
        """In percent; None when nothing went out."""
        return 100.0 * self.count(metric) / self.sent if self.sent else None


@dataclass(frozen=True)
class Verdict:
    winner: int
    how: str  # How.*


def _by_rule(candidates: Sequence[int], weights: Sequence[int]) -> int:
    """The heaviest weight; A before B on equal weights."""
    return min(candidates, key=lambda v: (-weights[v], v))


def choose_winner(
    numbers: Sequence[VariantNumbers], metric: str, weights: Sequence[int]
) -> Verdict:
    """The winner by the stated rule (module docstring). `numbers`: one per variant, any order;
    a variant with none counts as nothing sent."""
    by_variant = {n.variant: n for n in numbers}
    every = list(range(len(weights)))
    sent = [by_variant[v].sent if v in by_variant else 0 for v in every]
    if min(sent, default=0) < MIN_SENT_PER_VARIANT:
        return Verdict(_by_rule(every, weights), How.TOO_LITTLE_DATA)
    rates = {v: by_variant[v].rate(metric) or 0.0 for v in every}
    best = max(rates.values())
    tied = [v for v in every if best - rates[v] < TIE_POINTS]
    if len(tied) > 1:
        return Verdict(_by_rule(tied, weights), How.TIE)
    return Verdict(tied[0], How.AUTO)
