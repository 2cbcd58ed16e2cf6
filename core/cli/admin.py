"""Subcommands for the database, accounts, users and tokens."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys

from sqlalchemy import func, select

from core import people
from core.base import ValidationError, session_scope, upgrade_to_head
from core.models import User


def register(subparsers: argparse._SubParsersAction) -> None:
    migrate = subparsers.add_parser("migrate", help="create or upgrade the database tables")
    migrate.set_defaults(handler=_migrate)

    account = subparsers.add_parser("create-account", help="create an account; prints its id")
    account.add_argument("name")
    account.add_argument("--timezone", default="UTC", help="IANA name, e.g. America/Sao_Paulo")
    account.add_argument("--default-country", help="two letters, for numbers without +country")
    account.set_defaults(handler=_create_account)

    user = subparsers.add_parser("create-user", help="create a user in an account")
    user.add_argument("username")
    user.add_argument("--account", type=int, required=True, help="account id")
    user.add_argument("--role", required=True, choices=["admin", "manager", "viewer"])
    user.add_argument("--email")
    secret = user.add_mutually_exclusive_group()
    secret.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    secret.add_argument(
        "--one-time-password",
        action="store_true",
        help="generate a one-time password, printed once; the user chooses their own at login",
    )
    user.set_defaults(handler=_create_user)

    token = subparsers.add_parser("create-token", help="create an API token; prints it once")
    token.add_argument("username")
    token.add_argument(
        "--name", default="", help="a note to tell tokens apart (at most 100 characters)"
    )
    token.set_defaults(handler=_create_token)

    first = subparsers.add_parser(
        "bootstrap", help="on an empty database: create a first account and admin"
    )
    first.set_defaults(handler=_bootstrap)


def _migrate(_args: argparse.Namespace) -> int:
    upgrade_to_head()
    print("database is up to date")
    return 0


def _create_account(args: argparse.Namespace) -> int:
    with session_scope() as session:
        account = people.create_account(session, args.name, args.timezone, args.default_country)
        print(account.id)
    return 0


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise ValidationError("no terminal to ask for a password: use --password-stdin")
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise ValidationError("the two passwords differ")
    return people.validate_password(password)


def _create_user(args: argparse.Namespace) -> int:
    one_time = args.one_time_password
    password = secrets.token_urlsafe(12) if one_time else _read_password(args.password_stdin)
    with session_scope() as session:
        user = people.create_user(
            session,
            args.username,
            password,
            args.account,
            args.role,
            email=args.email,
            must_change_password=one_time,
        )
        user_id, username = user.id, user.username
    # Who was made, and how they log in: an id alone left the operator guessing.
    print(f"created user {username} (id {user_id}), {args.role} in account {args.account}")
    if one_time:
        print(
            f"  log in as  {username}  with the one-time password  {password}\n"
            "  (shown only now; they will be asked to choose their own at the first login)"
        )
    else:
        print(f"  log in as  {username}  with the password you gave")
    return 0


def _create_token(args: argparse.Namespace) -> int:
    with session_scope() as session:
        user = people.get_user_by_username(session, args.username)
        token = people.create_token(session, actor=None, name=args.name, user_id=user.id)
    print(token)
    return 0


def _bootstrap(_args: argparse.Namespace) -> int:
    with session_scope() as session:
        if session.scalar(select(func.count()).select_from(User)):
            return 0
        timezone = _machine_timezone()
        account = people.create_account(session, "My team", timezone)
        country = account.default_country
        password = secrets.token_urlsafe(12)
        people.create_user(
            session, "admin", password, account.id, "admin", must_change_password=True
        )
    print(
        "\n  First start: log in as  admin  with the one-time password  "
        f"{password}\n  (you will be asked to choose your own).\n"
        f"  The account's timezone is {timezone}, its default country for phone numbers "
        f"without +country {country or 'not set'}: change them in Account settings.\n",
        flush=True,
    )
    return 0


def _machine_timezone() -> str:
    """This machine's IANA timezone (TZ, /etc/localtime...), for the first account: its country
    is the default for local numbers, so a first import needs no setting. UTC when unknown."""
    try:
        import tzlocal  # APScheduler's own dependency

        name = tzlocal.get_localzone_name()
        return people.validate_timezone(name) if name else "UTC"
    except Exception:  # no timezone configured, or one zoneinfo does not know
        return "UTC"
