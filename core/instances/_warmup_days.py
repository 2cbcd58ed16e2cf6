"""The warm-up's kept position: once a local day the worker's maintenance judges each number's
day by its health and moves it on the ladder (`_warmup.next_step`), a compare-and-set on the day
it was last judged, so two workers (or a restart) do it once.

Until a number is first judged its step is its age; from then on the stored step is what the
claim, the instance page and the estimates read. A day judged `held` or `stepped_back` says so
on the page (with the score that decided it)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.instances._warmup import STARTED, age_start, age_step, ladder_of, next_step
from core.models import Account, SenderInstance

log = logging.getLogger("worker")


def judge_warmup_days(session: Session, instance_ids: Iterable[int], now: datetime) -> int:
    """Move the numbers with a ladder whose local day turned since their last judgement.
    Returns how many this call moved (the caller commits)."""
    rows = session.execute(
        select(SenderInstance, Account.timezone)
        .join(Account, Account.id == SenderInstance.account_id)
        .where(SenderInstance.id.in_(list(instance_ids)), SenderInstance.warmup.is_not(None))
    ).all()
    moved = 0
    for instance, timezone in rows:
        ladder = ladder_of(instance.warmup)
        if not ladder:
            continue
        zone = ZoneInfo(timezone or "UTC")
        today = now.astimezone(zone).date()
        judged_on = instance.warmup_step_on
        if judged_on is not None and judged_on >= today:
            continue
        start = age_start(instance.number_since, instance.first_sent_at, zone)
        if instance.warmup_step is None or judged_on is None or start is None:
            # Not judged yet, or a number that never sent: its age decides (day 1 until it
            # sends, however long it idles).
            step, verdict = age_step(ladder, start, today), STARTED
        else:
            step, verdict = next_step(
                ladder, instance.warmup_step, judged_on, today, instance.health_score
            )
        same_day = (
            SenderInstance.warmup_step_on.is_(None)
            if judged_on is None
            else SenderInstance.warmup_step_on == judged_on
        )
        result = session.execute(
            update(SenderInstance)
            .where(SenderInstance.id == instance.id, same_day)
            .values(
                warmup_step=step,
                warmup_step_on=today,
                warmup_judgement={
                    "verdict": verdict,
                    "score": instance.health_score,
                    "day": today.isoformat(),
                },
            ),
            execution_options={"synchronize_session": False},
        )
        if result.rowcount:
            moved += 1
            log.info(
                "warm-up day judged",
                extra={"instance_id": instance.id, "step": step, "verdict": verdict},
            )
    return moved
