"""Subcommands for an account's Chatwoot: connect it, and sync its contacts now."""

from __future__ import annotations

import argparse
import sys

from core import crm
from core.base import NotFound, session_scope
from core.models import Account
from core.people import Actor


def register(subparsers: argparse._SubParsersAction) -> None:
    connect = subparsers.add_parser(
        "connect-chatwoot",
        help="connect an account to Chatwoot (the access token is read from stdin)",
    )
    connect.add_argument("--account", type=int, required=True, help="our account id")
    connect.add_argument("--base-url", required=True, help="the Chatwoot server, https://...")
    connect.add_argument(
        "--chatwoot-account", type=int, required=True, help="the account's id in Chatwoot"
    )
    connect.add_argument(
        "--token-stdin",
        action="store_true",
        required=True,
        help="read the access token (a user's or an agent bot's) from stdin",
    )
    connect.add_argument(
        "--sync-every", type=int, help="minutes between the worker's syncs (0: off; default 15)"
    )
    connect.set_defaults(handler=_connect)

    sync = subparsers.add_parser(
        "sync-chatwoot", help="pull the account's contacts from Chatwoot now; prints the counts"
    )
    sync.add_argument("--account", type=int, required=True, help="our account id")
    sync.add_argument("--full", action="store_true", help="read every contact, not only changes")
    sync.set_defaults(handler=_sync)


def _actor(session, account_id: int) -> Actor:  # type: ignore[no-untyped-def]
    if session.get(Account, account_id) is None:
        raise NotFound("account {id} does not exist", id=account_id)
    return Actor.system(account_id, "cli")


def _connect(args: argparse.Namespace) -> int:
    token = sys.stdin.readline().strip()
    data = {
        "base_url": args.base_url,
        "chatwoot_account_id": args.chatwoot_account,
        "token": token,
    }
    if args.sync_every is not None:
        data["sync_every_minutes"] = args.sync_every
    with session_scope() as session:
        actor = _actor(session, args.account)
        crm.connect_chatwoot(session, actor, data)
    with session_scope() as session:
        check = crm.test_connection(session, _actor(session, args.account))
    if not check.ok:
        print(f"saved, but Chatwoot answered: {check.error}", file=sys.stderr)
        return 1
    print(f"connected to Chatwoot account {check.account_name!r}")
    for inbox in check.inboxes:
        print(f"  inbox {inbox.id}: {inbox.name} ({inbox.channel_type})")
    return 0


def _sync(args: argparse.Namespace) -> int:
    with session_scope() as session:
        report = crm.sync_contacts(session, _actor(session, args.account), full=args.full)
    print(
        f"{report.mode} sync: created {report.created}, updated {report.updated}, "
        f"unchanged {report.unchanged}, rejected {report.rejected}, unlinked {report.unlinked}"
    )
    for error in report.errors[:20]:
        print(f"  rejected Chatwoot contact {error['chatwoot_contact_id']}: {error['reason']}")
    return 0
