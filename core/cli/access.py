"""Subcommands for access: key rotation, memberships, password resets by the operator."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import select

from core import people
from core.base import ValidationError, session_scope
from core.models import Membership
from core.people import Actor, hash_password, record_audit, rotate_secrets


def register(subparsers: argparse._SubParsersAction) -> None:
    rotate = subparsers.add_parser(
        "rotate-secrets",
        help="re-encrypt stored Evolution tokens and webhook secrets under the current SECRET_KEY",
        description="Set the new key as SECRET_KEY and the old one(s) in SECRET_KEY_PREVIOUS "
        "(comma-separated), run this, then SECRET_KEY_PREVIOUS can be removed.",
    )
    rotate.set_defaults(handler=_rotate)

    member = subparsers.add_parser(
        "add-member", help="give an existing user a role in another account"
    )
    member.add_argument("username")
    member.add_argument("--account", type=int, required=True, help="account id")
    member.add_argument("--role", required=True, choices=["admin", "manager", "viewer"])
    member.set_defaults(handler=_add_member)

    reset = subparsers.add_parser(
        "reset-password", help="set a user's password (read from stdin) and unlock the user"
    )
    reset.add_argument("username")
    reset.add_argument("--password-stdin", action="store_true", required=True)
    reset.add_argument(
        "--keep", action="store_true", help="do not ask the user to choose a new one at login"
    )
    reset.set_defaults(handler=_reset_password)


def _rotate(_args: argparse.Namespace) -> int:
    with session_scope() as session:
        report = rotate_secrets(session)
    print(f"re-encrypted {report.reencrypted} secret(s) under the current key")
    for where in report.unreadable:
        print(f"error: no configured key opens {where}", file=sys.stderr)
    if report.unreadable:
        print(
            "add the key those were saved with to SECRET_KEY_PREVIOUS and run again",
            file=sys.stderr,
        )
        return 1
    return 0


def _add_member(args: argparse.Namespace) -> int:
    with session_scope() as session:
        user = people.get_user_by_username(session, args.username)
        people.get_account(session, args.account)
        role = people.parse_role(args.role)
        existing = session.scalar(
            select(Membership).where(
                Membership.user_id == user.id, Membership.account_id == args.account
            )
        )
        if existing is not None:
            raise ValidationError(
                f"{args.username} already belongs to account {args.account} as {existing.role}"
            )
        session.add(Membership(user_id=user.id, account_id=args.account, role=role))
        record_audit(
            session,
            Actor.system(args.account, "cli"),
            "user.membership_added",
            "user",
            user.id,
            {"username": user.username, "role": str(role)},
        )
    print(f"{args.username} is now {args.role} in account {args.account}")
    return 0


def _reset_password(args: argparse.Namespace) -> int:
    password = people.validate_password(sys.stdin.readline().rstrip("\r\n"))
    with session_scope() as session:
        user = people.get_user_by_username(session, args.username)
        user.password_hash = hash_password(password)
        user.must_change_password = not args.keep
        user.failed_logins = 0
        user.locked_until = None
        people.end_sessions(session, user.id)
        for membership in people.memberships(session, user.id):
            record_audit(
                session,
                Actor.system(membership.account_id, "cli"),
                "user.password_reset",
                "user",
                user.id,
                {"username": user.username},
            )
    print(f"password of {args.username} set; the user's sessions were ended")
    return 0
