"""`GET /r/{code}`: a tracked link's redirect (302 to the stored URL, the click counted)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.errors import ErrorOut
from core import tracking
from core.base import get_engine, utcnow

router = APIRouter(tags=["links"])


@router.get(
    "/r/{code}",
    summary="Follow a tracked link",
    description=(
        "Redirects (302) to the link a campaign message carried, and counts the click once per "
        "recipient (first and last time, and how many). Fetches by link-preview bots, and any "
        f"within {tracking.PREVIEW_SECONDS} s of the send, are redirected too but counted as "
        "previews, not clicks. No authentication: the code is random and unguessable."
    ),
    status_code=302,
    response_class=RedirectResponse,
    responses={
        302: {"description": "To the original link"},
        404: {"model": ErrorOut, "description": "No such link"},
    },
)
async def follow(
    request: Request, code: Annotated[str, Path(min_length=1, max_length=64)]
) -> Response:
    user_agent = request.headers.get("user-agent")

    def work() -> tracking.Followed | None:
        # Given the engine, follow_link is its own unit of work: one statement in autocommit on
        # PostgreSQL, no ORM session around it (bench/redirects.py).
        return tracking.follow_link(get_engine(), code, user_agent, utcnow())

    followed = await run_in_threadpool(work)
    if followed is None:
        return JSONResponse({"error": "no such link"}, status_code=404)
    # Never cached: each click is counted, and no proxy should answer for us.
    return RedirectResponse(
        followed.url,
        status_code=302,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
