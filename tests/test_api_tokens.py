"""Minting API tokens: one path for the tokens page (an admin) and the operator's CLI — the same
checks, the same audit entry, the token itself never stored or recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import people
from core.base import Conflict, NotFound, PermissionDenied, ValidationError
from core.cli import main
from core.models import ApiToken, AuditLog, Membership, User
from tests.builders import make_account, make_actor


def token_entries(session) -> list[AuditLog]:
    return list(
        session.scalars(
            select(AuditLog).where(AuditLog.action == "token.create").order_by(AuditLog.account_id)
        )
    )


def test_an_admin_mints_for_a_member_and_the_trail_names_the_token_not_its_secret(
    session, admin, manager
):
    token = people.create_token(session, admin, "  n8n  ", manager.user_id)

    row = session.scalar(select(ApiToken))
    assert (row.user_id, row.name, row.prefix) == (manager.user_id, "n8n", token[:12])
    assert people.user_for_token(session, token).id == manager.user_id
    [entry] = token_entries(session)
    assert (entry.account_id, entry.actor, entry.object_type, entry.object_id) == (
        admin.account_id,
        "ana",
        "api_token",
        str(row.id),
    )
    assert entry.details == {"name": "n8n", "prefix": row.prefix, "username": "bruno"}
    assert token not in repr(entry.details)


def test_the_operator_mints_once_and_every_account_of_the_user_sees_it(session, account, manager):
    second = make_account(session, "Second client")
    session.add(Membership(user_id=manager.user_id, account_id=second.id, role="viewer"))
    session.flush()

    token = people.create_token(session, actor=None, name="backup", user_id=manager.user_id)

    row = session.scalar(select(ApiToken))
    assert session.scalar(select(ApiToken.id).where(ApiToken.id != row.id)) is None
    entries = token_entries(session)
    assert [(entry.account_id, entry.actor, entry.user_id) for entry in entries] == [
        (account.id, "cli", None),
        (second.id, "cli", None),
    ]
    assert {(entry.object_type, entry.object_id) for entry in entries} == {
        ("api_token", str(row.id))
    }
    assert all(entry.details["prefix"] == token[:12] for entry in entries)


@pytest.mark.parametrize("operator", [False, True])
def test_a_name_over_100_characters_is_refused_on_both_paths(session, admin, operator):
    acting = None if operator else admin
    people.create_token(session, acting, "n" * 100, admin.user_id)  # the limit itself is fine

    with pytest.raises(ValidationError) as refused:
        people.create_token(session, acting, "n" * 101, admin.user_id)

    assert refused.value.field == "name"
    assert refused.value.template == "the token name must have at most {count} characters"
    assert "at most 100 characters" in str(refused.value)
    assert len(session.scalars(select(ApiToken)).all()) == 1


@pytest.mark.parametrize("operator", [False, True])
def test_a_deactivated_user_gets_no_token_on_either_path(session, admin, manager, operator):
    session.get(User, manager.user_id).is_active = False
    session.flush()

    with pytest.raises(Conflict, match="bruno is deactivated"):
        people.create_token(session, None if operator else admin, "late", manager.user_id)

    assert session.scalar(select(ApiToken.id)) is None
    assert token_entries(session) == []


def test_the_operator_must_name_an_existing_user_who_belongs_to_an_account(session, account):
    with pytest.raises(ValidationError) as unnamed:
        people.create_token(session, None, "who")
    assert unnamed.value.field == "user_id"
    with pytest.raises(NotFound):
        people.create_token(session, None, "ghost", 424242)
    loner = people.create_user(session, "loner", None, account.id, "viewer")
    session.execute(Membership.__table__.delete().where(Membership.user_id == loner.id))

    with pytest.raises(Conflict, match="belongs to no account"):
        people.create_token(session, None, "nowhere", loner.id)
    assert session.scalar(select(ApiToken.id)) is None


def test_an_admin_cannot_mint_for_someone_outside_the_account_nor_a_manager_at_all(
    session, admin, manager
):
    stranger = make_actor(session, make_account(session, "Elsewhere"), "viewer", "zoe")

    with pytest.raises(NotFound):
        people.create_token(session, admin, "steal", stranger.user_id)
    with pytest.raises(PermissionDenied):
        people.create_token(session, manager, "mine")
    assert session.scalar(select(ApiToken.id)) is None


def test_the_create_token_command_refuses_like_the_page(engine, session, admin, capsys):
    session.commit()  # SQLite: leave the write lock to the CLI

    assert main(["create-token", "ana", "--name", "x" * 101]) == 2
    assert "the token name must have at most 100 characters" in capsys.readouterr().err

    session.get(User, admin.user_id).is_active = False
    session.commit()
    assert main(["create-token", "ana", "--name", "n8n"]) == 2
    assert "ana is deactivated" in capsys.readouterr().err

    session.expire_all()
    assert session.scalar(select(ApiToken.id)) is None
    assert token_entries(session) == []
