"""A number's health: a score of 0–100 from the signals we already see, what it does to the
number's rate, and when it pauses the number. Every threshold is here (pure functions).

Why: WhatsApp bans numbers that look like spam, and the signs show before the ban — many
numbers that are not on WhatsApp (an old or bought list), sends that fail, people opting out,
nobody reading, the session dropping. A number whose signs worsen slows down by itself, and
stops before it is burnt; as the bad signals age out of the window, it speeds up again.

The score is 100 minus a penalty per signal over the last `WINDOW` of the number's sends (test
sends left out); with fewer than `MIN_ATTEMPTS` attempts there is too little to judge and the
score is 100. Each penalty grows linearly from its signal's "fine up to" rate to its full weight
at its "worst at" rate. Replies give some points back (`REPLY_CREDIT`): a number people answer
is one they want to hear from — but never enough to hide a bad list (no credit for a number
whose penalties alone pause it).

Receipts that stop arriving: when most of the number's accepted sends have had no delivery
receipt for `RECEIPT_OVERDUE` while receipts do reach us (for the account's other numbers, or
this number's earlier sends, after these went out), WhatsApp is likely not delivering them —
the typical sign of a blocked number. When no receipt reaches us at all, that is a webhook that
does not work (core.tracking._receipt_health says so), not a signal against the number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

WINDOW = timedelta(hours=24)
MIN_ATTEMPTS = 20  # fewer sends than this in the window: not enough to judge (score 100)
MIN_FOR_READS = 50  # the read rate counts only with this many delivered messages
RECEIPT_OVERDUE = timedelta(minutes=30)  # a send with no receipt after this long is overdue
MIN_FOR_RECEIPTS = 20  # the overdue share counts only with this many sends that old
# Replies per sent message give points back: REPLY_CREDIT at REPLIES_FULL_CREDIT_AT or more.
REPLY_CREDIT = 10
REPLIES_FULL_CREDIT_AT = 0.05
EVERY = timedelta(seconds=60)  # how often the worker re-scores a number it sends through

FULL_RATE_FROM = 80  # at or above: the number's own rate
SLOWEST_FACTOR = 0.4  # the rate's share at the pause threshold; linear in between
PAUSE_BELOW = 40  # below: the number pauses (and staff are notified, naming the signal)
RESUME_FROM = 60  # a paused number resumes once its score is back at or above this

# The warm-up ladder is judged once a local day, by the score as the day turns
# (core.instances._warmup_days): at or above WARMUP_ADVANCE_FROM the next step, below
# WARMUP_BACK_BELOW one step back, in between the same step again.
WARMUP_ADVANCE_FROM = FULL_RATE_FROM
WARMUP_BACK_BELOW = PAUSE_BELOW


@dataclass(frozen=True)
class Rule:
    signal: str  # the name the explanation and the notification use
    fine_up_to: float  # rate with no penalty
    worst_at: float  # rate with the full penalty
    weight: int  # the full penalty, in points


RULES = (
    Rule("not_on_whatsapp", 0.05, 0.35, 65),  # share of attempts to numbers not on WhatsApp
    Rule("send_errors", 0.05, 0.30, 30),  # failed (other reasons) or unknown, per attempt
    Rule("opt_outs", 0.01, 0.05, 60),  # contacts opting out after our message, per sent
    Rule("low_reads", 0.0, 1.0, 15),  # 1 - read share of the delivered (only when enough)
    Rule("connection_drops", 0.0, 3.0, 15),  # times the number's session dropped
    # Share of the sends older than RECEIPT_OVERDUE with no receipt, while receipts arrive.
    Rule("missing_receipts", 0.3, 0.9, 65),
)


@dataclass(frozen=True)
class Signals:
    """What the last WINDOW of a number's sends showed."""

    attempts: int = 0  # recipients attempted (sent, failed, unknown)
    sent: int = 0  # accepted by the server (sent, delivered, read)
    not_on_whatsapp: int = 0
    errors: int = 0  # failed for another reason, or unknown
    opt_outs: int = 0
    delivered: int = 0  # with a delivery or read receipt
    read: int = 0
    drops: int = 0  # connection drops (the number's circuit opening)
    replied: int = 0  # sent messages the contact answered (within the reply window)
    overdue: int = 0  # accepted at least RECEIPT_OVERDUE ago...
    overdue_unconfirmed: int = 0  # ...of which no receipt has come
    receipts_flowing: bool = False  # receipts reached us after those sends went out

    def rates(self) -> dict[str, float]:
        attempts = max(1, self.attempts)
        rates = {
            "not_on_whatsapp": self.not_on_whatsapp / attempts,
            "send_errors": self.errors / attempts,
            "opt_outs": self.opt_outs / max(1, self.sent),
            "connection_drops": float(self.drops),
        }
        if self.delivered >= MIN_FOR_READS:
            # Receipts may be off for some contacts: reads weigh little, and only when many
            # receipts arrive at all. "low" from 20 % down: nobody reading costs 15 points.
            rates["low_reads"] = max(0.0, 1.0 - (self.read / self.delivered) / 0.2)
        if self.receipts_flowing and self.overdue >= MIN_FOR_RECEIPTS:
            rates["missing_receipts"] = self.overdue_unconfirmed / self.overdue
        if self.sent:
            rates["replies"] = self.replied / self.sent
        return rates


@dataclass(frozen=True)
class Health:
    score: int  # 0–100
    penalties: dict[str, int]  # signal -> points taken, only those that cost any
    rates: dict[str, float]
    judged: bool  # False: too few sends to judge
    credit: int = 0  # points the replies gave back

    @property
    def worst(self) -> str | None:
        """The signal that cost the most (what a notification names)."""
        if not self.penalties:
            return None
        return max(self.penalties, key=lambda signal: self.penalties[signal])

    def json(self) -> dict[str, object]:
        return {
            "score": self.score,
            "penalties": self.penalties,
            "rates": {k: round(v, 4) for k, v in self.rates.items()},
            "judged": self.judged,
            "worst": self.worst,
            "credit": self.credit,
        }


def score(signals: Signals) -> Health:
    if signals.attempts < MIN_ATTEMPTS:
        return Health(100, {}, {}, judged=False)
    rates = signals.rates()
    penalties: dict[str, int] = {}
    for rule in RULES:
        if rule.signal not in rates:
            continue
        share = (rates[rule.signal] - rule.fine_up_to) / (rule.worst_at - rule.fine_up_to)
        points = round(rule.weight * min(1.0, max(0.0, share)))
        if points:
            penalties[rule.signal] = points
    taken = sum(penalties.values())
    earned = round(REPLY_CREDIT * min(1.0, rates.get("replies", 0.0) / REPLIES_FULL_CREDIT_AT))
    # Gives back what was taken (never above 100); replies soften a slowdown, never a pause.
    credit = min(taken, earned) if 100 - taken >= PAUSE_BELOW else 0
    return Health(max(0, 100 - taken + credit), penalties, rates, judged=True, credit=credit)


def rate_factor(health_score: int | None) -> float:
    """The share of its rate a number of this health sends at (1.0 down to SLOWEST_FACTOR)."""
    if health_score is None or health_score >= FULL_RATE_FROM:
        return 1.0
    if health_score <= PAUSE_BELOW:
        return SLOWEST_FACTOR
    span = (health_score - PAUSE_BELOW) / (FULL_RATE_FROM - PAUSE_BELOW)
    return SLOWEST_FACTOR + (1.0 - SLOWEST_FACTOR) * span


def effective_rate(rate_per_minute: int, health_score: int | None) -> int:
    """The rate the worker paces the number at: its own, lowered by falling health (>= 1)."""
    return max(1, int(rate_per_minute * rate_factor(health_score)))


def should_pause(health_score: int, paused: bool) -> bool:
    """Whether the number is (still) paused: below PAUSE_BELOW it pauses; once paused it stays
    so until the score is back at RESUME_FROM (no flapping at the threshold)."""
    if paused:
        return health_score < RESUME_FROM
    return health_score < PAUSE_BELOW
