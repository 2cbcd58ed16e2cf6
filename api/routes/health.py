"""`GET /healthz` (database and worker heartbeat) and `GET /metrics` (Prometheus)."""

from __future__ import annotations

import hmac
import ipaddress
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from api.metrics import render, stale_after_seconds
from core import sending
from core.base import get_settings, session_scope, utcnow

log = logging.getLogger("api")
router = APIRouter(tags=["operations"])
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
# Set by a reverse proxy: the request came from elsewhere even when the peer is loopback.
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


class WorkerHealth(BaseModel):
    status: str  # ok | stale | missing
    workers: int
    alive: int
    last_seen_age_seconds: float | None


class Health(BaseModel):
    status: str  # ok | degraded | down
    database: str  # ok | unreachable
    worker: WorkerHealth | None = None


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "The database is unreachable"}},
    summary="Liveness: database reachable, worker heartbeat age",
)
def healthz() -> JSONResponse:
    try:
        with session_scope() as session:
            sending.database_reachable(session)
            worker = sending.worker_status(session, utcnow(), stale_after_seconds())
    except SQLAlchemyError as error:
        log.error("healthz: database unreachable type=%s", type(error).__name__)
        body = Health(status="down", database="unreachable")
        return JSONResponse(body.model_dump(), status_code=503)
    worker_state = "missing" if worker.workers == 0 else "ok" if worker.alive else "stale"
    body = Health(
        # The API itself works without a worker; "degraded" tells a human campaigns will not move.
        status="ok" if worker_state == "ok" else "degraded",
        database="ok",
        worker=WorkerHealth(
            status=worker_state,
            workers=worker.workers,
            alive=worker.alive,
            last_seen_age_seconds=worker.last_seen_age_seconds,
        ),
    )
    return JSONResponse(body.model_dump())


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
        401: {"description": "METRICS_TOKEN is set and the bearer token is missing or wrong"},
        403: {"description": "METRICS_TOKEN is not set and the client is not on loopback"},
        503: {"content": {"text/plain": {"schema": {"type": "string"}}}},
    },
    summary="Prometheus metrics (bearer METRICS_TOKEN; without it, loopback clients only)",
)
def prometheus_metrics(request: Request) -> Response:
    refused = _metrics_refusal(request)
    if refused is not None:
        return refused
    try:
        payload = render(request.app.state.metrics_registry)
    except SQLAlchemyError as error:
        log.error("metrics: database unreachable type=%s", type(error).__name__)
        return Response("# database unreachable\n", status_code=503, media_type="text/plain")
    return Response(payload, media_type=PROMETHEUS_TEXT)


def _metrics_refusal(request: Request) -> JSONResponse | None:
    """The metrics name every account's numbers and queues: with METRICS_TOKEN set, only its
    bearer may read them; without it, only a client on this host, not one a proxy forwards."""
    expected = get_settings().metrics_token
    if expected:
        given = request.headers.get("authorization", "")
        scheme, _, token = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), expected.encode()
        ):
            return None
        return JSONResponse(
            {"error": "a valid metrics token is required (Authorization: Bearer METRICS_TOKEN)"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if _on_loopback(request) and not any(h in request.headers for h in FORWARDING_HEADERS):
        return None
    return JSONResponse(
        {
            "error": "metrics are served to loopback clients only: set METRICS_TOKEN to scrape "
            "from elsewhere"
        },
        status_code=403,
    )


def _on_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
