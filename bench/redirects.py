"""Tracked-link clicks per second through the real API service (`GET /r/<code>` → 302).

Seeds a campaign of 10,000 recipients with a tracked link each on a temporary SQLite database (or
`DATABASE_URL`'s PostgreSQL, in a schema of its own), starts `api_service.py`, and follows random
codes from several client threads, as phones would: every click is counted in the database.
Target: ≥ 500 clicks/s on this 2-core machine, with the client on the same cores.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from api_reads import tree_cpu  # noqa: E402 - beside this file
from api_server import api_server  # noqa: E402

TARGET = 500
BROWSER = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"


def seed(database_url: str, recipients: int) -> list[str]:
    from sqlalchemy import insert, select

    from core.base import make_engine, session_scope, utcnow
    from core.campaigns import _links as links
    from core.models import Account, Base, Campaign, CampaignRecipient, TrackedLink

    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    sent = utcnow() - timedelta(hours=1)
    with session_scope(engine) as session:
        account = Account(name="Bench", timezone="UTC")
        session.add(account)
        session.flush()
        campaign = Campaign(account_id=account.id, title="Clicks", message="x", status="running",
                            track_links=True)  # fmt: skip
        session.add(campaign)
        session.flush()
        session.execute(
            insert(CampaignRecipient),
            [{"campaign_id": campaign.id, "phone": f"+55119{n:08d}", "rendered_text": "x",
              "status": "sent", "sent_at": sent, "attempts": 1, "parts_sent": 1, "is_test": False}
             for n in range(recipients)],
        )  # fmt: skip
        ids = session.scalars(select(CampaignRecipient.id)).all()
        codes = [links.new_code() for _ in ids]
        session.execute(
            insert(TrackedLink),
            [{"code": code, "campaign_id": campaign.id, "recipient_id": recipient_id,
              "url": "https://loja.example/promo"} for code, recipient_id in zip(codes, ids, strict=True)],
        )  # fmt: skip
    engine.dispose()
    return codes


def drive(base: str, codes: list[str], seconds: float, threads: int) -> tuple[int, int]:
    done = errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(seed_value: int) -> None:
        nonlocal done, errors
        rng = random.Random(seed_value)
        mine = bad = 0
        with httpx.Client(base_url=base, headers={"User-Agent": BROWSER}) as client:
            while time.monotonic() < deadline:
                answer = client.get(f"/r/{rng.choice(codes)}")
                if answer.status_code == 302:
                    mine += 1
                else:
                    bad += 1
        with lock:
            done += mine
            errors += bad

    pool = [threading.Thread(target=worker, args=(index,)) for index in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return done, errors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--server-workers", type=int, default=1, help="api_service.py --workers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp}/bench.db"
        if database_url.startswith("postgresql"):
            sys.path.insert(0, str(ROOT))
            import dispatch

            database_url = dispatch.prepare_database(Path(tmp))
        codes = seed(database_url, args.recipients)
        with api_server(database_url, tmp, args.server_workers) as server:
            before = tree_cpu(server.pid)
            done, errors = drive(
                f"http://127.0.0.1:{server.port}", codes, args.seconds, args.threads
            )
            after = tree_cpu(server.pid)
    rate = done / args.seconds
    kind = "PostgreSQL" if database_url.startswith("postgresql") else "SQLite"
    print(f"tracked-link redirects, {kind}, {args.threads} client threads, "
          f"{args.server_workers} server process(es), {args.seconds:.0f} s")  # fmt: skip
    print(f"  clicks/s: {rate:,.0f}   (target ≥ {TARGET})   errors: {errors}")
    if done and before is not None and after is not None:
        print(f"  server CPU per click: {(after - before) / done * 1000:.2f} ms")
    return 0 if rate >= TARGET and errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
