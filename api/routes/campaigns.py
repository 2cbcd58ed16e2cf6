"""The seed's campaign routes: `/api/v1/accounts/{account_id}/whatsapp_api_campaigns`."""

from __future__ import annotations

from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from api.deps import CampaignsCtx, PageDep, paginated
from api.errors import CONFLICT_RESPONSE, ERROR_RESPONSES
from api.schemas import (
    AudiencePreviewOut,
    AudienceRequest,
    CampaignCreate,
    CampaignList,
    CampaignOut,
    CampaignUpdate,
    RecipientList,
    VariantsOut,
    WinnerPick,
)
from core import campaigns, tracking
from core.models import CampaignStatus, RecipientStatus

router = APIRouter(
    prefix="/api/v1/accounts/{account_id}/whatsapp_api_campaigns",
    tags=["campaigns"],
    responses=ERROR_RESPONSES,
)
CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The campaign's id")]
StatusFilter = StrEnum("StatusFilter", {s.name: s.value for s in CampaignStatus})  # type: ignore[misc]
RecipientFilter = StrEnum("RecipientFilter", {s.name: s.value for s in RecipientStatus})  # type: ignore[misc]


def _json(ctx: CampaignsCtx, campaign_id: int) -> dict[str, Any]:
    return campaigns.get_json(ctx.session, ctx.actor, campaign_id)


@router.get("", response_model=CampaignList, summary="List campaigns (newest first)")
def list_campaigns(
    ctx: CampaignsCtx,
    page: PageDep,
    status: Annotated[StatusFilter | None, Query(description="Only this status")] = None,
) -> dict[str, Any]:
    rows, total = campaigns.list_campaigns_json(
        ctx.session,
        ctx.actor,
        status=status.value if status else None,
        page=page.page,
        per_page=page.per_page,
    )
    return paginated(rows, total, page)


@router.post(
    "",
    status_code=201,
    response_model=CampaignOut,
    responses=CONFLICT_RESPONSE,
    summary="Create a campaign (scheduled when it has a time, else a draft)",
)
def create_campaign(ctx: CampaignsCtx, body: CampaignCreate) -> dict[str, Any]:
    """With a `scheduled_at` and no `status` the campaign is scheduled (`pending`): the worker
    starts it at that time (within a couple of seconds), freezing its audience then. Without a
    `scheduled_at` it is a `draft`; send `"status": "draft"` to keep a dated campaign a draft.
    A scheduled campaign needs a WhatsApp number (`instance_ids`; the account's only active
    number when it has one) and an audience that reaches someone, else 422 names the field.
    `scheduled_at` without an offset is the account's local time; it may not be in the past."""
    campaign = campaigns.create(ctx.session, ctx.actor, body.data())
    ctx.session.commit()
    return campaigns.campaign_json(campaign)


@router.post(
    "/audience_preview",
    response_model=AudiencePreviewOut,
    summary="How many contacts an audience reaches, and the first few of them",
)
def audience_preview(ctx: CampaignsCtx, body: AudienceRequest) -> dict[str, Any]:
    criteria = body.audience.model_dump(exclude_unset=True)
    preview = campaigns.preview_audience(ctx.session, ctx.actor, criteria)
    return {"count": preview.count, "sample": preview.sample, "excluded": preview.excluded}


@router.get("/{campaign_id}", response_model=CampaignOut, summary="One campaign")
def get_campaign(ctx: CampaignsCtx, campaign_id: CampaignId) -> dict[str, Any]:
    return _json(ctx, campaign_id)


@router.patch(
    "/{campaign_id}",
    response_model=CampaignOut,
    responses=CONFLICT_RESPONSE,
    summary="Change a draft or scheduled campaign (only the fields sent)",
)
def update_campaign(
    ctx: CampaignsCtx, campaign_id: CampaignId, body: CampaignUpdate
) -> dict[str, Any]:
    campaign = campaigns.update(ctx.session, ctx.actor, campaign_id, body.data())
    ctx.session.commit()
    return campaigns.campaign_json(campaign)


@router.delete(
    "/{campaign_id}",
    status_code=204,
    response_class=Response,
    responses=CONFLICT_RESPONSE,
    summary="Delete a campaign that is not running",
)
def delete_campaign(ctx: CampaignsCtx, campaign_id: CampaignId) -> Response:
    campaigns.delete(ctx.session, ctx.actor, campaign_id)
    ctx.session.commit()
    return Response(status_code=204)


def _action(name: str, summary: str) -> None:
    action = getattr(campaigns, name)

    def route(ctx: CampaignsCtx, campaign_id: CampaignId) -> dict[str, Any]:
        action(ctx.session, ctx.actor, campaign_id)
        ctx.session.commit()
        return _json(ctx, campaign_id)

    route.__name__ = f"{name}_campaign"
    router.add_api_route(
        f"/{{campaign_id}}/{name}",
        route,
        methods=["POST"],
        response_model=CampaignOut,
        responses=CONFLICT_RESPONSE,
        summary=summary,
    )


_action("trigger", "Start a draft or scheduled campaign now")
_action("pause", "Pause a running campaign")
_action("resume", "Resume a paused campaign")
_action("cancel", "Cancel a campaign; its queued recipients are skipped")
_action("retry_failed", "Re-queue the failed and unknown recipients of a finished campaign")


@router.post(
    "/{campaign_id}/ab_winner",
    response_model=CampaignOut,
    responses=CONFLICT_RESPONSE,
    summary="Pick the A/B test's winner by hand, before the worker decides",
)
def pick_ab_winner(ctx: CampaignsCtx, campaign_id: CampaignId, body: WinnerPick) -> dict[str, Any]:
    """The rest of the audience then gets the winner's message. 409 when the campaign has no A/B
    test, the winner was already decided, or it is not running or paused."""
    campaigns.pick_winner(ctx.session, ctx.actor, campaign_id, body.variant)
    ctx.session.commit()
    return _json(ctx, campaign_id)


@router.get(
    "/{campaign_id}/variants",
    response_model=VariantsOut,
    summary="Each variant's funnel (and the holdout group's), and where the A/B test stands",
)
def variant_stats(ctx: CampaignsCtx, campaign_id: CampaignId) -> dict[str, Any]:
    rows = tracking.variant_stats(ctx.session, ctx.actor, campaign_id)
    state = tracking.ab_state(ctx.session, ctx.actor, campaign_id)
    return {
        "variants": [{**asdict(row), "label": row.label} for row in rows],
        "ab_test": asdict(state) if state else None,
    }


@router.get(
    "/{campaign_id}/recipients",
    response_model=RecipientList,
    summary="The campaign's recipients (frozen when it started), with their delivery status",
)
def list_recipients(
    ctx: CampaignsCtx,
    campaign_id: CampaignId,
    page: PageDep,
    status: Annotated[RecipientFilter | None, Query(description="Only this status")] = None,
) -> dict[str, Any]:
    rows, total = tracking.recipient_log(
        ctx.session,
        ctx.actor,
        campaign_id,
        statuses=[status.value] if status else None,
        page=page.page,
        per_page=page.per_page,
    )
    return paginated([_recipient_json(row) for row in rows], total, page)


def _recipient_json(row: tracking.RecipientRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "phone": row.phone,
        "name": row.name,
        "status": row.status,
        "attempts": row.attempts,
        "error_kind": row.error_kind,
        "last_error": row.last_error,
        "http_status": row.http_status,
        "instance": row.instance,
        "last_attempt_at": row.last_attempt_at,
        "sent_at": row.sent_at,
        "delivered_at": row.delivered_at,
        "read_at": row.read_at,
        "failed_at": row.failed_at,
        "clicked_at": row.clicked_at,
        "variant": row.variant,
    }
