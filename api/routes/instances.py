"""`/api/v1/accounts/{account_id}/whatsapp_api_instances`: sender instances (Evolution numbers).

The token is write-only: accepted on create/update, never returned (only a mask)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from api.deps import AccountCtx, PageDep, paginated
from api.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from api.schemas import InstanceCheckOut, InstanceCreate, InstanceList, InstanceOut, InstanceUpdate
from core import instances
from core.base import utcnow

router = APIRouter(
    prefix="/api/v1/accounts/{account_id}/whatsapp_api_instances",
    tags=["instances"],
    responses=ERROR_RESPONSES,
)
InstanceId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The instance's id")]
HEALTH_HISTORY_SPAN = timedelta(days=7)  # GET of one instance: its health over this long


@router.get("", response_model=InstanceList, summary="List sender instances (by name)")
def list_instances(ctx: AccountCtx, page: PageDep) -> dict[str, Any]:
    rows = instances.list_instances(ctx.session, ctx.actor)
    start = (page.page - 1) * page.per_page
    chosen = rows[start : start + page.per_page]
    return paginated([instances.instance_json(row, ctx.session) for row in chosen], len(rows), page)


@router.post(
    "",
    status_code=201,
    response_model=InstanceOut,
    summary="Add a sender instance (and register its webhook when PUBLIC_API_URL is set)",
)
def create_instance(ctx: AccountCtx, body: InstanceCreate) -> dict[str, Any]:
    instance = instances.create_instance(ctx.session, ctx.actor, body.data())
    ctx.session.commit()
    return instances.instance_json(instance, ctx.session)


@router.get("/{instance_id}", response_model=InstanceOut, summary="One sender instance")
def get_instance(ctx: AccountCtx, instance_id: InstanceId) -> dict[str, Any]:
    data = instances.instance_json(
        instances.get_instance(ctx.session, ctx.actor, instance_id), ctx.session
    )
    since = utcnow() - HEALTH_HISTORY_SPAN
    points = instances.health_history(ctx.session, ctx.actor, instance_id, since)
    return data | {"health_history": [asdict(point) for point in points]}


@router.patch(
    "/{instance_id}",
    response_model=InstanceOut,
    summary="Change a sender instance (a blank or absent token keeps the stored one)",
)
def update_instance(
    ctx: AccountCtx, instance_id: InstanceId, body: InstanceUpdate
) -> dict[str, Any]:
    instance = instances.update_instance(ctx.session, ctx.actor, instance_id, body.data())
    ctx.session.commit()
    return instances.instance_json(instance, ctx.session)


@router.delete(
    "/{instance_id}",
    status_code=204,
    response_class=Response,
    responses=CONFLICT_RESPONSE,
    summary="Delete a sender instance that is not sending right now",
)
def delete_instance(ctx: AccountCtx, instance_id: InstanceId) -> Response:
    instances.delete_instance(ctx.session, ctx.actor, instance_id)
    ctx.session.commit()
    return Response(status_code=204)


@router.post(
    "/{instance_id}/check",
    response_model=InstanceCheckOut,
    summary="Ask Evolution for the connection state now, and store it",
)
def check_instance(ctx: AccountCtx, instance_id: InstanceId) -> dict[str, Any]:
    result = instances.check_instance(ctx.session, ctx.actor, instance_id)
    ctx.session.commit()
    instance = instances.get_instance(ctx.session, ctx.actor, instance_id)
    return {
        "state": result.state,
        "error": result.error,
        "instance": instances.instance_json(instance, ctx.session),
    }


@router.post(
    "/{instance_id}/reset_circuit",
    response_model=InstanceOut,
    summary="Use the number again after fixing what broke it",
)
def reset_circuit(ctx: AccountCtx, instance_id: InstanceId) -> dict[str, Any]:
    instance = instances.reset_circuit(ctx.session, ctx.actor, instance_id)
    ctx.session.commit()
    return instances.instance_json(instance, ctx.session)


@router.post(
    "/{instance_id}/register_webhook",
    response_model=InstanceOut,
    summary="Point the instance's Evolution webhook at this API again (PUBLIC_API_URL)",
)
def register_webhook(ctx: AccountCtx, instance_id: InstanceId) -> dict[str, Any]:
    instances.register_webhook(ctx.session, ctx.actor, instance_id)
    ctx.session.commit()
    return instances.instance_json(
        instances.get_instance(ctx.session, ctx.actor, instance_id), ctx.session
    )
