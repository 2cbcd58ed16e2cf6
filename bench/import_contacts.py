"""Benchmark: import a realistic 1,000,000-row contacts CSV into SQLite.

    .venv/bin/python bench/import_contacts.py [--rows 1000000] [--database-url URL]

Generates the file in a temporary directory (mixed phone formats, ~5% bad rows, ~2% duplicates,
accented names, labels, three attributes), imports it through `core.contacts.import_contacts` into
a fresh database in one transaction, and prints rows/second and peak memory beside the targets
(>= 50,000 rows/s on SQLite with 2 cores; <= 1 GB peak). Peak memory is the process's maximum
resident set size (`ru_maxrss`), which covers everything the import held, not just Python objects.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from core import people  # noqa: E402
from core.base import make_engine  # noqa: E402
from core.contacts import import_contacts  # noqa: E402
from core.models import Base, Contact  # noqa: E402
from core.people import Actor  # noqa: E402

TARGET_ROWS_PER_SECOND = 50_000
TARGET_PEAK_BYTES = 1024**3

FIRST = [
    "Ana",
    "João",
    "María",
    "José",
    "Luíza",
    "Carlos",
    "Fernanda",
    "Pedro",
    "Lucía",
    "Raúl",
    "Beatriz",
    "Tomás",
    "Camila",
    "André",
    "Sofía",
    "Mateus",
    "Valentina",
    "Gabriel",
]
LAST = [
    "Silva",
    "Santos",
    "Oliveira",
    "García",
    "Martínez",
    "Souza",
    "Pereira",
    "López",
    "Rodrigues",
    "Fernández",
    "Almeida",
    "Gómez",
    "Costa",
    "Ribeiro",
    "Díaz",
]
LABELS = ["vip", "cliente", "lead", "Black Friday", "newsletter", "atacado", "varejo", "sp", "rj"]
CITIES = [
    "São Paulo",
    "Rio de Janeiro",
    "Belo Horizonte",
    "Curitiba",
    "Ciudad de México",
    "Buenos Aires",
    "Lisboa",
    "Porto Alegre",
    "Recife",
    "Bogotá",
]
PLANS = ["free", "basic", "pro", "enterprise"]
BAD = ["", "abc", "123", "+999 123 456", "(11) 1234", "0800", "n/a", "+55 11 12345-67890123"]
AREAS = [11, 12, 19, 21, 27, 31, 41, 47, 48, 51, 61, 62, 71, 81, 85, 91, 92]


def phone(rng: random.Random) -> str:
    area, a, b = rng.choice(AREAS), rng.randint(1000, 9999), rng.randint(1000, 9999)
    shape = rng.random()
    if shape < 0.30:
        return f"+55 {area} 9{a}-{b}"
    if shape < 0.50:
        return f"55{area}9{a}{b}"
    if shape < 0.70:
        return f"({area}) 9{a}-{b}"
    if shape < 0.80:
        return f"{area}9{a}{b}"
    if shape < 0.90:
        return f"+55{area}9{a}{b}"
    if shape < 0.95:
        return f"+1 (415) {rng.randint(200, 999)}-{a}"
    return f"+52 55 {a} {b}"


def generate(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    recent: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("Nome,Telefone,Etiquetas,Cidade,Plano,Idade\n")
        for i in range(rows):
            kind = rng.random()
            if kind < 0.05:
                number = rng.choice(BAD)
            elif kind < 0.07 and recent:
                number = rng.choice(recent)  # a duplicate of an earlier row
            else:
                number = phone(rng)
                if i % 50 == 0:
                    recent = [*recent[-999:], number]
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            if rng.random() < 0.05:
                name = f'"{name}, Jr."'
            labels = ", ".join(rng.sample(LABELS, rng.randint(0, 3)))
            labels = f'"{labels}"' if "," in labels else labels
            city = rng.choice(CITIES)
            plan = rng.choice(PLANS)
            age = str(rng.randint(18, 80)) if rng.random() < 0.8 else ""
            out.write(f"{name},{number},{labels},{city},{plan},{age}\n")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a SQLite file in the temporary directory")
    parser.add_argument(
        "--processes", type=int, default=1, help="extra parsing processes (as the CLI uses)"
    )
    parser.add_argument(
        "--threaded",
        action="store_true",
        help="keep another thread alive during the import, as in the web and API servers "
        "(which cannot fork: the parsing process is then a fresh interpreter)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        csv_path = Path(tmp) / "contacts.csv"
        started = time.perf_counter()
        generate(csv_path, args.rows)
        size_mb = csv_path.stat().st_size / 1e6
        print(
            f"generated {args.rows:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - started:.1f}s"
        )

        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        with Session(engine, expire_on_commit=False) as session:
            account = people.create_account(session, "Bench", default_country="BR")
            session.commit()
            actor = Actor.system(account.id, "bench")
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            children_before = _cpu(resource.RUSAGE_CHILDREN)
            cpu_before = time.process_time()
            started = time.perf_counter()
            server_thread = threading.Event()
            if args.threaded:
                threading.Thread(target=server_thread.wait, daemon=True).start()
            with csv_path.open("rb") as handle:
                batch = import_contacts(
                    session, actor, handle, csv_path.name, processes=args.processes
                )
            server_thread.set()
            session.commit()
            elapsed = time.perf_counter() - started
            main_cpu = time.process_time() - cpu_before
            child_cpu = _cpu(resource.RUSAGE_CHILDREN) - children_before
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
            stored = session.scalar(select(func.count()).select_from(Contact))
        engine.dispose()

    total = (
        batch.created_count
        + batch.updated_count
        + batch.unchanged_count
        + batch.merged_count
        + batch.rejected_count
    )
    rate = args.rows / elapsed
    print(
        f"report: created {batch.created_count:,}, updated {batch.updated_count:,}, "
        f"unchanged {batch.unchanged_count:,}, merged {batch.merged_count:,}, "
        f"rejected {batch.rejected_count:,} (accounted {total:,} of {args.rows:,}); "
        f"contacts stored {stored:,}"
    )
    print(f"import time     {elapsed:8.1f} s (one transaction, including commit)")
    verdict = "OK" if rate >= TARGET_ROWS_PER_SECOND else "BELOW TARGET"
    print(f"rows/second     {rate:10,.0f}   target >= {TARGET_ROWS_PER_SECOND:,}   {verdict}")
    verdict = "OK" if peak <= TARGET_PEAK_BYTES else "ABOVE TARGET"
    print(
        f"peak memory     {peak / 2**20:8.0f} MiB  target <= 1024 MiB   {verdict}"
        f"   (RSS before import {rss_before / 2**20:.0f} MiB)"
    )
    if args.processes:
        print(f"parser process  {child_peak / 2**20:8.0f} MiB peak RSS (largest child)")
    busiest = max(main_cpu, child_cpu)
    load = os.getloadavg()[0]
    print(
        f"cpu time        writer {main_cpu:.1f} s, parser {child_cpu:.1f} s; "
        f"load average {load:.1f} on {os.cpu_count()} cores"
    )
    print(
        f"cpu-bound rate  {args.rows / busiest:10,.0f}   (rows / busier process's CPU time: "
        "what two idle cores would sustain; wall-clock is the figure above)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
