"""API requests per second for campaign reads (list and get), against a real uvicorn process.

Seeds 1,000 campaigns on a temporary SQLite database (or in a new schema of the PostgreSQL
database of `--database-url`, dropped afterwards), starts `api_service.py`, and drives it from
this process with several client threads for a fixed time. Target: ≥ 200 requests/s on 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from api_server import api_server  # noqa: E402 - beside this file

TARGET_RPS = 200


def seed(database_url: str, campaigns: int) -> tuple[int, str]:
    from sqlalchemy import insert

    from core import people
    from core.base import make_engine, session_scope
    from core.models import Base, Campaign

    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    with session_scope(engine) as session:
        account = people.create_account(session, "Bench")
        user = people.create_user(session, "bench", "bench-password", account.id, "viewer")
        token = people.create_token(session, actor=None, name="bench", user_id=user.id)
        rows = [
            {
                "account_id": account.id,
                "title": f"Campaign {n}",
                "message": "Hello {{first_name|there}}",
                "audience": {"labels": ["vip"]},
                "status": "completed" if n % 3 else "draft",
                "delivery_stats": {"total": 100, "sent": 90, "failed": 10},
            }
            for n in range(campaigns)
        ]
        session.execute(insert(Campaign), rows)
        account_id = account.id
    engine.dispose()
    return account_id, token


@contextlib.contextmanager
def database(tmp: str, base_url: str | None) -> Iterator[str]:
    """A SQLite file in `tmp`, or a new schema of the PostgreSQL database at `base_url`."""
    if not base_url:
        yield f"sqlite:///{tmp}/bench.db"
        return
    from sqlalchemy import create_engine, text

    schema = "bench_" + uuid.uuid4().hex[:8]
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base_url}{'&' if '?' in base_url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def drive(base: str, token: str, seconds: float, threads: int) -> tuple[int, int, list[float]]:
    done = errors = 0
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(offset: int) -> None:
        nonlocal done, errors
        local_done = local_errors = 0
        local_lat: list[float] = []
        with httpx.Client(base_url=base, headers={"api_access_token": token}) as client:
            n = offset
            while time.monotonic() < deadline:
                n += 1
                path = "" if n % 2 else f"/{(n % 1000) + 1}"
                started = time.perf_counter()
                answer = client.get(f"/whatsapp_api_campaigns{path}")
                local_lat.append(time.perf_counter() - started)
                if answer.status_code == 200:
                    local_done += 1
                else:
                    local_errors += 1
        with lock:
            done += local_done
            errors += local_errors
            latencies.extend(local_lat)

    pool = [threading.Thread(target=worker, args=(i * 7,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return done, errors, latencies


def tree_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process and its children (Linux), or None without /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        tasks = Path(f"/proc/{pid}/task").iterdir()
        children = [int(c) for task in tasks for c in (task / "children").read_text().split()]
    except OSError:
        return None
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(tree_cpu(child) or 0.0 for child in children)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--campaigns", type=int, default=1000)
    parser.add_argument("--server-workers", type=int, default=1, help="api_service.py --workers")
    parser.add_argument("--database-url", help="a PostgreSQL URL (default: a SQLite file)")
    args, _ = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp, database(tmp, args.database_url) as database_url:
        account_id, token = seed(database_url, args.campaigns)
        with api_server(database_url, tmp, args.server_workers) as server:
            base = f"http://127.0.0.1:{server.port}/api/v1/accounts/{account_id}"
            cpu_before, server_before = os.times(), tree_cpu(server.pid)
            done, errors, latencies = drive(base, token, args.seconds, args.threads)
            cpu_after, server_after = os.times(), tree_cpu(server.pid)
    latencies.sort()
    rps = done / args.seconds
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else 0
    p95 = latencies[int(len(latencies) * 0.95)] * 1000 if latencies else 0
    client_cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
    print(
        f"campaign reads (list of 25 + get by id), {args.threads} client threads, "
        f"{args.server_workers} server process(es), {args.seconds:.0f} s, "
        f"{database_url.partition(':')[0]}"
    )
    print(f"  requests/s: {rps:,.0f}   (target ≥ {TARGET_RPS})   errors: {errors}")
    print(f"  latency p50 {p50:.1f} ms, p95 {p95:.1f} ms; client CPU {client_cpu:.1f} s")
    if done and server_after is not None and server_before is not None:
        # Steadier than requests/s on a shared machine: what one request costs the server.
        per_request = (server_after - server_before) / done * 1000
        print(f"  server CPU per request: {per_request:.2f} ms")
    return 0 if rps >= TARGET_RPS and errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
