"""`GET /api/v1/accounts/{account_id}`: the account as the token's user sees it (and their role)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import AccountCtx
from api.errors import ERROR_RESPONSES

router = APIRouter(prefix="/api/v1/accounts/{account_id}", tags=["accounts"])


class AccountOut(BaseModel):
    id: int
    name: str
    timezone: str
    default_country: str | None
    campaigns_enabled: bool
    role: str


@router.get("", response_model=AccountOut, responses=ERROR_RESPONSES, summary="The account")
def get_account(ctx: AccountCtx) -> AccountOut:
    account = ctx.account
    return AccountOut(
        id=account.id,
        name=account.name,
        timezone=account.timezone,
        default_country=account.default_country,
        campaigns_enabled=account.campaigns_enabled,
        role=str(ctx.actor.role),
    )
