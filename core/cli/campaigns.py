"""`python -m core create-campaign ...`: campaigns for scripts."""

from __future__ import annotations

import argparse
import json
from typing import Any

from core import campaigns, people
from core.base import ValidationError, session_scope
from core.people import Actor


def register(subparsers: argparse._SubParsersAction) -> None:
    create = subparsers.add_parser(
        "create-campaign",
        help="create a campaign (draft, or scheduled with --schedule); prints its id",
    )
    create.add_argument("--account", type=int, required=True, help="account id")
    create.add_argument("--title", required=True)
    create.add_argument("--message", required=True, help="the text; {{first_name|there}} etc.")
    create.add_argument(
        "--audience",
        required=True,
        help='criteria as JSON, e.g. \'{"labels": ["vip"], "custom_attributes": {"city": "Lisboa"}}\'',
    )
    create.add_argument(
        "--instance", type=int, action="append", default=None, help="WhatsApp number id (repeat)"
    )
    create.add_argument(
        "--schedule",
        help="'now' to start at once, or an ISO date and time (no offset: the account's timezone)",
    )
    create.add_argument(
        "--media",
        help='attachment as JSON: {"type": "image", "url": "https://...", "filename": "..."}',
    )
    create.add_argument("--user", help="username recorded as the campaign's sender")
    create.set_defaults(handler=_create_campaign)


def _json(raw: str | None, field: str) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValidationError(f"--{field} is not valid JSON: {error.msg}", field) from None


def _create_campaign(args: argparse.Namespace) -> int:
    data: dict[str, Any] = {
        "title": args.title,
        "message": args.message,
        "audience": _json(args.audience, "audience"),
        "multimedia": _json(args.media, "media"),
        "status": "draft",
    }
    if args.instance is not None:
        data["instance_ids"] = args.instance
    start_now = args.schedule == "now"
    if args.schedule and not start_now:
        data["scheduled_at"] = args.schedule
        data["status"] = "pending"
    with session_scope() as session:
        people.get_account(session, args.account)
        if args.user:
            user = people.get_user_by_username(session, args.user)
            actor = people.actor_for(session, user, args.account)
        else:
            actor = Actor.system(args.account, "cli")
        campaign = campaigns.create(session, actor, data)
        if start_now:
            campaigns.trigger(session, actor, campaign.id)
        print(campaign.id)
    return 0
