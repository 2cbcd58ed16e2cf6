"""Request bodies have a size limit, enforced while they are read, before anything else runs.

Plain ASGI, outermost but for the access log: a declared `Content-Length` over the route's limit
is answered 413 before a byte of the body is read; a body without one (chunked) is counted as it
arrives and refused as soon as it passes the limit. Nothing buffers it here, so a refused body
costs at most the limit in memory — never its size — and no token or webhook secret is checked
before it (that is the point: strangers' bodies are the ones to stop).
"""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.base import get_settings

IMPORT_SUFFIX = "/contacts/import"
WEBHOOK_PREFIX = "/webhooks/"


def limit_for(path: str) -> int:
    """The most bytes a body to `path` may have: the import upload and the webhook have their
    own settings, every other route the JSON API's."""
    settings = get_settings()
    if path.endswith(IMPORT_SUFFIX):
        return settings.max_import_body_bytes
    if path.startswith(WEBHOOK_PREFIX):
        return settings.max_webhook_body_bytes
    return settings.max_body_bytes


class BodyTooLarge(HTTPException):
    """Raised from `receive` mid-read: FastAPI re-raises HTTPExceptions from body parsing, so
    it reaches the error handlers as a 413 whatever route was reading."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_message(limit))


def too_large_message(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"


class BodyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        received = 0

        async def counting() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps({"error": too_large_message(limit)}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            # The rest of the body is not read: the connection cannot carry another request.
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
