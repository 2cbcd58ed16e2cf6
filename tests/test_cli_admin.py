"""The operator's command line: migrate, accounts, users, tokens — and clear errors."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select
from sqlalchemy.orm import Session

from core.cli import main
from core.models import ApiToken, Membership, User
from core.people import token_digest, user_for_token, verify_password

ROOT = Path(__file__).resolve().parent.parent


def run(capsys, *argv: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def test_migrate_creates_the_tables_in_a_subprocess(settings_env):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "core", "migrate"],
        cwd=settings_env.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    engine = create_engine(os.environ["DATABASE_URL"])
    assert {"accounts", "users", "api_tokens", "user_sessions"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


def test_create_account_then_user_with_password_from_stdin(engine, capsys, monkeypatch):
    code, out, _err = run(capsys, "create-account", "Loja", "--timezone", "America/Sao_Paulo")
    assert code == 0
    account_id = int(out.strip())

    code, out, err = run(
        capsys,
        "create-user",
        "ana",
        "--account",
        str(account_id),
        "--role",
        "admin",
        "--password-stdin",
        stdin="a long enough password\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0, err
    with Session(engine) as session:
        user = session.scalar(select(User).where(User.username == "ana"))
        assert verify_password(user.password_hash, "a long enough password")
        assert session.scalar(select(Membership.role).where(Membership.user_id == user.id)) == (
            "admin"
        )


def test_create_token_prints_a_token_that_is_stored_only_as_a_digest(engine, capsys, monkeypatch):
    _c, out, _e = run(capsys, "create-account", "Loja")
    run(
        capsys,
        "create-user",
        "ana",
        "--account",
        out.strip(),
        "--role",
        "manager",
        "--password-stdin",
        stdin="a long enough password\n",
        monkeypatch=monkeypatch,
    )

    code, out, _err = run(capsys, "create-token", "ana", "--name", "n8n")

    token = out.strip()
    assert code == 0 and token.startswith("wac_") and len(token) > 30
    with Session(engine) as session:
        rows = session.execute(select(ApiToken.__table__)).mappings().all()
        assert len(rows) == 1 and rows[0]["token_hash"] == token_digest(token)
        assert token not in repr([dict(r) for r in rows])
        assert user_for_token(session, token).username == "ana"


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (
            ["create-user", "x", "--account", "{acc}", "--role", "owner", "--password-stdin"],
            "a long enough password\n",
            "invalid choice: 'owner'",
        ),
        (
            ["create-user", "x", "--account", "424242", "--role", "viewer", "--password-stdin"],
            "a long enough password\n",
            "account 424242 does not exist",
        ),
        (
            ["create-user", "x", "--account", "{acc}", "--role", "viewer", "--password-stdin"],
            "short\n",
            "at least 10 characters",
        ),
        (
            ["create-user", "ana", "--account", "{acc}", "--role", "viewer", "--password-stdin"],
            "a long enough password\n",
            "username 'ana' is already taken",
        ),
        (["create-account", "Other", "--timezone", "Mars/Olympus"], None, "unknown timezone"),
        (["create-account", "Other", "--default-country", "XX"], None, "unknown country code"),
        (["create-user", "x", "--role", "viewer", "--password-stdin"], "", "--account"),
        (["create-token", "nobody"], None, "user 'nobody' does not exist"),
        (
            ["add-member", "ana", "--account", "{acc}", "--role", "viewer"],
            None,
            "already belongs to account",
        ),
    ],
)
def test_bad_arguments_get_a_clear_error_and_change_nothing(
    engine, capsys, monkeypatch, argv, stdin, message
):
    _c, out, _e = run(capsys, "create-account", "Loja")
    acc = out.strip()
    run(
        capsys,
        "create-user",
        "ana",
        "--account",
        acc,
        "--role",
        "admin",
        "--password-stdin",
        stdin="a long enough password\n",
        monkeypatch=monkeypatch,
    )
    with Session(engine) as session:
        before = session.scalar(select(User.id).order_by(User.id.desc()))

    code, _out, err = run(
        capsys, *[a.format(acc=acc) for a in argv], stdin=stdin, monkeypatch=monkeypatch
    )

    assert code == 2
    assert message in err
    assert "Traceback" not in err
    with Session(engine) as session:
        assert session.scalar(select(User.id).order_by(User.id.desc())) == before


def test_add_member_and_reset_password(engine, capsys, monkeypatch):
    _c, first, _e = run(capsys, "create-account", "Client A")
    _c, second, _e = run(capsys, "create-account", "Client B")
    run(
        capsys,
        "create-user",
        "ana",
        "--account",
        first.strip(),
        "--role",
        "admin",
        "--password-stdin",
        stdin="a long enough password\n",
        monkeypatch=monkeypatch,
    )

    code, _out, _err = run(
        capsys, "add-member", "ana", "--account", second.strip(), "--role", "viewer"
    )
    assert code == 0
    code, _out, err = run(
        capsys,
        "reset-password",
        "ana",
        "--password-stdin",
        stdin="brand new password\n",
        monkeypatch=monkeypatch,
    )
    assert code == 0, err

    with Session(engine) as session:
        user = session.scalar(select(User).where(User.username == "ana"))
        assert verify_password(user.password_hash, "brand new password")
        assert user.must_change_password
        roles = dict(
            session.execute(
                select(Membership.account_id, Membership.role).where(Membership.user_id == user.id)
            ).all()
        )
        assert roles == {int(first): "admin", int(second): "viewer"}


def test_create_user_says_who_and_how_to_log_in(capsys, monkeypatch, engine):
    _c, out, _e = run(capsys, "create-account", "Loja")
    account_id = out.strip()
    code, out, err = run(
        capsys,
        "create-user",
        "bia",
        "--account",
        account_id,
        "--role",
        "viewer",
        "--one-time-password",
        monkeypatch=monkeypatch,
    )
    assert code == 0, err
    assert "created user bia (id " in out and f"viewer in account {account_id}" in out
    password = out.split("one-time password")[1].split()[0]
    with Session(engine) as session:
        user = session.scalar(select(User).where(User.username == "bia"))
        assert verify_password(user.password_hash, password)
        assert user.must_change_password  # asked to choose their own at the first login
