"""People of account A reach nothing of account B: not through the services, tokens or the CLI."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import campaigns, contacts, instances, notifications, people
from core.base import NotFound
from core.models import ApiToken, Campaign, Membership, Notification, SenderInstance
from core.people import encrypt_secret
from tests.builders import make_account, make_actor, make_contact


@pytest.fixture
def other(session):
    """Account B with its own people and things."""
    account_b = make_account(session, "Client B")
    b_admin = make_actor(session, account_b, "admin", "beto")
    b_manager = make_actor(session, account_b, "manager", "bia")
    contact = make_contact(session, account_b, "+5511977776666", "Cliente B")
    campaign = Campaign(account_id=account_b.id, title="B only", message="Hi", audience={})
    instance = SenderInstance(
        account_id=account_b.id,
        name="b-number",
        base_url="http://evo.b",
        instance_name="b",
        token_encrypted=encrypt_secret("B-SECRET-TOKEN-123456"),
    )
    session.add_all([campaign, instance])
    session.flush()
    session.add(Notification(account_id=account_b.id, kind="campaign_completed", title="B done"))
    token = people.create_token(session, b_admin, "b-script")
    session.flush()
    token_id = session.scalar(select(ApiToken.id))
    session.commit()
    return {
        "account": account_b,
        "admin": b_admin,
        "manager": b_manager,
        "contact": contact.id,
        "campaign": campaign.id,
        "instance": instance.id,
        "token": token,
        "token_id": token_id,
    }


def refused(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound):
        call()


def test_a_manager_of_a_reaches_no_contact_campaign_or_instance_of_b(session, manager, other):
    refused(lambda: contacts.get_contact(session, manager, other["contact"]))
    refused(lambda: contacts.delete_contact(session, manager, other["contact"]))
    refused(lambda: contacts.set_opted_out(session, manager, other["contact"], True))
    refused(lambda: campaigns.get(session, manager, other["campaign"]))
    refused(lambda: campaigns.trigger(session, manager, other["campaign"]))
    refused(lambda: campaigns.delete(session, manager, other["campaign"]))
    refused(lambda: instances.get_instance(session, manager, other["instance"]))

    rows, total = contacts.list_contacts(session, manager)
    assert total == 0 and rows == []
    assert campaigns.list_campaigns(session, manager)[1] == 0
    assert instances.list_instances(session, manager) == []
    assert notifications.list_notifications(session, manager)[1] == 0


def test_an_admin_of_a_reaches_no_user_token_setting_or_audit_entry_of_b(session, admin, other):
    b_user = other["manager"].user_id
    refused(lambda: people.change_role(session, admin, b_user, "viewer"))
    refused(lambda: people.deactivate_user(session, admin, b_user))
    refused(lambda: people.reset_password(session, admin, b_user))
    refused(lambda: people.create_token(session, admin, "steal", b_user))
    refused(lambda: people.revoke_token(session, admin, other["token_id"]))
    refused(lambda: instances.delete_instance(session, admin, other["instance"]))

    assert {row.username for row in people.list_users(session, admin)} == {"ana"}
    assert people.list_tokens(session, admin) == []
    entries, _total = people.list_audit_entries(session, admin)
    assert all(entry.account_id == admin.account_id for entry in entries)
    assert people.account_settings(session, admin).name == "Loja da Ana"
    people.update_account_settings(session, admin, {"name": "Renamed A"})
    session.commit()
    session.refresh(other["account"])
    assert other["account"].name == "Client B"


def test_an_api_token_of_a_does_not_open_account_b(session, manager, other):
    token = people.create_token(session, actor=None, name="mine", user_id=manager.user_id)

    owner = people.user_for_token(session, token)
    assert people.actor_for(session, owner, manager.account_id).account_id == manager.account_id
    refused(lambda: people.actor_for(session, owner, other["account"].id))


def test_b_data_stays_untouched_after_all_attempts(session, manager, admin, other):
    for call in (
        lambda: contacts.delete_contact(session, manager, other["contact"]),
        lambda: people.deactivate_user(session, admin, other["manager"].user_id),
    ):
        with pytest.raises(NotFound):
            call()
    session.commit()
    b_admin = other["admin"]
    assert contacts.get_contact(session, b_admin, other["contact"]).phone == "+5511977776666"
    assert (
        session.scalar(
            select(Membership.role).where(Membership.user_id == other["manager"].user_id)
        )
        == "manager"
    )


def test_the_cli_acts_only_where_told(engine, session, admin, other, capsys):
    """The CLI is the operator's (no login): it never picks an account on its own, and adding a
    user to another account is an explicit operator step, visible in B's audit log."""
    from core.cli import main

    session.commit()  # SQLite: leave the write lock to the CLI
    assert (
        main(["add-member", "ana", "--account", str(other["account"].id), "--role", "viewer"]) == 0
    )
    session.expire_all()
    logged = people.list_audit_entries(session, other["admin"])[0]
    assert [(entry.action, entry.actor) for entry in logged][0] == ("user.membership_added", "cli")
    session.commit()
    assert main(["create-token", "nobody-here"]) == 2
    assert "does not exist" in capsys.readouterr().err
