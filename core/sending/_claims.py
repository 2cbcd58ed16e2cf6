"""Claim before send: the one transaction that decides whether, what and when an instance sends.

`claim_next` runs in one short transaction that (1) proves this worker still holds the instance's
lease (row lock on PostgreSQL, the write lock on SQLite) and that its account's campaigns are
enabled, (2) checks the daily cap and the pacing from the database, (3) picks and claims a pending
recipient of a campaign that is still running and inside its send window, in one
`UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`, (4) records an `InstanceSend`
row and the next gap. The caller commits, and only then makes the HTTP call. Nothing is sent for
an unclaimed recipient. Statements are built once at import, with bind parameters only.

Pacing: `SenderInstance.next_send_at` keeps the gap (claim to claim: 60/rate + random extra), and
the `InstanceSend` rows of the last minute keep the window. Their `sent_at` is the claim time while
the request is in flight and the moment the answer came back afterwards — the latest moment the
server can have sent the message — so "at most `rate` in any 60 s" holds at the server as well,
whatever the latency did.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Connection,
    Integer,
    and_,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from core import instances
from core.base import stored_text
from core.models import (
    Account,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    Circuit,
    InstanceSend,
    RecipientStatus,
    SenderInstance,
    campaign_instances,
)

R = CampaignRecipient
_NO_SYNC = {"synchronize_session": False}
# Campaign states whose *test* recipients still go out (a test is usually sent from a draft).
TEST_SEND_STATUSES = (
    CampaignStatus.DRAFT,
    CampaignStatus.PENDING,
    CampaignStatus.RUNNING,
    CampaignStatus.PAUSED,
    CampaignStatus.COMPLETED,
)
IDLE_RECHECK = timedelta(seconds=1)
WINDOW_RECHECK = timedelta(seconds=30)
WORKER_LOST = stored_text.WORKER_LOST


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


@dataclass(frozen=True)
class Wait:
    """Nothing may be sent before `until` (pacing, window, daily cap)."""

    until: datetime
    reason: str


@dataclass(frozen=True)
class Idle:
    """Nothing to send now; look again at `recheck_at`."""

    recheck_at: datetime


@dataclass(frozen=True)
class NotOwner:
    """This worker does not (any longer) hold the instance's lease."""


ClaimStep = Claim | Wait | Idle | NotOwner


def message_parts(multimedia: dict[str, Any] | None, text: str) -> tuple[str, ...]:
    """Audio carries no caption, so its text goes first as a message of its own."""
    if not multimedia:
        return ("text",)
    if multimedia.get("type") == "audio":
        return ("text", "audio") if text.strip() else ("audio",)
    return ("media",)


def window_earliest(recent: Sequence[datetime], rate_per_minute: int, now: datetime) -> datetime:
    """Earliest moment a new send keeps every 60-s window at `rate_per_minute` or below."""
    if len(recent) < rate_per_minute:
        return now
    ordered = sorted(recent)
    return max(now, ordered[-rate_per_minute] + instances.RATE_WINDOW)


def effective_window(
    campaign: Any, instance: Any
) -> tuple[time | None, time | None, list[int] | None]:
    """A campaign's own window, when it has one, overrides its instances' windows."""
    if (
        campaign.window_start is not None
        or campaign.window_end is not None
        or campaign.window_days is not None
    ):
        return campaign.window_start, campaign.window_end, campaign.window_days
    return instance.window_start, instance.window_end, instance.window_days


def local_day_bounds(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    local = now.astimezone(zone)
    start = datetime.combine(local.date(), time(0), tzinfo=zone)
    end = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def claim_next(
    connection: Session | Connection,
    instance_id: int,
    worker_id: str,
    now: datetime,
    *,
    rng: random.Random | None = None,
    campaigns: CampaignCache | None = None,
    continuation: bool = True,
) -> ClaimStep:
    """Claim the instance's next send, if it may send now. The caller commits before sending.

    Works on a Session or a Connection (the worker uses a bare Connection: every statement here
    is built once, with bind parameters). `campaigns` may cache the instance's campaign list
    for a second (their status is re-checked by the claim itself); `continuation=False` skips
    the look-up of a half-sent message when the caller knows there is none.
    """
    params = {"p_instance": instance_id, "p_worker": worker_id, "p_now": now}
    instance = connection.execute(_INSTANCE, params).first()
    if instance is None:
        return NotOwner()
    if (
        not instance.is_active
        or instance.circuit != Circuit.CLOSED
        or not instance.campaigns_enabled
    ):
        return Idle(now + WINDOW_RECHECK)
    zone = _zone(instance.timezone)

    if instance.daily_cap:
        day_start, day_end = local_day_bounds(now, zone)
        sent_today = connection.execute(
            _SENT_SINCE, {"p_instance": instance_id, "p_since": day_start}
        ).scalar()
        if (sent_today or 0) >= instance.daily_cap:
            return Wait(day_end, "daily cap reached")

    # Only the rate-th most recent send of the last minute matters for the window.
    rate_th = connection.execute(
        _RATE_TH,
        {
            "p_instance": instance_id,
            "p_cutoff": now - instances.RATE_WINDOW,
            "p_offset": max(0, instance.rate_per_minute - 1),
        },
    ).scalar()
    earliest = now if rate_th is None else max(now, rate_th + instances.RATE_WINDOW)
    if instance.next_send_at is not None:
        earliest = max(earliest, instance.next_send_at)
    if earliest > now:
        return Wait(earliest, "pacing")

    if continuation:
        # The second part of a message already under way (audio after its text) comes first.
        row = connection.execute(_CONTINUATION, params).first()
        if row is not None:
            parts = message_parts(row.multimedia, row.rendered_text)
            if row.parts_sent < len(parts):
                return _record_claim(
                    connection, instance, row, row.multimedia, parts, now, rng, continuing=True
                )

    rows = (
        campaigns.get(connection, instance_id)
        if campaigns is not None
        else _campaigns_of(connection, instance_id)
    )
    media_of = {c.id: c.multimedia for c in rows}
    open_running: list[int] = []
    test_ok: list[int] = []
    reopen: list[datetime] = []
    for campaign in rows:
        test_ok.append(campaign.id)  # tests go to staff's own phones: no window
        if campaign.status != CampaignStatus.RUNNING:
            continue
        start, end, days = effective_window(campaign, instance)
        if instances.in_send_window(now, zone, start, end, days):
            open_running.append(campaign.id)
        else:
            opens = instances.next_window_open(now, zone, start, end, days)
            if opens is not None:
                reopen.append(opens)

    attempts: list[tuple[Any, dict[str, Any]]] = []
    if test_ok:
        attempts.append((_CLAIM_TEST, {**params, "p_campaigns": test_ok}))
    for campaign_id in open_running:
        attempts.append((_CLAIM_ONE, {**params, "p_campaign": campaign_id}))
    for statement, values in attempts:
        for _ in range(3):  # another worker may win the row on PostgreSQL: take the next
            row = connection.execute(statement, values).first()
            if row is not None:
                multimedia = media_of.get(row.campaign_id)
                parts = message_parts(multimedia, row.rendered_text)
                return _record_claim(
                    connection, instance, row, multimedia, parts, now, rng, continuing=False
                )
            if not _pending_left(connection, statement, values):
                break
    if reopen and not open_running:
        return Wait(min(min(reopen), now + WINDOW_RECHECK), "outside the send window")
    return Idle(now + IDLE_RECHECK)


# -- statements, built once (bind parameters only: SQLAlchemy compiles each once per dialect) --

_I = SenderInstance.__table__
_S = InstanceSend.__table__
_RT = CampaignRecipient.__table__
_C = Campaign.__table__
_A = Account.__table__

_INSTANCE = (
    select(
        _I.c.id,
        _I.c.account_id,
        _I.c.is_active,
        _I.c.circuit,
        _I.c.rate_per_minute,
        _I.c.extra_delay_max_seconds,
        _I.c.daily_cap,
        _I.c.window_start,
        _I.c.window_end,
        _I.c.window_days,
        _I.c.next_send_at,
        _I.c.base_url,
        _I.c.instance_name,
        _I.c.api_version,
        _I.c.token_encrypted,
        _A.c.timezone,
        _A.c.campaigns_enabled,
    )
    .join_from(_I, _A, _A.c.id == _I.c.account_id)
    .where(
        _I.c.id == bindparam("p_instance"),
        _I.c.lease_owner == bindparam("p_worker"),
        _I.c.lease_expires_at > bindparam("p_now"),
    )
    .with_for_update(of=_I)
)
_SENT_SINCE = (
    select(func.count())
    .select_from(_S)
    .where(_S.c.instance_id == bindparam("p_instance"), _S.c.sent_at >= bindparam("p_since"))
)
_RATE_TH = (
    select(_S.c.sent_at)
    .where(_S.c.instance_id == bindparam("p_instance"), _S.c.sent_at > bindparam("p_cutoff"))
    .order_by(_S.c.sent_at.desc())
    .limit(1)
    .offset(bindparam("p_offset", type_=Integer))
)
_CLAIMED_COLUMNS = (
    _RT.c.id,
    _RT.c.campaign_id,
    _RT.c.contact_id,
    _RT.c.phone,
    _RT.c.rendered_text,
    _RT.c.attempts,
    _RT.c.is_test,
    _RT.c.parts_sent,
    _RT.c.claimed_by,
    _RT.c.claimed_at,
)
_CONTINUATION = (
    select(*_CLAIMED_COLUMNS, _C.c.multimedia)
    .join_from(_RT, _C, _C.c.id == _RT.c.campaign_id)
    .where(
        _RT.c.status == RecipientStatus.SENDING,
        _RT.c.claimed_by == bindparam("p_worker"),
        _RT.c.instance_id == bindparam("p_instance"),
        _RT.c.parts_sent > 0,
    )
    .limit(1)
)
_CAMPAIGNS = (
    select(
        _C.c.id,
        _C.c.status,
        _C.c.window_start,
        _C.c.window_end,
        _C.c.window_days,
        _C.c.multimedia,
    )
    .join_from(_C, campaign_instances, campaign_instances.c.campaign_id == _C.c.id)
    .where(
        campaign_instances.c.instance_id == bindparam("p_instance"),
        _C.c.status.in_(TEST_SEND_STATUSES),
    )
    .order_by(_C.c.id)
)
_DUE = or_(_RT.c.next_attempt_at.is_(None), _RT.c.next_attempt_at <= bindparam("p_now"))
_CAMPAIGN_MAY_SEND = (
    select(_C.c.id)
    .where(
        _C.c.id == _RT.c.campaign_id,
        or_(
            _C.c.status == CampaignStatus.RUNNING,
            and_(_RT.c.is_test.is_(True), _C.c.status.in_(TEST_SEND_STATUSES)),
        ),
    )
    .exists()
)


def _claim_statement(pick: Any) -> Any:
    """Compare-and-set pending -> sending of the row `pick` finds, only while its campaign may
    still send it (re-checked here: the campaign list may be a second old). One statement."""
    picked = pick.limit(1).with_for_update(skip_locked=True).scalar_subquery()
    return (
        update(_RT)
        .where(_RT.c.id == picked, _RT.c.status == RecipientStatus.PENDING, _CAMPAIGN_MAY_SEND)
        .values(
            status=RecipientStatus.SENDING,
            claimed_by=bindparam("p_worker"),
            claimed_at=bindparam("p_now"),
            instance_id=bindparam("p_instance"),
            attempts=_RT.c.attempts + 1,
            last_attempt_at=bindparam("p_now"),
        )
        .returning(*_CLAIMED_COLUMNS)
    )


_PICK_ONE = select(_RT.c.id).where(
    _RT.c.campaign_id == bindparam("p_campaign"), _RT.c.status == RecipientStatus.PENDING, _DUE
)
_PICK_TEST = select(_RT.c.id).where(
    _RT.c.campaign_id.in_(bindparam("p_campaigns", expanding=True)),
    _RT.c.status == RecipientStatus.PENDING,
    _RT.c.is_test.is_(True),
    _DUE,
)
_CLAIM_ONE = _claim_statement(_PICK_ONE)
_CLAIM_TEST = _claim_statement(_PICK_TEST)
_LEFT = {
    id(_CLAIM_ONE): select(_PICK_ONE.limit(1).exists()),
    id(_CLAIM_TEST): select(_PICK_TEST.limit(1).exists()),
}
_RECORD_SEND = (
    insert(_S)
    .values(
        instance_id=bindparam("p_instance"),
        recipient_id=bindparam("p_recipient"),
        sent_at=bindparam("p_now"),
    )
    .returning(_S.c.id)
)
_SET_NEXT = (
    update(_I).where(_I.c.id == bindparam("p_instance")).values(next_send_at=bindparam("p_next"))
)
_TOUCH = (
    update(_RT)
    .where(_RT.c.id == bindparam("p_recipient"))
    .values(last_attempt_at=bindparam("p_now"))
)


def _pending_left(connection: Any, statement: Any, values: dict[str, Any]) -> bool:
    """After a lost race: is there another pending row to try (else stop looking)?"""
    return bool(connection.execute(_LEFT[id(statement)], values).scalar())


def _campaigns_of(connection: Any, instance_id: int) -> list[Any]:
    return list(connection.execute(_CAMPAIGNS, {"p_instance": instance_id}).all())


@lru_cache(maxsize=64)
def _zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name or "UTC")


class CampaignCache:
    """The campaigns each instance serves, kept `ttl` seconds (a claim re-checks the status of
    the campaign it claims from, so a stale list can delay a start by `ttl`, never send for a
    paused campaign). Thread-safe; one per worker."""

    def __init__(self, ttl: float = 1.0, clock: Callable[[], float] = monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._rows: dict[int, tuple[float, list[Any]]] = {}
        self._lock = threading.Lock()

    def get(self, connection: Any, instance_id: int) -> list[Any]:
        now = self.clock()
        with self._lock:
            cached = self._rows.get(instance_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        rows = _campaigns_of(connection, instance_id)
        with self._lock:
            self._rows[instance_id] = (now, rows)
        return rows

    def forget(self, instance_id: int | None = None) -> None:
        with self._lock:
            if instance_id is None:
                self._rows.clear()
            else:
                self._rows.pop(instance_id, None)


def _record_claim(
    connection: Any,
    instance: Any,  # a row of _INSTANCE
    recipient: Any,  # a row of _CLAIMED_COLUMNS
    multimedia: dict[str, Any] | None,
    parts: tuple[str, ...],
    now: datetime,
    rng: random.Random | None,
    *,
    continuing: bool,
) -> Claim:
    send_id = connection.execute(
        _RECORD_SEND, {"p_instance": instance.id, "p_recipient": recipient.id, "p_now": now}
    ).scalar()
    extra = instances.random_extra_delay(0.0, instance.extra_delay_max_seconds or 0.0, rng)
    next_at = now + instances.min_gap(instance.rate_per_minute) + extra
    connection.execute(_SET_NEXT, {"p_instance": instance.id, "p_next": next_at})
    if continuing:
        connection.execute(_TOUCH, {"p_recipient": recipient.id, "p_now": now})
    return Claim(
        recipient_id=recipient.id,
        campaign_id=recipient.campaign_id,
        account_id=instance.account_id,
        instance_id=instance.id,
        contact_id=recipient.contact_id,
        worker_id=recipient.claimed_by or "",
        claimed_at=recipient.claimed_at or now,
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
        next_send_at=next_at,
        rate_per_minute=instance.rate_per_minute,
    )


def recover_expired_claims(session: Session, now: datetime) -> list[int]:
    """`sending` rows whose claimer no longer holds the instance's lease become `unknown`.

    The worker died (or lost its lease) somewhere between the claim and the answer: the message
    may have gone out, so it is never resent automatically. Returns the campaign ids touched.
    """
    lease_held = exists().where(
        SenderInstance.id == R.instance_id,
        SenderInstance.lease_owner == R.claimed_by,
        SenderInstance.lease_expires_at > now,
    )
    stale = select(R.id, R.campaign_id).where(R.status == RecipientStatus.SENDING, ~lease_held)
    rows = session.execute(stale).all()
    if not rows:
        return []
    session.execute(
        update(R)
        .where(R.id.in_([r.id for r in rows]), R.status == RecipientStatus.SENDING, ~lease_held)
        .values(
            status=RecipientStatus.UNKNOWN,
            error_kind="worker_lost",
            last_error=WORKER_LOST,
            failed_at=now,
        ),
        execution_options=_NO_SYNC,
    )
    return sorted({r.campaign_id for r in rows})


def recover_own_orphans(
    session: Session, worker_id: str, in_flight: set[int], older_than: datetime, now: datetime
) -> list[int]:
    """This worker's own `sending` rows that no send is working on (their outcome could not be
    saved) become `unknown` too — the lease alone would keep them `sending` for ever."""
    rows = session.execute(
        select(R.id, R.campaign_id).where(
            R.status == RecipientStatus.SENDING,
            R.claimed_by == worker_id,
            R.claimed_at < older_than,
            R.parts_sent == 0,
        )
    ).all()
    orphans = [r for r in rows if r.id not in in_flight]
    if not orphans:
        return []
    session.execute(
        update(R)
        .where(R.id.in_([r.id for r in orphans]), R.status == RecipientStatus.SENDING)
        .values(
            status=RecipientStatus.UNKNOWN,
            error_kind="worker_lost",
            last_error=WORKER_LOST,
            failed_at=now,
        ),
        execution_options=_NO_SYNC,
    )
    return sorted({r.campaign_id for r in orphans})
