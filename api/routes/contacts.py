"""`/api/v1/accounts/{account_id}/contacts`: list/filter, create, get, update, delete, CSV import."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile

from api.deps import AccountCtx, PageDep, paginated
from api.errors import ERROR_RESPONSES
from api.schemas import ContactCreate, ContactList, ContactOut, ContactUpdate, ImportReport
from core import campaigns, contacts
from core.base import ValidationError

router = APIRouter(
    prefix="/api/v1/accounts/{account_id}/contacts",
    tags=["contacts"],
    responses=ERROR_RESPONSES,
)
ContactId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The contact's id")]


@router.get("", response_model=ContactList, summary="List contacts (newest first), filtered")
def list_contacts(
    ctx: AccountCtx,
    page: PageDep,
    q: Annotated[str | None, Query(max_length=200, description="Part of the name or phone")] = None,
    labels: Annotated[
        list[str] | None, Query(description="Labels (repeat, or comma-separated)")
    ] = None,
    labels_match: Annotated[Literal["any", "all"], Query()] = "any",
    attribute: Annotated[
        str | None, Query(max_length=100, description="Has this attribute")
    ] = None,
    attribute_value: Annotated[
        str | None, Query(max_length=200, description="... with this value")
    ] = None,
    opted_out: Annotated[bool | None, Query()] = None,
    whatsapp_status: Annotated[
        Literal["unknown", "exists", "not_on_whatsapp"] | None, Query()
    ] = None,
) -> dict[str, Any]:
    filters = {
        "search": q or "",
        "labels": [name for value in labels or [] for name in value.split(",")],
        "labels_match": labels_match,
        "attribute": attribute or None,
        "attribute_value": attribute_value,
        "opted_out": opted_out,
        "whatsapp_status": whatsapp_status,
    }
    rows, total = contacts.list_contacts(
        ctx.session, ctx.actor, filters, page=page.page, per_page=page.per_page
    )
    return paginated([contacts.contact_json(row) for row in rows], total, page)


@router.post("", status_code=201, response_model=ContactOut, summary="Create a contact")
def create_contact(ctx: AccountCtx, body: ContactCreate) -> dict[str, Any]:
    contact = contacts.create_contact(
        ctx.session,
        ctx.actor,
        body.phone,
        body.name,
        body.labels,
        body.custom_attributes,
    )
    ctx.session.commit()
    return contacts.contact_json(contact)


@router.post(
    "/import",
    response_model=ImportReport,
    summary="Import contacts from a CSV file (multipart): the import report",
    description=(
        "Upload the file as `file`. Optional form fields: `default_country` (two letters, for "
        "numbers without a country code; defaults to the account's) and `mapping` (JSON object: "
        "column name -> phone, other_phone, name, labels, text, number, boolean, auto or skip; "
        "left out: recognised from the headers, address-book exports included). Rows are matched by phone: new "
        "contacts are created, existing ones updated; rejected rows are listed with the reason."
    ),
)
def import_contacts(
    ctx: AccountCtx,
    file: Annotated[UploadFile, File(description="The CSV file")],
    default_country: Annotated[str | None, Form(max_length=2)] = None,
    mapping: Annotated[str | None, Form(description="JSON object")] = None,
) -> dict[str, Any]:
    batch = contacts.import_contacts(
        ctx.session,
        ctx.actor,
        file.file,
        file.filename or "upload.csv",
        mapping=_mapping(mapping),
        default_country=default_country or None,
    )
    ctx.session.commit()
    return contacts.batch_json(batch)


def _mapping(raw: str | None) -> dict[str, str] | None:
    if not raw:
        return None
    try:
        mapping = json.loads(raw)
    except ValueError:
        raise ValidationError("mapping must be a JSON object", "mapping") from None
    if not isinstance(mapping, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise ValidationError("mapping must map column names to targets (text)", "mapping")
    return mapping


@router.get("/{contact_id}", response_model=ContactOut, summary="One contact")
def get_contact(ctx: AccountCtx, contact_id: ContactId) -> dict[str, Any]:
    return contacts.contact_json(contacts.get_contact(ctx.session, ctx.actor, contact_id))


def update_contact(ctx: AccountCtx, contact_id: ContactId, body: ContactUpdate) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    opted_out = changes.pop("opted_out", None)
    for key in ("phone", "labels", "custom_attributes"):
        if key in changes and changes[key] is None:
            del changes[key]  # null means "leave as is"; only `name` may be cleared
    contact = contacts.update_contact(ctx.session, ctx.actor, contact_id, **changes)
    if opted_out is not None:
        contact = campaigns.set_opted_out(ctx.session, ctx.actor, contact_id, opted_out)
    ctx.session.commit()
    return contacts.contact_json(contact)


router.add_api_route(
    "/{contact_id}",
    update_contact,
    methods=["PATCH"],
    response_model=ContactOut,
    summary="Change a contact (only the fields sent; labels and attributes are replaced)",
)
router.add_api_route(
    "/{contact_id}",
    update_contact,
    methods=["PUT"],
    response_model=ContactOut,
    summary="Same as PATCH (Chatwoot's verb)",
)


@router.delete(
    "/{contact_id}", status_code=204, response_class=Response, summary="Delete a contact"
)
def delete_contact(ctx: AccountCtx, contact_id: ContactId) -> Response:
    contacts.delete_contact(ctx.session, ctx.actor, contact_id)
    ctx.session.commit()
    return Response(status_code=204)
