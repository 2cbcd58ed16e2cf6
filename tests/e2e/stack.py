"""The real processes for browser tests: Streamlit UI, worker and API on a temporary database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float = 60.0, expect: str | None = None) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(url, timeout=2)
            if answer.status_code == 200 and (expect is None or expect in answer.text):
                return
            last = answer.status_code
        except httpx.HTTPError as error:
            last = error
        time.sleep(0.25)
    raise TimeoutError(f"{url} did not answer in {timeout}s (last: {last})")


@dataclass
class Stack:
    env: dict[str, str]
    ui_url: str
    api_url: str
    logs: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    log_files: list[BinaryIO] = field(default_factory=list)

    def start(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.log_files.append(log)
        self.processes[name] = subprocess.Popen(
            [*args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for log in self.log_files:
            log.close()

    def tails(self, lines: int = 30) -> str:
        """The end of every process's log, for a failure message."""
        return "\n".join(
            f"----- {name}.log -----\n" + "\n".join(self.log(name).splitlines()[-lines:])
            for name in self.processes
        )

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")


@contextmanager
def running_stack(data_dir: Path, database_url: str, extra_env: dict[str, str]) -> Iterator[Stack]:
    ui_port, api_port = free_port(), free_port()
    env = {
        **os.environ,
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "SECRET_KEY": "e2e-secret",
        "API_PORT": str(api_port),
        "PUBLIC_API_URL": f"http://127.0.0.1:{api_port}",
        "WORKER_TICK_SECONDS": "0.2",
        "DUE_POLL_SECONDS": "0.5",
        "LEASE_SECONDS": "5",
        "HEARTBEAT_SECONDS": "1",
        "HTTP_READ_TIMEOUT": "5",
        "RETRY_BACKOFF_BASE_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stack = Stack(env, f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{api_port}", logs)
    try:
        stack.start("api", sys.executable, "api_service.py", "--port", str(api_port))
        stack.start("worker", sys.executable, "scheduler_service.py")
        stack.start(
            "ui",
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(ui_port),
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        )
        try:
            wait_for(f"{stack.ui_url}/_stcore/health", expect="ok")
            wait_for(f"{stack.api_url}/healthz")
        except TimeoutError as error:
            raise TimeoutError(f"{error}\n{stack.tails()}") from None
        yield stack
    finally:
        stack.stop()
