"""An HTTP transport that gives each sending thread its own small connection pool.

Why: one httpx pool shared by the worker's hundred-odd sending threads scans every one of its
connections (with a readability check on each idle socket) each time a request starts or ends,
so with many threads the pool itself became the worker's largest CPU cost per send
(bench/dispatch.py). A thread sends one request at a time, so a pool of its own stays tiny;
the number of open connections is the same (one per busy thread and server).
"""

from __future__ import annotations

import threading

import httpx

# Per thread: connections to a few servers at once (several Evolution servers per account).
CONNECTIONS_PER_THREAD = 4
KEEPALIVE_SECONDS = 2.0


class ThreadTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self._local = threading.local()
        self._transports: list[httpx.HTTPTransport] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        transport: httpx.HTTPTransport | None = getattr(self._local, "transport", None)
        if transport is None:
            transport = httpx.HTTPTransport(
                limits=httpx.Limits(
                    max_connections=CONNECTIONS_PER_THREAD,
                    max_keepalive_connections=CONNECTIONS_PER_THREAD,
                    keepalive_expiry=KEEPALIVE_SECONDS,
                )
            )
            self._local.transport = transport
            with self._lock:
                self._transports.append(transport)
        return transport.handle_request(request)

    def close(self) -> None:
        with self._lock:
            transports, self._transports = self._transports, []
        for transport in transports:
            transport.close()
