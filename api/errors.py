"""Domain errors -> HTTP answers. One JSON shape for every error: {"error": ..., "errors": [...]}.

Nothing here ever returns a stack trace or an exception's text for unexpected failures: those
are logged (type and frames only, since messages and values can carry secrets) and answered 500.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.base import Conflict, NotFound, PermissionDenied, ValidationError

log = logging.getLogger("api")


class FieldError(BaseModel):
    field: str | None = None
    message: str


class ErrorOut(BaseModel):
    error: str
    errors: list[FieldError] = []


def _answer(status: int, message: str, errors: list[dict[str, Any]] | None = None, **kw: Any):
    body: dict[str, Any] = {"error": message}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, **kw)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, unknown or revoked API token"},
    403: {"model": ErrorOut, "description": "The role or the account's settings forbid it"},
    404: {"model": ErrorOut, "description": "No such object in this account"},
    413: {"model": ErrorOut, "description": "The request body is larger than the limit"},
    422: {"model": ErrorOut, "description": "Invalid input, with field-level messages"},
}
CONFLICT_RESPONSE: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorOut, "description": "Not allowed in the object's current state"},
}


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ValidationError)
    async def validation_error(_request: Request, exc: ValidationError) -> JSONResponse:
        return _answer(422, exc.message, exc.errors)

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return _answer(404, str(exc) or "not found")

    @app.exception_handler(PermissionDenied)
    async def permission_denied(_request: Request, exc: PermissionDenied) -> JSONResponse:
        return _answer(403, str(exc) or "not allowed")

    @app.exception_handler(Conflict)
    async def conflict(_request: Request, exc: Conflict) -> JSONResponse:
        return _answer(409, str(exc) or "not allowed in the current state")

    @app.exception_handler(RequestValidationError)
    async def request_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _location(error.get("loc", ())), "message": str(error.get("msg", ""))}
            for error in exc.errors()
        ]
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        message = f"{first['field']}: {first['message']}" if first["field"] else first["message"]
        return _answer(422, message, errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _answer(exc.status_code, str(exc.detail), headers=exc.headers)

    @app.exception_handler(DataError)
    async def data_error(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value the checks let through (text with a NUL character, a
        # number out of range): the client's input, not our fault. Never echo the driver's text.
        log.warning("database refused a value method=%s path=%s", request.method, request.url.path)
        return _answer(422, "a value cannot be stored (a NUL character, or a number out of range)")

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        # The driver's message may include the connection URL: log the type only.
        log.error(
            "database error method=%s path=%s type=%s",
            request.method,
            request.url.path,
            type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__,
        )
        if exc.connection_invalidated or "OperationalError" in type(exc).__name__:
            return _answer(503, "the database is unavailable; try again shortly")
        return _answer(500, "internal error")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return internal_error(request, exc)


def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """Log where it happened (frames, no message: messages and values may hold secrets)."""
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error(
        "unhandled error method=%s path=%s type=%s\n%s",
        request.method,
        request.url.path,
        type(exc).__name__,
        frames,
    )
    return _answer(500, "internal error")
