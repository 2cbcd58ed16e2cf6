"""Benchmark: the first contact sync of 100,000 Chatwoot contacts, then an incremental one.

    .venv/bin/python bench/chatwoot_sync.py [--contacts 100000] [--database-url URL]

The fake Chatwoot (tests/fake_chatwoot.py, real HTTP on 127.0.0.1) runs in a child process with
the contacts seeded (unique Brazilian mobiles, ~1% bad numbers, four labels on about half of
them, two custom attributes), so the figures are the syncing process's alone. Prints seconds,
requests and peak memory (`ru_maxrss` of this process) beside the targets: the first sync under
2 minutes and 500 MB.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from core import crm, people  # noqa: E402
from core.base import make_engine  # noqa: E402
from core.models import Base, Contact  # noqa: E402
from core.people import Actor  # noqa: E402

TARGET_SECONDS = 120
TARGET_PEAK_BYTES = 500 * 1024**2
LABELS = ["VIP", "Cliente", "Lead", "Black Friday"]


def serve(count: int, pipe) -> None:  # the child process
    from tests.fake_chatwoot import FakeChatwoot

    with FakeChatwoot() as fake:
        acct = fake.add_account("Bench")
        now = time.time()
        acct.seed_contacts(
            count,
            phone_number=lambda i: "+5512" if i % 100 == 7 else f"+55119{i:08d}",
            labels=lambda i: [LABELS[i % 4]] if i % 2 else [],
            custom_attributes=lambda i: {"plan": ("free", "pro")[i % 2], "n": i},
            created_at=lambda i: now - 30 * 86400 + i * 0.01,
        )
        pipe.send((fake.base_url, acct.id, acct.token))
        pipe.recv()  # until the parent is done
        pipe.send(len(fake.requests()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--database-url", help="default: a SQLite file in a temporary directory")
    args = parser.parse_args()

    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("fork").Process(target=serve, args=(args.contacts, theirs))
    child.start()
    base_url, chatwoot_id, token = ours.recv()
    with tempfile.TemporaryDirectory(prefix="bench-chatwoot-") as tmp:
        engine = make_engine(args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        Base.metadata.create_all(engine)
        with Session(engine, expire_on_commit=False) as session:
            account = people.create_account(session, "Bench", default_country="BR")
            session.commit()
            actor = Actor.system(account.id, "bench")
            data = {"base_url": base_url, "chatwoot_account_id": chatwoot_id, "token": token}
            crm.connect_chatwoot(session, actor, data)
            session.commit()
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            started = time.perf_counter()
            first = crm.sync_contacts(session, actor)
            first_seconds = time.perf_counter() - started
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            started = time.perf_counter()
            second = crm.sync_contacts(session, actor)
            second_seconds = time.perf_counter() - started
            stored = session.scalar(select(func.count()).select_from(Contact))
        engine.dispose()
    ours.send("done")
    requests = ours.recv()
    child.join(10)

    print(
        f"first sync ({first.mode}): {args.contacts:,} Chatwoot contacts in {first_seconds:.1f} s "
        f"(target < {TARGET_SECONDS} s): created {first.created:,}, rejected {first.rejected:,}"
    )
    print(
        f"second sync ({second.mode}): {second_seconds:.1f} s: updated {second.updated:,}, "
        f"unchanged {second.unchanged:,}"
    )
    print(f"requests to Chatwoot, both syncs: {requests:,}; contacts stored: {stored:,}")
    print(
        f"peak memory: {peak / 1024**2:.0f} MB (target < {TARGET_PEAK_BYTES / 1024**2:.0f} MB; "
        f"{rss_before / 1024**2:.0f} MB before the sync)"
    )
    ok = first_seconds < TARGET_SECONDS and peak < TARGET_PEAK_BYTES
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
