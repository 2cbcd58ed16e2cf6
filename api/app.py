"""The FastAPI application: `create_app()` wires routers, error handlers and metrics."""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request

from api.errors import install_error_handlers, internal_error
from api.metrics import build_registry
from api.routes import accounts, campaigns, contacts, health, instances, webhooks

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
    app.middleware("http")(_access_log)
    app.state.metrics_registry = build_registry()
    app.include_router(health.router)
    app.include_router(webhooks.router)
    app.include_router(accounts.router)
    app.include_router(campaigns.router)
    app.include_router(contacts.router)
    app.include_router(instances.router)
    return app


access_log = logging.getLogger("api.access")


async def _access_log(request: Request, call_next):  # type: ignore[no-untyped-def]
    # The path only: query strings may carry a webhook secret (`?token=`), headers carry tokens.
    started = time.perf_counter()
    try:
        response = await call_next(request)
    except Exception as exc:  # noqa: BLE001 - answered here so no server logs its message
        response = internal_error(request, exc)
    access_log.info(
        "request method=%s path=%s status=%s ms=%.1f",
        request.method,
        request.url.path,
        response.status_code,
        (time.perf_counter() - started) * 1000,
    )
    return response
