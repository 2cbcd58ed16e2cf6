"""Benchmark: one worker keeping many instances at their rate against a slow fake Evolution.

    .venv/bin/python bench/dispatch.py                  # 500 instances x 12/min for 120 s
    .venv/bin/python bench/dispatch.py --seconds 300 --instances 500 --rate 12 --latency 0.2
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test bench/dispatch.py  # (a fresh schema)

Prints, against the targets of issue 5: achieved sends/minute per instance vs the configured
rate (target >= 99%), the largest count in any 60-s window at the server (target <= rate),
scheduling latency (how late sends start after their slot), CPU used by the worker, and an
unthrottled single-instance bookkeeping rate (target >= 200 sends/s).

The fake server runs in a subprocess so the worker's CPU figure is the worker's alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import dispatch_workers  # noqa: E402 - beside this file

# -- the fake server, in its own process ----------------------------------------------------


def serve(count: int, latency: float, out: str) -> None:
    from tests.fake_evolution import FakeEvolution

    fake = FakeEvolution(latency=latency, global_key="bench-key").start()
    for i in range(count):
        fake.add_instance(f"i{i}", token="bench-key")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(fake.port, flush=True)
    done.wait()
    sends = [(r.instance, r.number, r.at.timestamp()) for r in fake.sends()]
    Path(out).write_text(json.dumps(sends))
    fake.stop()


def start_server(count: int, latency: float, out: Path) -> tuple[subprocess.Popen, int]:
    process = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve",
            str(count),
            "--latency",
            str(latency),
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        cwd=str(ROOT),
    )
    assert process.stdout is not None
    port = int(process.stdout.readline())
    return process, port


def stop_server(process: subprocess.Popen, out: Path) -> list[tuple[str, str, float]]:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    return [tuple(x) for x in json.loads(out.read_text())]


# -- the database -----------------------------------------------------------------------------


BASE_DB = os.environ.get("DATABASE_URL", "")


def prepare_database(workdir: Path) -> str:
    from core.base import reset_settings_cache

    workdir.mkdir(parents=True, exist_ok=True)
    base = BASE_DB
    if base and base.startswith("postgresql") and os.environ.get("BENCH_DEFAULT_SCHEMA"):
        # Behind PgBouncer in transaction mode no `options` reach the server, so no schema of
        # our own either: the database's default schema, emptied first (give it a database of
        # its own). See docs/operations.md, PgBouncer.
        from sqlalchemy import create_engine

        from core.models import Base

        admin = create_engine(base)
        Base.metadata.drop_all(admin)
        admin.dispose()
        url = base
    elif base and base.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        schema = "bench_" + uuid.uuid4().hex[:8]
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        sep = "&" if "?" in base else "?"
        url = f"{base}{sep}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{workdir / 'bench.db'}"
    os.environ["DATABASE_URL"] = url
    os.environ["DATA_DIR"] = str(workdir)
    os.environ.setdefault("SECRET_KEY", "bench-secret")
    reset_settings_cache()
    return url


def seed(
    engine,
    port: int,
    instances: int,
    rate: int,
    per_instance: int,
    campaigns: int,
    rules: dict | None = None,
) -> list[int]:
    from sqlalchemy import insert
    from sqlalchemy.orm import Session

    from core.models import (
        Account,
        Base,
        Campaign,
        CampaignRecipient,
        SenderInstance,
        campaign_instances,
    )
    from core.people import encrypt_secret

    Base.metadata.create_all(engine)
    token = encrypt_secret("bench-key")
    with Session(engine) as session:
        account = Account(name="Bench", timezone="UTC")
        session.add(account)
        session.flush()
        ids = []
        for i in range(instances):
            inst = SenderInstance(
                account_id=account.id,
                name=f"i{i}",
                base_url=f"http://127.0.0.1:{port}",
                instance_name=f"i{i}",
                token_encrypted=token,
                rate_per_minute=rate,
                **(rules or {}),
            )
            session.add(inst)
            session.flush()
            ids.append(inst.id)
        groups = [ids[g::campaigns] for g in range(campaigns)]
        phone = 5511900000000
        for g, members in enumerate(groups):
            campaign = Campaign(
                account_id=account.id, title=f"c{g}", message="hi", status="running"
            )
            session.add(campaign)
            session.flush()
            session.execute(
                insert(campaign_instances),
                [{"campaign_id": campaign.id, "instance_id": m} for m in members],
            )
            rows = []
            for _ in range(per_instance * len(members)):
                phone += 1
                rows.append(
                    {"campaign_id": campaign.id, "phone": f"+{phone}", "rendered_text": "hi",
                     "status": "pending", "attempts": 0, "parts_sent": 0, "is_test": False}
                )  # fmt: skip
            session.execute(insert(CampaignRecipient), rows)
        session.commit()
    return ids


# -- the runs ---------------------------------------------------------------------------------


class RoundTrips:
    """Counts what goes to the database: each statement, each transaction's BEGIN and its
    COMMIT or ROLLBACK (psycopg sends both as round trips of their own, but none in autocommit,
    where each statement is its own transaction), and each ping the pool makes when it hands
    out a connection (`pool_pre_ping`). SQLite has no network at all: its figures are only
    comparable to themselves."""

    def __init__(self, engine) -> None:
        from sqlalchemy import event

        self.engine = engine
        self.statements = 0
        self.transactions = 0
        self.pings = 0
        self._listeners = [
            ("before_cursor_execute", self._on_statement),
            ("begin", self._on_begin),
        ]
        for name, listener in self._listeners:
            event.listen(engine, name, listener)
        dialect = engine.dialect
        self._ping = dialect.do_ping

        def counted_ping(dbapi_connection):
            self.pings += 1
            return self._ping(dbapi_connection)

        dialect.do_ping = counted_ping

    def _on_statement(self, *_args) -> None:
        self.statements += 1

    def _on_begin(self, connection) -> None:
        if not getattr(connection.connection.dbapi_connection, "autocommit", False):
            self.transactions += 1

    @property
    def total(self) -> int:
        return self.statements + 2 * self.transactions + self.pings

    def stop(self) -> None:
        from sqlalchemy import event

        for name, listener in self._listeners:
            event.remove(self.engine, name, listener)
        self.engine.dialect.do_ping = self._ping


def run_worker(
    engine, seconds: float, threads: int, settings, worker_id: str = "bench", until=None
) -> tuple[object, float, float]:
    """Run a dispatcher's jobs for `seconds`, or until the `until` event is set."""
    from core.sending import Dispatcher

    dispatcher = Dispatcher(engine, settings, worker_id=worker_id, max_threads=threads)
    stop = threading.Event()

    def every(interval: float, job) -> threading.Thread:
        def loop() -> None:
            while not stop.wait(interval):
                try:
                    job()
                except Exception as error:  # noqa: BLE001 - keep the bench running
                    print("job failed:", error, file=sys.stderr)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    wall0 = time.monotonic()
    dispatcher.start()
    jobs = [
        every(settings.worker_tick_seconds, dispatcher.tick),
        every(min(settings.heartbeat_seconds, settings.lease_seconds / 3), dispatcher.maintain),
    ]
    if until is None:
        time.sleep(seconds)
    else:
        until.wait()
    stop.set()
    for job in jobs:
        job.join()
    dispatcher.stop(timeout=10)
    wall = time.monotonic() - wall0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return dispatcher, cpu, wall


def max_in_window(times: list[float], window: float = 60.0) -> int:
    times = sorted(times)
    best = left = 0
    for right, t in enumerate(times):
        while t - times[left] >= window:
            left += 1
        best = max(best, right - left + 1)
    return best


def throttled(args: argparse.Namespace, workdir: Path) -> None:
    from dataclasses import replace

    from core.base import get_settings, make_engine

    out = workdir / "sends.json"
    server, port = start_server(args.instances, args.latency, out)
    try:
        url = prepare_database(workdir)
        engine = make_engine(url, pool_size=16, max_overflow=args.threads)
        per_instance = math.ceil(args.seconds * args.rate / 60) + 5
        rules = None
        effective = float(args.rate)
        if args.rules:
            # The deliverability rules on: a warm-up ladder checked at every claim (day 1 of
            # "established": 200 a day, more than a short run sends), the health scored by the
            # maintenance every minute, and long pauses (fixed length, so the effective rate
            # is exact: 60 / (60 / rate + pause / every)).
            rules = {
                "warmup": "established",
                "long_pause_every": args.long_pause_every,
                "long_pause_min_minutes": args.long_pause_minutes,
                "long_pause_max_minutes": args.long_pause_minutes,
            }
            per_send = 60 / args.rate + args.long_pause_minutes * 60 / args.long_pause_every
            effective = 60 / per_send
        seed(engine, port, args.instances, args.rate, per_instance, args.campaigns, rules)
        settings = replace(
            get_settings(), worker_tick_seconds=args.tick, lease_seconds=30, heartbeat_seconds=2,
            http_read_timeout=10,
        )  # fmt: skip
        print(
            f"throttled: {args.instances} instances x {args.rate}/min, server latency "
            f"{args.latency * 1000:.0f} ms, {args.seconds:.0f} s, {engine.dialect.name}, "
            f"{args.threads} threads"
            + (
                f"; rules on: warm-up, health, a {args.long_pause_minutes} min pause every "
                f"{args.long_pause_every} sends -> effective rate {effective:.2f}/min"
                if args.rules
                else ""
            ),
            flush=True,
        )
        dispatcher, cpu, wall = run_worker(engine, args.seconds, args.threads, settings)
    finally:
        sends = stop_server(server, out)
    by_instance: dict[str, list[float]] = {}
    for instance, _number, at in sends:
        by_instance.setdefault(instance, []).append(at)
    numbers = [n for _i, n, _a in sends]
    rates = []
    for times in by_instance.values():
        times.sort()
        if len(times) >= 2:
            rates.append((len(times) - 1) / (times[-1] - times[0]) * 60)
    worst_window = max((max_in_window(t) for t in by_instance.values()), default=0)
    # After the start-up wave (every instance due at once) has spread out.
    start = min((t[0] for t in by_instance.values()), default=0.0)
    settled = []
    for times in by_instance.values():
        later = [t for t in times if t >= start + args.warmup]
        if len(later) >= 2:
            settled.append((len(later) - 1) / (later[-1] - later[0]) * 60)
    lateness = sorted(dispatcher.stats.lateness)
    total = len(sends)
    print(f"  sends: {total} ({total / wall:.1f}/s over {wall:.0f} s); duplicates: "
          f"{len(numbers) - len(set(numbers))}; instances that sent: {len(by_instance)}")  # fmt: skip
    if rates:
        print(
            f"  achieved per instance (sends/min, steady state): mean {statistics.mean(rates):.2f}"
            f", min {min(rates):.2f} vs effective rate {effective:.2f} -> "
            f"{statistics.mean(rates) / effective * 100:.1f}% of rate (target >= 99%)"
        )
    if settled:
        print(
            f"  ... after the first {args.warmup:.0f} s: mean {statistics.mean(settled):.2f}, "
            f"min {min(settled):.2f} -> {statistics.mean(settled) / effective * 100:.1f}% of rate"
        )
    if args.rules and rates:
        # With long pauses a short run's first-to-last rate depends on where it ends; against
        # the schedule instead: each instance's planned time (a gap per send, a pause after
        # every N-th) over the time it took.
        gap, pause = 60 / args.rate, args.long_pause_minutes * 60
        kept = []
        for times in by_instance.values():
            if len(times) >= 2:
                planned = (len(times) - 1) * gap + (
                    (len(times) - 1) // args.long_pause_every
                ) * pause
                kept.append(planned / (times[-1] - times[0]) * 100)
        print(
            f"  against its schedule (gaps + long pauses): mean {statistics.mean(kept):.1f}%, "
            f"min {min(kept):.1f}% of the effective rate (target >= 99%)"
        )
    print(f"  largest count in any 60-s window (any instance): {worst_window} "
          f"(limit {args.rate})")  # fmt: skip
    if lateness:
        q = statistics.quantiles(lateness, n=100)
        print(
            f"  scheduling latency (start after slot): p50 {q[49] * 1000:.1f} ms, "
            f"p99 {q[98] * 1000:.1f} ms, max {lateness[-1] * 1000:.1f} ms"
        )
    print(f"  worker CPU: {cpu:.1f} s in {wall:.0f} s = {cpu / wall * 100:.0f}% of one core")
    print(f"  outcomes: {dispatcher.stats.outcomes}")


def unthrottled(args: argparse.Namespace, workdir: Path) -> None:
    from dataclasses import replace

    from core.base import get_settings, make_engine
    from core.messaging import Outcome, SendResult
    from core.sending import Claim, Dispatcher, Sent, claim_next

    out = workdir / "sends1.json"
    server, port = start_server(1, 0.0, out)
    try:
        url = prepare_database(workdir / "one")
        engine = make_engine(url)
        [instance_id] = seed(engine, port, 1, 10**7, args.unthrottled * 2, 1)
        settings = replace(get_settings(), lease_seconds=300)
        dispatcher = Dispatcher(engine, settings, worker_id="one", max_threads=2)
        dispatcher.start()
        cpu0 = time.process_time()
        start = time.monotonic()
        sent = 0
        while sent < args.unthrottled:
            step = dispatcher.process_instance(instance_id)
            if isinstance(step, Sent):
                sent += 1
            elif not hasattr(step, "until"):
                break
        elapsed = time.monotonic() - start
        cpu = time.process_time() - cpu0
        # The bookkeeping alone (no HTTP): claim transaction, then the outcome's, as a lane does.
        answer = SendResult(Outcome.SENT, "BENCH", 201)
        trips = RoundTrips(engine)
        cpu1 = time.process_time()
        start = time.monotonic()
        booked = 0
        while booked < args.unthrottled:
            with dispatcher.database.statements() as connection:
                step = claim_next(connection, instance_id, "one", dispatcher.clock(),
                                  campaigns=dispatcher.campaign_cache, continuation=False)  # fmt: skip
            if isinstance(step, Claim):
                dispatcher.writer.record(step, answer, dispatcher.clock())
                booked += 1
            elif not hasattr(step, "until"):
                break
        booked_elapsed = time.monotonic() - start
        booked_cpu = time.process_time() - cpu1
        trips.stop()
        dispatcher.stop(timeout=5)
    finally:
        sends = stop_server(server, out)
    print(
        f"unthrottled, one instance, {engine.dialect.name}: {sent} sends in {elapsed:.2f} s = "
        f"{sent / elapsed:.0f} sends/s, worker CPU {cpu / elapsed * 100:.0f}% "
        f"(claim + HTTP round trip to the fake server + outcome each); server got {len(sends)}"
    )
    print(
        f"  bookkeeping alone (claim + outcome transactions, no HTTP): {booked} in "
        f"{booked_elapsed:.2f} s = {booked / booked_elapsed:.0f} sends/s (target >= 200), "
        f"{booked_cpu / max(booked, 1) * 1000:.2f} ms CPU each"
    )
    per_send = trips.total / max(booked, 1)
    print(
        f"  round trips per send: {per_send:.2f} ({trips.statements / max(booked, 1):.2f} "
        f"statements + {trips.transactions / max(booked, 1):.2f} transactions x BEGIN/COMMIT "
        f"+ {trips.pings / max(booked, 1):.2f} pings; target <= 4 on PostgreSQL)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--rate", type=int, default=12)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--campaigns", type=int, default=10)
    parser.add_argument("--threads", type=int, default=128)
    parser.add_argument("--tick", type=float, default=0.5)
    parser.add_argument("--warmup", type=float, default=30, help="s left out of the settled rate")
    parser.add_argument("--unthrottled", type=int, default=2000, help="sends (0: skip)")
    parser.add_argument("--skip-throttled", action="store_true")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="N worker processes on one PostgreSQL (see bench/dispatch_workers.py)",
    )
    parser.add_argument(
        "--kill-after", type=float, default=0, help="with --workers: SIGKILL w1 at s"
    )
    parser.add_argument(
        "--join-after", type=float, default=0, help="with --workers: start one more worker at s"
    )
    parser.add_argument("--lease", type=float, default=30, help="with --workers: lease seconds")
    parser.add_argument(
        "--rules", action="store_true", help="warm-up, health and long pauses on (throttled run)"
    )
    parser.add_argument("--long-pause-every", type=int, default=10)
    parser.add_argument("--long-pause-minutes", type=float, default=0.5)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--worker-child", dest="child_id", help=argparse.SUPPRESS)
    args = parser.parse_args()  # fmt: skip
    if args.serve is not None:
        serve(args.serve, args.latency, args.out)
        return
    if args.child_id:
        dispatch_workers.child(args)
        return
    if args.workers:
        with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
            print(f"started {datetime.now().isoformat(timespec='seconds')}")
            dispatch_workers.run(args, Path(tmp))
        return
    with tempfile.TemporaryDirectory(prefix="bench-dispatch-") as tmp:
        workdir = Path(tmp)
        print(f"started {datetime.now().isoformat(timespec='seconds')}")
        if args.unthrottled:
            unthrottled(args, workdir)
        if not args.skip_throttled:
            throttled(args, workdir)


if __name__ == "__main__":
    main()
