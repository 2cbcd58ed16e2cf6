"""Request dependencies: a database session, the authenticated actor, pagination."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Query, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from core import people
from core.base import PermissionDenied, new_session, read_only_session, session_scope
from core.models import Account
from core.people import Actor

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 25

api_access_token = APIKeyHeader(
    name="api_access_token",
    auto_error=False,
    scheme_name="api_access_token",
    description="An API token (Chatwoot's header convention).",
)
bearer = HTTPBearer(
    auto_error=False, scheme_name="bearer", description="`Authorization: Bearer <API token>`."
)


def _open_session(request: Request) -> Session:
    """One session per request. Routes commit their writes themselves, before answering, so a
    failed commit is an error answer and never a success the database did not keep. GET requests
    only read, and get a session that does not queue behind writers."""
    return read_only_session() if request.method in ("GET", "HEAD") else new_session()


def _unauthenticated() -> HTTPException:
    return HTTPException(
        401, "a valid API token is required", headers={"WWW-Authenticate": "Bearer"}
    )


@dataclass
class Context:
    """Who is asking, in which account, with the session to ask in."""

    session: Session
    actor: Actor
    account: Account


def account_context(
    request: Request,
    account_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="The account's id")],
    header_token: Annotated[str | None, Security(api_access_token)] = None,
    bearer_token: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
) -> Iterator[Context]:
    """The session, the token's user and the account, in one dependency: FastAPI runs each
    plain `def` dependency in its thread pool, and each hand-off there and back costs about as
    much as the work (bench/api_reads.py). The session is closed (anything left uncommitted
    rolled back) after the answer."""
    session = _open_session(request)
    try:
        token = header_token or (bearer_token.credentials if bearer_token else None)
        token = token.strip() if token else None
        # One query for the token, its user and the account. A user who is not a member of the
        # account gets the same 404 as a missing account.
        found = people.account_actor_for_token(session, token, account_id) if token else None
        if found is None:
            raise _unauthenticated()
        if found.use_due:  # the token's last use is due (once a minute): record it in a write
            session.rollback()  # a writing request's session holds SQLite's write lock already
            with session_scope() as writer:
                people.user_for_token(writer, token)  # type: ignore[arg-type]
        yield Context(session, found.actor, found.account)
    finally:
        session.close()


# Dependencies without I/O are `async`: FastAPI runs a plain `def` one in its thread pool, a
# hand-off that costs more than they do. (account_context loaded the account already.)
async def campaigns_context(ctx: Annotated[Context, Depends(account_context)]) -> Context:
    if not ctx.account.campaigns_enabled:
        raise PermissionDenied("campaigns are not enabled for this account")
    return ctx


AccountCtx = Annotated[Context, Depends(account_context)]
CampaignsCtx = Annotated[Context, Depends(campaigns_context)]


@dataclass(frozen=True)
class PageParams:
    page: int
    per_page: int


async def page_params(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="1-based page number")] = 1,
    per_page: Annotated[
        int, Query(ge=1, le=MAX_PER_PAGE, description="Rows per page (at most 100)")
    ] = DEFAULT_PER_PAGE,
) -> PageParams:
    return PageParams(page, per_page)


PageDep = Annotated[PageParams, Depends(page_params)]


def paginated(payload: list[Any], total: int, page: PageParams) -> dict[str, Any]:
    """Chatwoot's list shape."""
    return {
        "payload": payload,
        "meta": {"count": total, "page": page.page, "per_page": page.per_page},
    }
