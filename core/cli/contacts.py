"""`python -m core import-contacts FILE --account ID [--default-country CC]`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.base import ValidationError, session_scope
from core.contacts import import_contacts, rejected_csv, rejected_rows
from core.people import Actor

SHOWN_REJECTIONS = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    command = subparsers.add_parser(
        "import-contacts",
        help="import contacts from a CSV file (all of it, or nothing when it is refused)",
    )
    command.add_argument("file", type=Path)
    command.add_argument("--account", type=int, required=True, help="account id")
    command.add_argument(
        "--default-country",
        help="two letters, for numbers without +country (default: the account's)",
    )
    command.add_argument(
        "--typed",
        action="store_true",
        help="store attribute values that look like numbers or true/false as such",
    )
    command.add_argument(
        "--processes",
        type=int,
        default=1 if (os.cpu_count() or 1) > 1 else 0,
        help="extra processes parsing rows while this one writes (default: 1 on multi-core)",
    )
    command.add_argument(
        "--rejected-out", type=Path, help="write the rejected rows (with reasons) to this CSV"
    )
    command.set_defaults(handler=_import_contacts)


def _import_contacts(args: argparse.Namespace) -> int:
    if not args.file.is_file():
        raise ValidationError(f"{args.file} is not a file")
    actor = Actor.system(args.account, "cli")
    with args.file.open("rb") as handle, session_scope() as session:
        batch = import_contacts(
            session,
            actor,
            handle,
            args.file.name,
            default_country=args.default_country,
            typed=args.typed,
            processes=max(0, args.processes),
        )
    print(
        f"{args.file.name}: {batch.message}\n"
        f"created {batch.created_count}, updated {batch.updated_count}, "
        f"unchanged {batch.unchanged_count}, merged duplicates {batch.merged_count}, "
        f"rejected {batch.rejected_count}"
    )
    rejected = list(rejected_rows(batch))
    for error in rejected[:SHOWN_REJECTIONS]:
        print(f"  row {error['row']}: {error['reason']}", file=sys.stderr)
    if len(rejected) > SHOWN_REJECTIONS:
        print(f"  ... and {len(rejected) - SHOWN_REJECTIONS} more", file=sys.stderr)
    if args.rejected_out and rejected:
        args.rejected_out.write_bytes(rejected_csv(batch))
        print(f"rejected rows written to {args.rejected_out}")
    return 0
