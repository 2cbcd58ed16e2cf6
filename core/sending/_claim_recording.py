"""Recording a claim: what chance decides for the send (the next gap, a long pause, the typing
time), its `instance_sends` row and the next gap, and the `Claim` the sender gets.

SQLite records after the claim, under its write lock; PostgreSQL passes the draws as binds of
the one statement that claims and records (`_postgres_statements.recorded`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core import instances
from core.sending._claim_statements import RECORD_SEND, SET_NEXT, TOUCH


@dataclass(frozen=True)
class Claim:
    recipient_id: int
    campaign_id: int
    account_id: int
    instance_id: int
    contact_id: int | None
    worker_id: str
    claimed_at: datetime
    send_id: int
    phone: str
    text: str
    part: int  # index into `parts` of what to send now
    parts: tuple[str, ...]  # ("text",) | ("media",) | ("text", "audio") | ("audio",)
    multimedia: dict[str, Any] | None
    attempts: int  # including this one
    is_test: bool
    base_url: str
    instance_name: str
    api_version: str
    token_encrypted: str
    next_send_at: datetime | None = None  # the gap this claim set: the next claim's earliest
    rate_per_minute: int = 0
    typing_ms: int = 0  # "typing…" shown before the send (Evolution's `delay`); 0: none
    failure_streak: int = 0  # the breaker's streak as the claim found it (see _breaker)


@dataclass(frozen=True)
class Draws:
    """What chance decides for a send: when the next may start, the long-pause count, and how
    long "typing…" shows."""

    next_at: datetime
    since_pause: int
    typing_ms: int


class Recording:
    """Records a claim: its `instance_sends` row and the next gap (SQLite: statements after
    the claim; PostgreSQL: binds of the one statement that claims, drawn before it)."""

    def __init__(
        self,
        connection: Any,
        instance: Any,  # a row of INSTANCE / STATE
        rate: int,  # the effective rate (health applied)
        now: datetime,
        rng: random.Random | None,
        postgres: bool,
    ) -> None:
        self.connection = connection
        self.instance = instance
        self.rate = rate
        self.now = now
        self.rng = rng
        self.postgres = postgres
        self._draws: Draws | None = None

    def draws(self) -> Draws:
        if self._draws is not None:  # a lost race on PostgreSQL keeps its draws for the next
            return self._draws
        instance, rng = self.instance, self.rng
        extra = instances.random_extra_delay(0.0, instance.extra_delay_max_seconds or 0.0, rng)
        # The gap counts from the claim, when the send starts: a typing delay lies inside it,
        # and the window counts each send at its answer, after the delay (module docstring).
        next_at = self.now + instances.min_gap(self.rate) + extra
        # Every N sends a long random pause, on top of the gap (never instead of it).
        pause, since_pause = instances.long_pause(
            (instance.sends_since_long_pause or 0) + 1,
            instance.long_pause_every,
            instance.long_pause_min_minutes or 0.0,
            instance.long_pause_max_minutes or 0.0,
            rng,
        )
        typing = instances.typing_delay_ms(
            instance.typing_min_seconds or 0.0, instance.typing_max_seconds or 0.0, rng
        )
        self._draws = Draws(next_at + pause, since_pause, typing)
        return self._draws

    def run(self, statement: Any, values: dict[str, Any]) -> Any:
        """PostgreSQL: claim and record in one statement (`_postgres_statements.recorded`)."""
        draws = self.draws()
        bound = {
            **values,
            "p_seen": self.instance.next_send_at,
            "p_next": draws.next_at,
            "p_since_pause": draws.since_pause,
        }
        return self.connection.execute(statement, bound).first()

    def record(
        self,
        recipient: Any,  # a row of CLAIMED_COLUMNS
        multimedia: dict[str, Any] | None,
        parts: tuple[str, ...],
        *,
        continuing: bool,
    ) -> Claim:
        """SQLite: record the claim just made, under the write lock."""
        connection, instance_id, now = self.connection, self.instance.id, self.now
        send_id = connection.execute(
            RECORD_SEND, {"p_instance": instance_id, "p_recipient": recipient.id, "p_now": now}
        ).scalar()
        draws = self.draws()
        connection.execute(
            SET_NEXT,
            {
                "p_instance": instance_id,
                "p_next": draws.next_at,
                "p_since_pause": draws.since_pause,
                "p_now": now,
            },
        )
        if continuing:
            connection.execute(TOUCH, {"p_recipient": recipient.id, "p_now": now})
        return self.claim(recipient, multimedia, parts, send_id)

    def claim(
        self,
        recipient: Any,
        multimedia: dict[str, Any] | None,
        parts: tuple[str, ...],
        send_id: int,
    ) -> Claim:
        instance, draws = self.instance, self.draws()
        return Claim(
            recipient_id=recipient.id,
            campaign_id=recipient.campaign_id,
            account_id=instance.account_id,
            instance_id=instance.id,
            contact_id=recipient.contact_id,
            worker_id=recipient.claimed_by or "",
            claimed_at=recipient.claimed_at or self.now,
            send_id=send_id,
            phone=recipient.phone,
            text=recipient.rendered_text,
            part=min(recipient.parts_sent or 0, len(parts) - 1),
            parts=parts,
            multimedia=multimedia,
            attempts=recipient.attempts,
            is_test=recipient.is_test,
            base_url=instance.base_url,
            instance_name=instance.instance_name,
            api_version=instance.api_version,
            token_encrypted=instance.token_encrypted,
            next_send_at=draws.next_at,
            rate_per_minute=self.rate,
            typing_ms=draws.typing_ms,
            failure_streak=instance.failure_streak or 0,
        )
