"""The FastAPI application: `create_app()` wires routers, error handlers and metrics."""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.body_limit import BodyLimit
from api.errors import install_error_handlers, internal_error
from api.metrics import build_registry
from api.routes import (
    accounts,
    campaign_links,
    campaigns,
    chatwoot,
    contacts,
    health,
    instances,
    links,
    webhooks,
)

DESCRIPTION = """
REST API of WhatsApp API Campaigns: campaigns, contacts and sender instances of an account,
the Evolution API webhook receiver, health and metrics.

Authenticate with an API token, either as `api_access_token: <token>` (Chatwoot's convention)
or as `Authorization: Bearer <token>`. Lists answer `{"payload": [...], "meta": {"count": total,
"page": n}}` and take `page` and `per_page`. Errors answer `{"error": "...", "errors":
[{"field": "...", "message": "..."}]}`.
"""


def create_app() -> FastAPI:
    app = FastAPI(title="WhatsApp API Campaigns", version="1.0.0", description=DESCRIPTION)
    install_error_handlers(app)
    app.add_middleware(BodyLimit)  # inside the access log, which records its 413s
    app.add_middleware(AccessLog)
    app.state.metrics_registry = build_registry()
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(links.router)
    app.include_router(accounts.router)
    app.include_router(campaigns.router)
    app.include_router(campaign_links.router)
    app.include_router(contacts.router)
    app.include_router(instances.router)
    app.include_router(chatwoot.router)
    return app


access_log = logging.getLogger("api.access")


class AccessLog:
    """Logs each request, path only, and answers an error no handler took with a plain 500.

    Plain ASGI: Starlette's `app.middleware("http")` runs each request through a task and memory
    streams, which cost about a tenth of a campaign read.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        except Exception as exc:  # noqa: BLE001 - answered here so no server logs its message
            if status is not None:  # too late for another answer (a streamed export failed)
                raise
            await internal_error(Request(scope), exc)(scope, receive, send)
            status = 500
        # The path only: query strings may carry a webhook secret (`?token=`), headers tokens.
        # A tracked link's code stands for one recipient: it stays out of the log too.
        path = "/r/…" if scope["path"].startswith("/r/") else scope["path"]
        access_log.info(
            "request method=%s path=%s status=%s ms=%.1f",
            scope["method"],
            path,
            status,
            (time.perf_counter() - started) * 1000,
        )
