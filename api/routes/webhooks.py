"""`POST /webhooks/evolution/{instance_id}`: the Evolution webhook receiver.

Evolution does not retry 400/401/403/404/422 answers and retries anything else, so: bad
credentials or an unknown instance 401 (the same answer: ids cannot be probed), a body over
the size limit 413, a body that is not a delivery 400, and 200 for every
authenticated delivery we understood or chose to ignore (unknown events, unknown message ids).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.errors import ErrorOut
from core import tracking
from core.base import read_only_session, session_scope

router = APIRouter(tags=["webhooks"])

DELIVERY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["event"],
    "properties": {
        "event": {"type": "string", "example": "messages.update"},
        "instance": {"type": "string"},
        "data": {"description": "The event's data (an object, or a list of them)"},
        "date_time": {"type": "string"},
        "sender": {"type": "string"},
        "server_url": {"type": "string"},
        "apikey": {"type": ["string", "null"]},
    },
}


class WebhookAnswer(BaseModel):
    event: str
    handled: bool
    changed: int


@router.post(
    "/webhooks/evolution/{instance_id}",
    response_model=WebhookAnswer,
    summary="Receive an Evolution API event for one sender instance",
    description=(
        "Authenticated by the instance's webhook secret in the `x-webhook-token` header (or the "
        "`token` query parameter), by `Authorization: Bearer <HS256 JWT>` signed with that "
        "secret and carrying an `exp` at most an hour ahead, or by the body's `apikey` equal to the instance's token (v1 servers). "
        "Handles `messages.update` (delivery/read receipts), `messages.upsert` (opt-out "
        "keywords) and `connection.update`; other events are acknowledged and ignored."
    ),
    responses={
        400: {"model": ErrorOut, "description": "The body is not an Evolution delivery"},
        401: {
            "model": ErrorOut,
            "description": "Missing or wrong webhook credentials, or no such instance",
        },
        413: {"model": ErrorOut, "description": "The body is larger than the limit"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": DELIVERY_SCHEMA}},
        }
    },
)
async def evolution_webhook(
    request: Request,
    instance_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    token: Annotated[str | None, Query(description="The webhook secret (v1 servers)")] = None,
) -> JSONResponse:
    headers = dict(request.headers)
    try:
        # The secret in the headers or query is checked before a byte of the body is read; a
        # body (bounded by MAX_WEBHOOK_BODY_BYTES) is read unauthenticated only when they offer
        # none, for v1 servers that can only put the instance's token in it.
        await run_in_threadpool(_check_headers, instance_id, headers, token)
        body = await request.body()
        result = await _run(instance_id, body, headers, token)
    except tracking.MalformedPayload as error:
        return JSONResponse({"error": error.message}, status_code=400)
    except tracking.WebhookUnauthorized as error:
        return JSONResponse({"error": str(error)}, status_code=401)
    return JSONResponse(result.as_json())


def _check_headers(instance_id: int, headers: dict[str, str], token: str | None) -> bool:
    with read_only_session() as session:
        return tracking.check_headers(session, instance_id, headers, token)


async def _run(
    instance_id: int, body: bytes, headers: dict[str, str], token: str | None
) -> tracking.WebhookResult:
    def work() -> tracking.WebhookResult:
        with session_scope() as session:
            return tracking.handle_delivery(session, instance_id, body, headers, token)

    return await run_in_threadpool(work)
