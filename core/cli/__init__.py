"""`python -m core`: the operator's command line. Each area registers its own subcommands."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from core.base import DomainError

# Each module has register(subparsers); a subcommand sets `handler(args) -> int`.
COMMAND_MODULES = [
    "core.cli.admin",
    "core.cli.campaigns",
    "core.cli.access",
    "core.cli.i18n",
    "core.cli.contacts",
    "core.cli.instances",
    "core.cli.chatwoot",
]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m core", description="WhatsApp API Campaigns admin")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except DomainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
