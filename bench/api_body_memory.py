"""Peak memory of the API process while it refuses 100 MB bodies sent without a token.

Starts `api_service.py` (uvicorn) on loopback over a temporary SQLite database, then sends a
100 MB body to the webhook and to `POST .../contacts`, each once with a `Content-Length` and once
chunked (no length: the limit is enforced while reading), none with credentials. Prints each
answer and the server's peak RSS (VmHWM). Target: < 300 MB, every answer 413 or 401.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from api_server import api_server  # noqa: E402 - beside this file

sys.path.insert(0, str(ROOT))

TARGET_MB = 300
BODY_MB = 100
CHUNK = 64 * 1024


def seed(database_url: str) -> tuple[int, int]:
    from core import people
    from core.base import make_engine, session_scope
    from core.models import Base, SenderInstance

    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    with session_scope(engine) as session:
        account = people.create_account(session, "Bench")
        instance = SenderInstance(
            account_id=account.id,
            name="main",
            base_url="http://127.0.0.1:9",
            instance_name="main",
            token_encrypted=people.encrypt_secret("token"),
            webhook_secret_encrypted=people.encrypt_secret("secret"),
        )
        session.add(instance)
        session.flush()
        ids = account.id, instance.id
    engine.dispose()
    return ids


def send(port: int, path: str, chunked: bool) -> str:
    """POST a 100 MB body over a raw socket; the server may answer and close before the end."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {BODY_MB << 20}\r\n"
    block = b" " * CHUNK
    if chunked:
        block = f"{CHUNK:x}\r\n".encode() + block + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall((head + "\r\n").encode())
        try:
            while sent < BODY_MB << 20:
                sock.sendall(block)
                sent += CHUNK
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # refused and closed mid-body: what the limit is for
        try:
            answer = sock.recv(4096).decode(errors="replace")
        except OSError as error:
            return f"no answer ({type(error).__name__}) after {sent >> 20} MB sent"
    status = answer.split("\r\n", 1)[0]
    return f"{status} after {sent >> 20} MB sent"


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{tmp}/bench.db"
        os.environ.update({"DATABASE_URL": database_url, "DATA_DIR": tmp})
        account_id, instance_id = seed(database_url)
        with api_server(database_url, tmp) as server:
            port = server.port
            idle = peak_rss_mb(server.pid)
            answers = []
            for path in (
                f"/webhooks/evolution/{instance_id}",
                f"/api/v1/accounts/{account_id}/contacts",
            ):
                for chunked in (False, True):
                    result = send(port, path, chunked)
                    answers.append(result)
                    kind = "chunked" if chunked else "Content-Length"
                    print(f"  POST {path} ({BODY_MB} MB, {kind}, no token): {result}")
            peak = peak_rss_mb(server.pid)
    print(f"API process peak RSS: {peak:.0f} MB (idle {idle:.0f} MB; target < {TARGET_MB} MB)")
    refused = all(" 413 " in a or " 401 " in a for a in answers)
    return 0 if peak < TARGET_MB and refused else 1


if __name__ == "__main__":
    raise SystemExit(main())
