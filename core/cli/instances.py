"""Subcommands for sender instances (WhatsApp numbers)."""

from __future__ import annotations

import argparse
import getpass
import sys

from core import instances
from core.base import NotFound, ValidationError, session_scope
from core.models import Account
from core.people import Actor


def register(subparsers: argparse._SubParsersAction) -> None:
    add = subparsers.add_parser(
        "add-instance", help="add an Evolution instance (a WhatsApp number); prints its id"
    )
    add.add_argument("--account", type=int, required=True, help="account id")
    add.add_argument("--name", required=True, help="a name staff recognise, e.g. 'Sales line'")
    add.add_argument("--base-url", required=True, help="the Evolution server, https://...")
    add.add_argument("--instance-name", required=True, help="the instance's name on the server")
    secret = add.add_mutually_exclusive_group()
    secret.add_argument(
        "--token-stdin",
        action="store_true",
        help="read the instance token (or the global key) from the first line of standard input; "
        "without --token-stdin or --token it is asked for at the terminal",
    )
    secret.add_argument(
        "--token",
        help="UNSAFE: the token on the command line is visible to every user in `ps` and stays "
        "in the shell history; use --token-stdin",
    )
    add.add_argument("--api-version", default="v2", choices=["v2", "v1"])
    add.add_argument("--rate-per-minute", type=int, default=12)
    add.add_argument("--daily-cap", type=int)
    add.set_defaults(handler=_add_instance)


def _read_token(args: argparse.Namespace) -> str:
    if args.token is not None:
        print("warning: --token is visible in `ps` and the shell history; use --token-stdin",
              file=sys.stderr)  # fmt: skip
        return str(args.token)
    if args.token_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValidationError("no terminal to ask for the token: use --token-stdin", "token")
    return getpass.getpass("Instance token: ")


def _add_instance(args: argparse.Namespace) -> int:
    token = _read_token(args)
    with session_scope() as session:
        if session.get(Account, args.account) is None:
            raise NotFound(f"account {args.account} not found")
        actor = Actor.system(args.account, "cli")
        instance = instances.create_instance(
            session,
            actor,
            {
                "name": args.name,
                "base_url": args.base_url,
                "instance_name": args.instance_name,
                "token": token,
                "api_version": args.api_version,
                "rate_per_minute": args.rate_per_minute,
                "daily_cap": args.daily_cap,
            },
        )
        instance_id = instance.id
        warning = instance.webhook_error
    print(instance_id)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return 0
