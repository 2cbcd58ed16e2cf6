"""The worker's HTTP transport: each sending thread keeps its own connection, reused."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from core.sending._thread_transport import ThreadTransport


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Evolution behind nginx

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.open_connections += 1  # type: ignore[attr-defined]

    def finish(self) -> None:
        super().finish()
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.open_connections -= 1  # type: ignore[attr-defined]

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.server.client_ports.append(self.client_address[1])  # type: ignore[attr-defined]
        body = b"{}"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.client_ports = []  # type: ignore[attr-defined]
    httpd.open_connections = 0  # type: ignore[attr-defined]
    httpd.lock = threading.Lock()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_each_thread_reuses_its_own_connection_and_close_ends_them_all(server) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    client = httpx.Client(transport=ThreadTransport())

    def send_three() -> None:
        for _ in range(3):
            assert client.get(url).status_code == 200

    # One thread after the other: a pool shared by the threads would hand each the idle
    # connection the one before left behind; each thread here keeps its own.
    for _ in range(3):
        thread = threading.Thread(target=send_three)
        thread.start()
        thread.join()

    # Nine requests from three threads: three connections, each carrying its thread's three.
    assert len(server.client_ports) == 9
    assert len(set(server.client_ports)) == 3
    assert sorted(server.client_ports.count(port) for port in set(server.client_ports)) == [3, 3, 3]

    assert server.open_connections == 3  # kept alive between requests

    client.close()  # the worker's shutdown: every thread's connection is closed
    deadline = time.monotonic() + 10
    while server.open_connections and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.open_connections == 0
