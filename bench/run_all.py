"""Run every benchmark in turn (`make bench`); each prints its figures beside its target."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "import_contacts.py",
    "audience_preview.py",
    "dispatch.py",
    "dashboard.py",
    "api_reads.py",
    "api_body_memory.py",
    "chatwoot_sync.py",
    "variants_freeze.py",
]


def main() -> int:
    failures = 0
    for name in ORDER:
        script = HERE / name
        if not script.exists():
            print(f"== {name}: missing", flush=True)
            failures += 1
            continue
        print(f"== {name}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(script), *sys.argv[1:]], cwd=HERE.parent)
        print(f"== {name}: exit {code} in {time.monotonic() - started:.0f} s\n", flush=True)
        failures += code != 0
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
