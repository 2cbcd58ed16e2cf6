"""Several worker processes on one PostgreSQL sharing many numbers: `bench/dispatch.py --workers N`.

    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \
        .venv/bin/python bench/dispatch.py --workers 2 --instances 1000 --seconds 180
    ... --workers 2 --kill-after 60      # SIGKILL worker 1 a minute in: its numbers move over
    ... --workers 2 --join-after 60      # a third worker joins a minute in and takes its share

Each worker is its own process (its own GIL, pool and leases), as in production. The parent seeds
the database, starts the fake Evolution in a process of its own, watches the leases twice a
second, and prints per-number rate, the largest count in any 60-s window, duplicates, lease moves,
the largest share any live worker held after one lease period, how long a dead worker's numbers
waited for a new owner, and CPU per worker.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(args: argparse.Namespace) -> None:
    """One worker: run the dispatcher until SIGTERM, then print its CPU and outcomes as JSON."""
    import threading
    from dataclasses import replace

    sys.path.insert(0, str(ROOT))
    import dispatch

    from core.base import get_settings, make_engine

    settings = replace(
        get_settings(), worker_tick_seconds=args.tick, lease_seconds=args.lease,
        heartbeat_seconds=min(2.0, args.lease / 5), http_read_timeout=10,
    )  # fmt: skip
    engine = make_engine(settings.database_url, pool_size=8, max_overflow=0)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    dispatcher, _cpu, _wall = dispatch.run_worker(
        engine, 0, args.threads, settings, worker_id=args.child_id, until=stop
    )
    print(json.dumps({"outcomes": dict(dispatcher.stats.outcomes)}), flush=True)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start_worker(name: str, url: str, args: argparse.Namespace) -> subprocess.Popen:
    env = dict(os.environ, DATABASE_URL=url)
    command = [sys.executable, str(ROOT / "bench" / "dispatch.py"), "--worker-child", name,
               "--lease", str(args.lease), "--tick", str(args.tick), "--threads", str(args.threads)]  # fmt: skip
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, cwd=str(ROOT))


def _leases(engine) -> dict[int, str | None]:
    from sqlalchemy import select

    from core.models import SenderInstance

    with engine.connect() as connection:
        rows = connection.execute(select(SenderInstance.id, SenderInstance.lease_owner)).all()
    return {row.id: row.lease_owner for row in rows}


def run(args: argparse.Namespace, workdir: Path) -> None:
    sys.path.insert(0, str(ROOT))
    import dispatch  # the single-worker bench: its fake server, database and window helpers

    from core.base import make_engine

    if not dispatch.BASE_DB.startswith("postgresql"):
        sys.exit(
            "--workers needs DATABASE_URL=postgresql+psycopg://… (several processes, one database)"
        )
    out = workdir / "sends.json"
    server, port = dispatch.start_server(args.instances, args.latency, out)
    workers: dict[str, subprocess.Popen] = {}
    cpu: dict[str, float] = {}
    events: list[str] = []
    try:
        url = dispatch.prepare_database(workdir)
        engine = make_engine(url, pool_size=2)
        per_instance = math.ceil(args.seconds * args.rate / 60) + 5
        dispatch.seed(engine, port, args.instances, args.rate, per_instance, args.campaigns)
        print(
            f"{args.workers} workers on PostgreSQL: {args.instances} numbers x {args.rate}/min, "
            f"server latency {args.latency * 1000:.0f} ms, {args.seconds:.0f} s, lease "
            f"{args.lease:.0f} s" + (f", kill worker w1 at {args.kill_after:.0f} s" if args.kill_after else "")
            + (f", a worker joins at {args.join_after:.0f} s" if args.join_after else ""),
            flush=True,
        )  # fmt: skip
        for index in range(args.workers):
            workers[f"w{index}"] = _start_worker(f"w{index}", url, args)
        started = time.monotonic()
        previous: dict[int, str | None] = {}  # each number's last known owner
        moves = Counter()  # lease moves per phase: the start-up spread, then after each event
        phase = "at start-up"
        killed_at = joined_at = None
        orphan_wait: float | None = None
        join_wait: float | None = None
        worst_share_after_settle = 0
        fair_after_settle = 0
        while (elapsed := time.monotonic() - started) < args.seconds:
            time.sleep(0.5)
            if args.kill_after and killed_at is None and elapsed >= args.kill_after:
                victim = workers["w1"]
                cpu["w1"] = _cpu_seconds(victim.pid)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                killed_at = elapsed
                events.append(f"w1 killed at {elapsed:.0f} s")
                phase, worst_share_after_settle = "after the kill", 0
            if args.join_after and joined_at is None and elapsed >= args.join_after:
                workers["joiner"] = _start_worker("joiner", url, args)
                joined_at = elapsed
                events.append(f"joiner started at {elapsed:.0f} s")
                phase, worst_share_after_settle = "after the join", 0
            current = _leases(engine)
            for key, owner in current.items():  # a move: a new owner, via a release or not
                if owner is not None:
                    if previous.get(key) not in (None, owner):
                        moves[phase] += 1
                    previous[key] = owner
            held = Counter(owner for owner in current.values() if owner is not None)
            if os.environ.get("BENCH_DEBUG"):
                print(f"{elapsed:5.1f} {dict(held)}", flush=True)
            taken_over = "w1" not in held and None not in current.values()
            if killed_at is not None and orphan_wait is None and taken_over:
                orphan_wait = elapsed - killed_at
            if joined_at is not None and join_wait is None and held.get("joiner", 0) > 0:
                live = [name for name, proc in workers.items() if proc.poll() is None]
                if held["joiner"] >= math.floor(args.instances / len(live)):
                    join_wait = elapsed - joined_at
            last_change = max(killed_at or 0, joined_at or 0)
            if elapsed - last_change > 2 * args.lease:  # settled after a change
                live = [name for name, proc in workers.items() if proc.poll() is None]
                fair = math.ceil(args.instances / len(live))
                fair_after_settle = fair
                worst_share_after_settle = max(
                    worst_share_after_settle, max((held.get(name, 0) for name in live), default=0)
                )
        for name, process in workers.items():
            if process.poll() is None:
                cpu[name] = _cpu_seconds(process.pid)
                process.send_signal(signal.SIGTERM)
        for process in workers.values():
            process.wait(timeout=60)
        wall = time.monotonic() - started
    finally:
        for process in workers.values():
            if process.poll() is None:
                process.kill()
        sends = dispatch.stop_server(server, out)
    _report(args, sends, wall, cpu, moves, events, orphan_wait, join_wait,
            worst_share_after_settle, fair_after_settle)  # fmt: skip


def _report(args, sends, wall, cpu, moves, events, orphan_wait, join_wait, worst, fair) -> None:
    import dispatch

    by_instance: dict[str, list[float]] = {}
    for instance, _number, at in sends:
        by_instance.setdefault(instance, []).append(at)
    numbers = [number for _instance, number, _at in sends]
    start = min((times[0] for times in by_instance.values()), default=0.0)
    settled = []
    for times in by_instance.values():
        later = sorted(t for t in times if t >= start + args.warmup)
        if len(later) >= 2:
            settled.append((len(later) - 1) / (later[-1] - later[0]) * 60)
    worst_window = max((dispatch.max_in_window(t) for t in by_instance.values()), default=0)
    print(f"  sends: {len(sends)} ({len(sends) / wall:.1f}/s over {wall:.0f} s); duplicates: "
          f"{len(numbers) - len(set(numbers))}; numbers that sent: {len(by_instance)} of {args.instances}")  # fmt: skip
    if settled:
        print(
            f"  per number after the first {args.warmup:.0f} s: mean {statistics.mean(settled):.2f}/min,"
            f" min {min(settled):.2f} -> {statistics.mean(settled) / args.rate * 100:.1f}% of rate "
            "(target >= 99%)"
        )
    print(f"  largest count in any 60-s window (any number): {worst_window} (limit {args.rate})")
    moved = ", ".join(f"{count} {phase}" for phase, count in moves.items())
    print(f"  lease moves: {moved or 0}; {'; '.join(events) or 'no kill, no join'}")
    if fair:
        print(f"  largest share held by a live worker once settled: {worst} (fair share {fair}, "
              f"target <= {fair + 1})")  # fmt: skip
    if orphan_wait is not None:
        print(f"  a killed worker's numbers all had a new owner after {orphan_wait:.1f} s "
              f"(lease {args.lease:.0f} s)")  # fmt: skip
    if join_wait is not None:
        print(
            f"  the joining worker held its share after {join_wait:.1f} s (lease {args.lease:.0f} s)"
        )
    for name in sorted(cpu):
        print(f"  CPU {name}: {cpu[name]:.1f} s = {cpu[name] / wall * 100:.0f}% of one core")
