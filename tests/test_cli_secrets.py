"""Secrets reach the command line's programs on standard input, never as arguments (issue 16,
item 11): an argument is visible to every user in `ps` and stays in the shell history."""

from __future__ import annotations

import argparse
import io
import subprocess
import sys

import pytest

from core.cli import build_parser
from core.cli import main as cli_main
from core.models import SenderInstance
from core.people import decrypt_secret
from tests.worker_harness import ROOT

TOKEN = "evo-token-from-stdin-0123"
SECRET_WORDS = ("token", "password", "secret", "apikey", "key")


def _add_instance(account, fake_evolution, *extra: str) -> list[str]:
    return [
        "add-instance",
        "--account",
        str(account.id),
        "--name",
        "CLI line",
        "--base-url",
        fake_evolution.base_url,
        "--instance-name",
        "cli",
        *extra,
    ]


def test_add_instance_reads_the_token_from_stdin(
    session, account, fake_evolution, capsys, monkeypatch
):
    session.commit()
    monkeypatch.setattr(sys, "stdin", io.StringIO(TOKEN + "\n"))

    code = cli_main(_add_instance(account, fake_evolution, "--token-stdin"))

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert TOKEN not in captured.out + captured.err
    session.expire_all()
    created = session.get(SenderInstance, int(captured.out.strip()))
    assert decrypt_secret(created.token_encrypted) == TOKEN


def test_add_instance_without_a_token_and_without_a_terminal_says_to_use_stdin(
    session, account, fake_evolution
):
    session.commit()
    result = subprocess.run(
        [sys.executable, "-m", "core", *_add_instance(account, fake_evolution)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip

    assert result.returncode == 2
    assert "--token-stdin" in result.stderr
    assert session.query(SenderInstance).count() == 0


def test_the_token_flag_still_works_but_warns_that_it_is_unsafe(
    session, account, fake_evolution, capsys
):
    session.commit()
    code = cli_main(_add_instance(account, fake_evolution, "--token", TOKEN))

    captured = capsys.readouterr()
    assert code == 0
    assert "--token-stdin" in captured.err and TOKEN not in captured.err


def _options(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for option in _options(sub):
                    yield (name, *option[1:])
        elif action.option_strings:
            yield ("", action.option_strings[-1], action)


def test_every_secret_option_reads_stdin_or_is_marked_unsafe_in_its_help():
    secret_options = [
        (command, flag, action)
        for command, flag, action in _options(build_parser())
        if any(word in flag for word in SECRET_WORDS)
    ]
    assert any(flag == "--token-stdin" for _c, flag, _a in secret_options)
    for command, flag, action in secret_options:
        takes_value = action.nargs != 0
        if takes_value:
            assert "UNSAFE" in (action.help or ""), f"{command} {flag}"
            assert any(c == command and f == flag + "-stdin" for c, f, _a in secret_options), (
                f"{command} {flag} has no -stdin twin"
            )


@pytest.mark.parametrize("command", ["add-instance"])
def test_the_help_says_the_plain_flag_is_unsafe(command):
    result = subprocess.run(
        [sys.executable, "-m", "core", command, "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0
    assert "--token-stdin" in result.stdout and "UNSAFE" in result.stdout
