"""`/api/v1/accounts/{account_id}/chatwoot`: the account's Chatwoot connection and contact sync.

Admins only (the core services check). The access token is write-only: accepted, never returned.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query, Response

from api.deps import AccountCtx
from api.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from api.schemas import ChatwootCheckOut, ChatwootIn, ChatwootOut, ChatwootSyncReportOut
from core import crm
from core.base import NotFound

router = APIRouter(
    prefix="/api/v1/accounts/{account_id}/chatwoot", tags=["chatwoot"], responses=ERROR_RESPONSES
)


def _out(ctx: AccountCtx) -> dict[str, Any]:
    settings = crm.chatwoot_settings(ctx.session, ctx.actor)
    if settings is None:
        raise NotFound("this account is not connected to Chatwoot")
    return asdict(settings)


@router.get("", response_model=ChatwootOut, summary="The account's Chatwoot connection")
def get_chatwoot(ctx: AccountCtx) -> dict[str, Any]:
    return _out(ctx)


@router.put(
    "",
    response_model=ChatwootOut,
    summary="Connect the account to Chatwoot, or change the connection",
)
def put_chatwoot(ctx: AccountCtx, body: ChatwootIn) -> dict[str, Any]:
    crm.connect_chatwoot(ctx.session, ctx.actor, body.data())
    ctx.session.commit()
    return _out(ctx)


@router.delete("", status_code=204, response_class=Response, summary="Disconnect Chatwoot")
def delete_chatwoot(ctx: AccountCtx) -> Response:
    crm.disconnect_chatwoot(ctx.session, ctx.actor)
    ctx.session.commit()
    return Response(status_code=204)


@router.post(
    "/test",
    response_model=ChatwootCheckOut,
    summary="Ask Chatwoot for the account's name and inboxes with the stored settings",
)
def test_chatwoot(ctx: AccountCtx) -> dict[str, Any]:
    check = crm.test_connection(ctx.session, ctx.actor)
    return {
        "ok": check.ok,
        "account_name": check.account_name,
        "inboxes": [
            {"id": i.id, "name": i.name, "channel_type": i.channel_type} for i in check.inboxes
        ],
        "error": check.error,
    }


@router.post(
    "/sync",
    response_model=ChatwootSyncReportOut,
    responses=CONFLICT_RESPONSE,
    summary="Pull the contacts from Chatwoot now (409 while another sync runs or Chatwoot fails)",
)
def sync_chatwoot(
    ctx: AccountCtx,
    full: bool = Query(default=False, description="Read every contact, not only changes"),
) -> dict[str, Any]:
    return crm.sync_contacts(ctx.session, ctx.actor, full=full).as_dict()
