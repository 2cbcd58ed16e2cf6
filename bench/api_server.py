"""`api_service.py` as a real process for the API benchmarks: started on a free port, waited for."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def api_server(database_url: str, data_dir: str, workers: int = 1) -> Iterator[subprocess.Popen]:
    """The running server (its port in `.port`), stopped when the block ends."""
    port = 19000 + os.getpid() % 1000
    env = {**os.environ, "DATABASE_URL": database_url, "DATA_DIR": data_dir, "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [sys.executable, "api_service.py", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server.port = port  # type: ignore[attr-defined]
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield server
    finally:
        server.terminate()
        server.wait(timeout=10)
