"""How long the statistics pages' data queries take with 1,000 campaigns and 1,000,000 recipients.

    .venv/bin/python bench/dashboard.py                 # seeds data/bench-dashboard.db once, reuses it
    .venv/bin/python bench/dashboard.py --reseed        # start over
    .venv/bin/python bench/dashboard.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test

Seeds one account (bulk inserts through SQLAlchemy Core): 4 sender instances, 1,000 campaigns
spread over the last year (the newest three still running), 1,000 recipients each in every
status, the instance sends of the last two days, and 5,000 notifications. Then runs each query the
pages make several times and prints the median. Target: every query <= 500 ms on SQLite.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Engine, func, insert, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from core import (
    notifications,
    tracking,  # noqa: E402
)
from core.base import (
    make_engine,  # noqa: E402
    to_csv,  # noqa: E402
)
from core.models import (  # noqa: E402
    Account,
    Base,
    Campaign,
    CampaignRecipient,
    InstanceSend,
    Notification,
    Role,
    SenderInstance,
    campaign_instances,
)
from core.people import Actor  # noqa: E402

TARGET_MS = 500
PAGE_PERIODS = (1, 7, 30, 90)  # the dashboard's period picker (views/dashboard.py)
CAMPAIGNS = 1_000
PER_CAMPAIGN = 1_000
NOW = datetime.now(UTC).replace(microsecond=0)
STATUS_WEIGHTS = {
    "read": 45,
    "delivered": 25,
    "sent": 15,
    "failed": 7,
    "unknown": 2,
    "skipped": 3,
    "pending": 3,
}
ERRORS = [
    ("not_on_whatsapp", "number is not on WhatsApp"),
    ("rejected", "HTTP 400: media could not be downloaded"),
    ("rejected", "HTTP 413: payload too large"),
    ("retry_exhausted", "HTTP 503 after 5 attempts"),
]


def seed(engine: Engine) -> None:
    rng = random.Random(42)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        account = Account(name="Bench", timezone="America/Sao_Paulo")
        session.add(account)
        session.flush()
        instances = [
            SenderInstance(
                account_id=account.id,
                name=f"number-{index}",
                base_url="http://127.0.0.1:9",
                instance_name=f"n{index}",
                token_encrypted="x",
                rate_per_minute=12,
                daily_cap=2000,
                state="open",
                next_send_at=NOW + timedelta(seconds=5),
            )
            for index in range(4)
        ]
        session.add_all(instances)
        session.commit()
        account_id, instance_ids = account.id, [instance.id for instance in instances]

    statuses = list(STATUS_WEIGHTS)
    weights = list(STATUS_WEIGHTS.values())
    started = time.perf_counter()
    with engine.begin() as connection:
        campaign_rows = []
        for index in range(CAMPAIGNS):
            begin = NOW - timedelta(days=365 * (CAMPAIGNS - 1 - index) / CAMPAIGNS, hours=4)
            running = index >= CAMPAIGNS - 3
            campaign_rows.append(
                {
                    "account_id": account_id,
                    "title": f"Campaign {index}",
                    "message": "Hi {{name}}",
                    "audience": {},
                    "status": "running" if running else "completed",
                    "delivery_stats": {},
                    "started_at": begin,
                    "completed_at": None if running else begin + timedelta(minutes=90),
                    "created_at": begin,
                    "updated_at": begin,
                }
            )
        connection.execute(insert(Campaign), campaign_rows)
        campaign_ids = list(
            connection.scalars(select(Campaign.id).where(Campaign.account_id == account_id))
        )
        connection.execute(
            insert(campaign_instances),
            [{"campaign_id": cid, "instance_id": instance_ids[cid % 4]} for cid in campaign_ids],
        )
    for number, (campaign_id, campaign) in enumerate(zip(campaign_ids, campaign_rows, strict=True)):
        rows, sends = [], []
        instance_id = instance_ids[campaign_id % 4]
        for position in range(PER_CAMPAIGN):
            status = rng.choices(statuses, weights)[0]
            at = campaign["started_at"] + timedelta(seconds=position * 5.2)
            if campaign["status"] == "running" and at > NOW:
                status = "pending"
            row = {
                "campaign_id": campaign_id,
                "contact_id": None,
                "is_test": False,
                "phone": f"+55119{number:04d}{position:04d}",
                "name": f"Contact {position}",
                "rendered_text": "Hi",
                "status": status,
                "attempts": 0,
                "instance_id": instance_id,
                "created_at": campaign["started_at"],
                "sent_at": None,
                "delivered_at": None,
                "read_at": None,
                "failed_at": None,
                "last_attempt_at": None,
                "error_kind": None,
                "last_error": None,
            }
            if status in ("sent", "delivered", "read", "failed", "unknown"):
                row.update(attempts=1, last_attempt_at=at)
                if at >= NOW - timedelta(days=2):
                    sends.append({"instance_id": instance_id, "sent_at": at})
            if status in ("sent", "delivered", "read"):
                row["sent_at"] = at
            if status in ("delivered", "read"):
                row["delivered_at"] = at + timedelta(seconds=3)
            if status == "read":
                row["read_at"] = at + timedelta(minutes=4)
            if status == "failed":
                kind, error = rng.choice(ERRORS)
                row.update(failed_at=at, error_kind=kind, last_error=error)
            if status == "unknown":
                row.update(error_kind="timeout", last_error="read timeout after the request")
            rows.append(row)
        with engine.begin() as connection:
            connection.execute(insert(CampaignRecipient), rows)
            if sends:
                connection.execute(insert(InstanceSend), sends)
        if number % 100 == 99:
            print(f"  seeded {(number + 1) * PER_CAMPAIGN:,} recipients", flush=True)
    with engine.begin() as connection:
        connection.execute(
            insert(Notification),
            [
                {
                    "account_id": account_id,
                    "kind": "campaign_completed",
                    "title": f"Campaign {index} completed",
                    "body": "",
                    "created_at": NOW - timedelta(hours=index),
                    "read_at": None if index < 40 else NOW,
                    "webhook_status": "none",
                    "webhook_attempts": 0,
                }
                for index in range(5_000)
            ],
        )
    print(f"seeded in {time.perf_counter() - started:.0f} s")


def measure(name: str, run: Callable[[], object], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        began = time.perf_counter()
        run()
        timings.append((time.perf_counter() - began) * 1000)
    median = statistics.median(timings)
    verdict = "ok" if median <= TARGET_MS else "SLOW"
    print(f"  {name:<48} {median:8.1f} ms  (max {max(timings):7.1f})  {verdict}")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: a SQLite file under data/)")
    parser.add_argument("--reseed", action="store_true", help="drop and seed again")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    path = Path(__file__).resolve().parent.parent / "data" / "bench-dashboard.db"
    url = args.url or f"sqlite:///{path}"
    if args.reseed:
        if args.url:
            Base.metadata.drop_all(make_engine(url))
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(exist_ok=True)
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    for table in Base.metadata.sorted_tables:  # indexes added to the models since the seeding
        for index in table.indexes:
            index.create(engine, checkfirst=True)
    with Session(engine) as session:
        seeded = session.scalar(select(func.count()).select_from(CampaignRecipient))
    if not seeded:
        print(f"seeding {CAMPAIGNS:,} campaigns x {PER_CAMPAIGN:,} recipients into {url} ...")
        seed(engine)
    with Session(engine) as session:
        account_id = session.scalar(select(Account.id).where(Account.name == "Bench"))
        total = session.scalar(select(func.count()).select_from(CampaignRecipient))
        running = session.scalar(
            select(Campaign.id).where(Campaign.status == "running").order_by(Campaign.id)
        )
        finished = session.scalar(
            select(Campaign.id).where(Campaign.status == "completed").order_by(Campaign.id.desc())
        )
    if account_id is None:
        print("the database holds data but no Bench account: use --reseed", file=sys.stderr)
        return 2
    actor = Actor(None, account_id, Role.ADMIN, "bench")
    print(f"{engine.dialect.name}: {total:,} recipients; median of {args.repeat} runs each")
    worst = 0.0
    with Session(engine) as session:
        counted = True

        def timed(name: str, run: Callable[[Session], object]) -> None:
            nonlocal worst
            median = measure(name, lambda: run(session), args.repeat)
            worst = max(worst, median) if counted else worst
            session.rollback()  # a fresh transaction per query, like a page run

        for days in (*PAGE_PERIODS, 365):
            start = NOW - timedelta(days=days)
            counted = days in PAGE_PERIODS
            note = "" if counted else " (not offered by the page; not in the verdict)"
            print(f"dashboard, last {days} days{note}")
            timed("campaigns_by_status", lambda s: tracking.campaigns_by_status(s, actor))
            timed("live_campaigns", lambda s: tracking.live_campaigns(s, actor))
            timed("message_totals", lambda s, a=start: tracking.message_totals(s, actor, a, NOW))
            timed(
                "messages_over_time",
                lambda s, a=start: tracking.messages_over_time(s, actor, a, NOW),
            )
            timed(
                "average_execution_time",
                lambda s, a=start: tracking.average_execution_time(s, actor, a, NOW),
            )
            timed("errors_by_type", lambda s, a=start: tracking.errors_by_type(s, actor, a, NOW))
            timed(
                "send_volume (hourly + heat-map)",
                lambda s, a=start: tracking.send_volume(s, actor, a, NOW),
            )
            timed("instance_health", lambda s: tracking.instance_health(s, actor, NOW))
        for label, campaign_id in (("running", running), ("completed", finished)):
            print(f"campaign detail ({label} campaign {campaign_id})")
            timed(
                "campaign_overview",
                lambda s, c=campaign_id: tracking.campaign_overview(s, actor, c),
            )
            timed(
                "campaign_progress",
                lambda s, c=campaign_id: tracking.campaign_progress(s, actor, c, NOW),
            )
            timed("sends_over_time", lambda s, c=campaign_id: tracking.sends_over_time(s, actor, c))
            timed("failure_reasons", lambda s, c=campaign_id: tracking.failure_reasons(s, actor, c))
            timed(
                "recipient_log page 1",
                lambda s, c=campaign_id: tracking.recipient_log(s, actor, c, None, 1, 50),
            )
            timed(
                "recipient_log failed, page 2",
                lambda s, c=campaign_id: tracking.recipient_log(s, actor, c, ["failed"], 2, 50),
            )
            timed(
                "recipient_log search",
                lambda s, c=campaign_id: tracking.recipient_log(s, actor, c, None, 1, 50, "0042"),
            )
            timed(
                "CSV export (whole campaign)",
                lambda s, c=campaign_id: to_csv(
                    tracking.EXPORT_HEADERS, tracking.recipient_export_rows(s, actor, c)
                ),
            )
        counted = True
        print("notifications (5,000)")
        timed("list_notifications", lambda s: notifications.list_notifications(s, actor, 1, 20))
        timed("unread_count", lambda s: notifications.unread_count(s, actor))
        timed("newer_than", lambda s: notifications.newer_than(s, actor, 4_990))
    print(f"slowest: {worst:.1f} ms (target <= {TARGET_MS} ms each)")
    return 0 if worst <= TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
