"""Role × action: every action in core.access.ALLOWED, tried through the services with each role.

A denied action must raise PermissionDenied; an allowed one must get past the role check (it may
still fail for another reason, e.g. NotFound for a made-up id). A new action in core.access makes
`test_every_action_has_a_probe` fail until it gets a probe here.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from core import campaigns, contacts, instances, notifications, people, tracking
from core.base import DomainError, PermissionDenied, utcnow
from core.models import Role
from core.people import ALLOWED, Actor
from tests.builders import make_actor

MISSING = 999_999


Probe = Callable[[Session, Actor], object]

PROBES: dict[str, list[Probe]] = {
    "contacts.read": [
        lambda s, a: contacts.list_contacts(s, a),
        lambda s, a: contacts.get_contact(s, a, MISSING),
        lambda s, a: contacts.label_names(s, a),
        lambda s, a: contacts.attribute_keys(s, a),
        lambda s, a: contacts.find_contacts(s, a, "ana"),
        lambda s, a: contacts.contacts_by_ids(s, a, [MISSING]),
    ],
    "contacts.write": [
        lambda s, a: contacts.create_contact(s, a, "+5511988887777", "Zé"),
        lambda s, a: contacts.delete_contact(s, a, MISSING),
        lambda s, a: contacts.set_opted_out(s, a, MISSING, True),
        lambda s, a: contacts.opt_out_by_phone(s, a, "+5511988887777"),
    ],
    "contacts.import": [
        lambda s, a: contacts.import_contacts(
            s, a, io.BytesIO(b"phone,name\n+5511988886666,Ana\n"), "contacts.csv"
        ),
    ],
    "campaigns.read": [
        lambda s, a: campaigns.list_campaigns(s, a),
        lambda s, a: campaigns.get(s, a, MISSING),
        lambda s, a: tracking.campaign_clicks_over_time(s, a, MISSING),
    ],
    "campaigns.write": [
        lambda s, a: campaigns.create(
            s, a, {"title": "Hi", "message": "Hello", "audience": {}, "status": "draft"}
        ),
        lambda s, a: campaigns.delete(s, a, MISSING),
    ],
    "campaigns.trigger": [
        lambda s, a: campaigns.trigger(s, a, MISSING),
        lambda s, a: campaigns.pause(s, a, MISSING),
        lambda s, a: campaigns.retry_failed(s, a, MISSING),
    ],
    "campaigns.test_send": [
        lambda s, a: campaigns.send_test(s, a, MISSING, ["+5511988885555"]),
    ],
    "instances.read": [
        lambda s, a: instances.list_instances(s, a),
        lambda s, a: instances.get_instance(s, a, MISSING),
    ],
    "instances.write": [
        lambda s, a: instances.create_instance(s, a, {}),
        lambda s, a: instances.delete_instance(s, a, MISSING),
        lambda s, a: instances.reset_circuit(s, a, MISSING),
    ],
    "stats.read": [
        lambda s, a: tracking.campaigns_by_status(s, a),
        lambda s, a: tracking.account_zone(s, a),
        lambda s, a: tracking.period_click_rate(s, a, utcnow() - timedelta(days=1), utcnow()),
        lambda s, a: tracking.period_clicks_over_time(s, a, utcnow() - timedelta(days=1), utcnow()),
    ],
    "notifications.read": [
        lambda s, a: notifications.list_notifications(s, a),
        lambda s, a: notifications.unread_count(s, a),
    ],
    "users.manage": [
        lambda s, a: people.list_users(s, a),
        lambda s, a: people.invite_user(s, a, "newcomer", "viewer"),
        lambda s, a: people.change_role(s, a, MISSING, "viewer"),
        lambda s, a: people.deactivate_user(s, a, MISSING),
        lambda s, a: people.reset_password(s, a, MISSING),
        lambda s, a: people.create_user(
            s, "another", "long enough password", a.account_id, "viewer", actor=a
        ),
    ],
    "tokens.manage": [
        lambda s, a: people.list_tokens(s, a),
        lambda s, a: people.create_token(s, a, "script"),
        lambda s, a: people.revoke_token(s, a, MISSING),
    ],
    "settings.manage": [
        lambda s, a: people.account_settings(s, a),
        lambda s, a: people.update_account_settings(s, a, {"name": "Renamed"}),
    ],
    "audit.read": [
        lambda s, a: people.list_audit_entries(s, a),
        lambda s, a: people.audit_filter_choices(s, a),
    ],
}

ALL_ACTIONS = sorted(ALLOWED[Role.ADMIN])
CASES = [
    (role, action, index)
    for role in Role
    for action in ALL_ACTIONS
    for index in range(len(PROBES.get(action, [None])))
]


def test_every_action_has_a_probe():
    assert set(ALL_ACTIONS) - set(PROBES) == set(), "add probes for the new actions above"
    assert set(PROBES) - set(ALL_ACTIONS) == set(), "probes for actions core.access lacks"


def test_roles_nest_viewer_in_manager_in_admin():
    assert ALLOWED[Role.VIEWER] < ALLOWED[Role.MANAGER] < ALLOWED[Role.ADMIN]
    assert not {a for a in ALLOWED[Role.VIEWER] if not a.endswith(".read")}


@pytest.mark.parametrize(("role", "action", "index"), CASES)
def test_the_role_matrix_holds_in_the_services(session, account, role, action, index):
    if action not in PROBES:
        pytest.fail(f"no probe for {action}")
    actor = make_actor(session, account, role, f"probe_{role}")
    session.commit()
    allowed = action in ALLOWED[role]

    try:
        PROBES[action][index](session, actor)
    except PermissionDenied:
        assert not allowed, f"{role} was refused {action}, which it is allowed"
        session.rollback()
        return
    except DomainError:
        pass  # past the role check; the made-up object simply does not exist, etc.
    assert allowed, f"{role} did {action} without being refused"
    session.rollback()


@pytest.mark.parametrize("action", ALL_ACTIONS)
def test_unknown_actions_are_a_programming_error(action):
    with pytest.raises(ValueError):
        Actor(1, 1, Role.ADMIN, "x").can(action + "x")
