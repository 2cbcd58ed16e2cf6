"""Freezing 100,000 recipients with an experiment, against the same campaign without one.

    .venv/bin/python bench/variants_freeze.py            # a fresh SQLite file under data/
    .venv/bin/python bench/variants_freeze.py --url postgresql+psycopg://postgres@127.0.0.1:5432/test

Seeds 100,000 contacts, then starts two campaigns over all of them: one message, and three
variants (spintax in one) with a 10 % holdout and a 20 % A/B test share — the three hashes per
recipient and each variant's renderer. Then decides the A/B test (the rest, ~72,000 rows,
re-rendered with the winner and made pending in one statement). Targets, on CPU time: the
experiment's freeze and the release (with spintax) each within 1.5 x the plain freeze.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from core import campaigns  # noqa: E402
from core.base import make_engine  # noqa: E402
from core.campaigns._audience_snapshot import audience_snapshot  # noqa: E402
from core.models import Account, Base, CampaignRecipient, SenderInstance  # noqa: E402
from core.people import Actor  # noqa: E402

CONTACTS = 100_000
MESSAGE = "Oi {{first_name|there}}, plano *{{plan}}*"
VARIANTS = [
    {"message": MESSAGE, "weight": 2},
    {"message": "{Olá|Oi|E aí} {{first_name}}, veja o plano {{plan}}", "weight": 1},
    {"message": "{{first_name}}: o plano {{plan}} te espera", "weight": 1},
]
EXPERIMENT = {
    "variants": VARIANTS,
    "holdout_share": 0.1,
    "ab_test": {"test_share": 0.2, "decide_after_minutes": 60, "metric": "read"},
}


def seed(engine) -> tuple[int, int]:
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    now = datetime.now(UTC).replace(tzinfo=None)
    marker = "?" if engine.dialect.name == "sqlite" else "%s"
    with Session(engine) as session:
        account = Account(name="Bench", timezone="UTC")
        session.add(account)
        session.flush()
        instance = SenderInstance(
            account_id=account.id,
            name="bench",
            base_url="http://127.0.0.1:9",
            instance_name="bench",
            token_encrypted="x",
            rate_per_minute=20,
        )
        session.add(instance)
        session.commit()
        ids = account.id, instance.id
    rows = [
        (ids[0], f"+55119{i:08d}", f"Contact {i} Silva", json.dumps({"plan": "gold"}), "unknown")
        + (now, now)
        for i in range(CONTACTS)
    ]
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO contacts (account_id, phone, name, custom_attributes, whatsapp_status, "
            f"created_at, updated_at) VALUES ({', '.join([marker] * 7)})",
            rows,
        )
    return ids


def timed_start(
    session: Session, actor: Actor, instance_id: int, **fields
) -> tuple[int, float, float]:
    data = {
        "title": "Freeze",
        "message": MESSAGE,
        "audience": {"custom_attributes": {"plan": "gold"}},
        "instance_ids": [instance_id],
    }
    campaign = campaigns.create(session, actor, {**data, **fields})
    session.commit()
    started, cpu = time.perf_counter(), time.process_time()
    assert campaigns.start(session, campaign.id, datetime.now(UTC), campaigns.EDITABLE)
    session.commit()
    return campaign.id, time.perf_counter() - started, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: a SQLite file under data/)")
    args = parser.parse_args()
    path = Path(__file__).resolve().parent.parent / "data" / "bench-variants.db"
    path.parent.mkdir(exist_ok=True)
    engine = make_engine(args.url or f"sqlite:///{path}")
    account_id, instance_id = seed(engine)
    actor = Actor.system(account_id, "bench")
    with Session(engine) as session:
        audience_snapshot(session, account_id)  # warm, as the worker's is after its first start
        session.commit()
        _plain_id, plain, plain_cpu = timed_start(session, actor, instance_id)
        campaign_id, experiment, experiment_cpu = timed_start(
            session, actor, instance_id, **EXPERIMENT
        )
        states = dict(
            session.execute(
                select(CampaignRecipient.status, func.count())
                .where(CampaignRecipient.campaign_id == campaign_id)
                .group_by(CampaignRecipient.status)
            ).all()
        )
        session.commit()
        started, cpu = time.perf_counter(), time.process_time()
        campaigns.pick_winner(session, actor, campaign_id, 1)
        session.commit()
        release, release_cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    # On a shared machine wall time includes waiting for a core: the targets are on CPU time.
    ok = experiment_cpu <= 1.5 * plain_cpu and release_cpu <= 1.5 * plain_cpu
    waiting = states.get("awaiting_winner", 0)
    print(f"plain freeze       {plain:6.2f} s  [cpu {plain_cpu:.2f} s]  ({CONTACTS:,} recipients)")
    print(f"experiment freeze  {experiment:6.2f} s  [cpu {experiment_cpu:.2f} s]  ({states})")
    print(f"winner release     {release:6.2f} s  [cpu {release_cpu:.2f} s]  ({waiting:,} rows)")
    print(
        "targets (cpu): experiment and release <= 1.5 x the plain freeze:", "ok" if ok else "MISSED"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
