"""The login gate, navigation per role, and the admin pages, driven through Streamlit's AppTest."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from streamlit.testing.v1 import AppTest

from core import people
from core.base import utcnow
from core.models import (
    Account,
    ApiToken,
    AuditLog,
    Membership,
    Role,
    User,
    UserSession,
)
from core.people import Actor, token_digest, verify_password
from tests.builders import make_account, make_actor

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"
TIMEOUT = 30


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)


def page(name: str, actor: Actor) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / name), default_timeout=TIMEOUT)
    at.session_state["actor"] = actor
    return at


def log_in(at: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    at.run()
    at.text_input[0].input(username)
    at.text_input[1].input(password)
    return at.button[0].click().run()


def app_as(session, username: str) -> AppTest:
    """A fresh app whose browser session is already logged in as `username`.

    AppTest shows what app.py draws around the page (the sidebar: logout, account switcher) only
    on a test's first run, so tests that click those start from a logged-in session like this.
    """
    _user, token = people.login(session, username, PASSWORD)
    session.commit()
    at = app()
    at.session_state["session_token"] = token
    return at.run()


def one(session, statement):
    """Read fresh from the database and end the transaction at once: on SQLite every transaction
    takes the write lock (BEGIN IMMEDIATE), and the app under test needs it too."""
    session.expire_all()
    value = session.scalar(statement)
    session.commit()
    return value


def get(session, model, key):
    session.expire_all()
    value = session.get(model, key)
    session.commit()
    return value


def titles(at: AppTest) -> list[str]:
    return [title.value for title in at.title]


def declared_pages() -> list[tuple[str, str, bool]]:
    """(file, action, needs campaigns) from app.py's PAGES table."""
    tree = ast.parse((ROOT / "app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PAGES":
            rows = ast.literal_eval(node.value)
            return [(row[1], row[4], row[5]) for row in rows]
    raise AssertionError("app.py has no PAGES table")


def reachable(at: AppTest) -> set[str]:
    """The page files this session's navigation lets it open (others raise in switch_page)."""
    found = set()
    for path in sorted((ROOT / "views").glob("*.py")):
        try:
            at.switch_page(f"views/{path.name}")
        except ValueError:
            continue
        found.add(path.name)
    at.switch_page("views/profile.py")
    return found


def expected_pages(role: Role, campaigns_enabled: bool = True) -> set[str]:
    actor = Actor(1, 1, role, "x")
    return {
        filename
        for filename, action, needs_campaigns in declared_pages()
        if (ROOT / "views" / filename).exists()
        and actor.can(action)
        and (campaigns_enabled or not needs_campaigns)
    }


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


# -- the gate --------------------------------------------------------------------------------------


def test_the_app_asks_to_log_in_first(engine, admin):
    at = app().run()

    assert titles(at) == ["Log in"]
    assert "actor" not in at.session_state
    assert not at.exception


def test_a_wrong_password_is_refused_with_a_message(session, admin):
    at = log_in(app(), "ana", "not the password")

    assert titles(at) == ["Log in"]
    assert [e.value for e in at.error] == ["Wrong username or password."]
    assert "actor" not in at.session_state
    assert get(session, User, admin.user_id).failed_logins == 1  # committed: lock-out counts it


def test_a_locked_user_is_told_to_wait(session, admin, monkeypatch):
    monkeypatch.setenv("LOGIN_MAX_FAILURES", "2")
    from core.base import reset_settings_cache

    reset_settings_cache()
    at = log_in(app(), "ana", "nope nope nope")
    at = log_in(at, "ana", "nope nope nope")
    at = log_in(at, "ana", PASSWORD)

    assert [e.value for e in at.error] == ["Too many failed attempts. Try again in a few minutes."]
    assert "actor" not in at.session_state


def test_login_with_the_form(session, admin):
    at = log_in(app(), "ana", PASSWORD)

    assert at.session_state["actor"] == admin
    assert "Log in" not in titles(at)
    assert one(session, select(UserSession.id)) is not None
    assert not at.error


def test_logout_ends_the_session(session, admin):
    at = app_as(session, "ana")
    assert at.session_state["actor"] == admin

    at.sidebar.button(key="logout").click().run()

    assert titles(at) == ["Log in"]
    assert "actor" not in at.session_state
    assert one(session, select(UserSession.id)) is None


def test_an_expired_session_goes_back_to_the_login(session, admin):
    at = log_in(app(), "ana", PASSWORD)
    session.execute(update(UserSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()

    at.run()

    assert titles(at) == ["Log in"]
    assert [i.value for i in at.info] == ["Your session ended. Please log in again."]
    assert "actor" not in at.session_state


def test_a_deactivated_user_is_thrown_out_on_the_next_click(session, admin, manager):
    at = log_in(app(), "bruno", PASSWORD)
    assert at.session_state["actor"] == manager

    from core import people

    people.deactivate_user(session, admin, manager.user_id)
    session.commit()
    at.run()

    assert titles(at) == ["Log in"]


def test_a_role_change_applies_on_the_next_click(session, admin, manager):
    at = log_in(app(), "bruno", PASSWORD)
    assert "users.py" not in reachable(at)

    from core import people

    people.change_role(session, admin, manager.user_id, "admin")
    session.commit()
    at.run()

    assert at.session_state["actor"].role == Role.ADMIN
    assert "users.py" in reachable(at)


def test_a_new_user_must_choose_a_password_before_anything_else(session, account, admin):
    from core import people

    _user, one_time = people.invite_user(session, admin, "dora", "manager")
    session.commit()

    at = log_in(app(), "dora", one_time)
    assert titles(at) == ["Choose your password"]
    at.run()
    assert titles(at) == ["Choose your password"]  # nothing else until it is changed

    at.text_input[0].input(one_time)
    at.text_input[1].input("my very own secret")
    at.text_input[2].input("my very own secret")
    at.button[0].click().run()

    assert "Choose your password" not in titles(at)
    assert reachable(at) == expected_pages(Role.MANAGER)
    dora = one(session, select(User).where(User.username == "dora"))
    assert verify_password(dora.password_hash, "my very own secret")
    assert not dora.must_change_password


# -- navigation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.ADMIN, Role.MANAGER, Role.VIEWER])
def test_navigation_offers_exactly_the_pages_the_role_may_use(session, account, role):
    make_actor(session, account, role, "someone")
    session.commit()

    at = log_in(app(), "someone", PASSWORD)

    pages = reachable(at)
    assert pages == expected_pages(role)
    admin_pages = {"users.py", "tokens.py", "account_settings.py", "audit_log.py"}
    if role == Role.ADMIN:
        assert admin_pages <= pages
    else:
        assert not admin_pages & pages
    assert "profile.py" in pages


def test_campaign_pages_disappear_when_campaigns_are_disabled(session, account, admin):
    campaign_pages = {f for f, _a, needs in declared_pages() if needs}
    assert campaign_pages, "app.py marks no page as needing campaigns"
    at = log_in(app(), "ana", PASSWORD)
    session.get(Account, account.id).campaigns_enabled = False
    session.commit()

    at.run()

    assert not reachable(at) & campaign_pages
    assert reachable(at) == expected_pages(Role.ADMIN, campaigns_enabled=False)


def test_the_account_switcher_appears_only_for_users_of_several_accounts(session, account, admin):
    at = app_as(session, "ana")
    assert at.sidebar.button(key="logout")
    assert not [box for box in at.sidebar.selectbox if box.key == "account_switcher"]

    other = make_account(session, "Second client")
    session.add(Membership(user_id=admin.user_id, account_id=other.id, role=Role.VIEWER))
    session.commit()
    at = app_as(session, "ana")

    switcher = at.sidebar.selectbox(key="account_switcher")
    assert switcher.options == ["Loja da Ana", "Second client"]
    switcher.select(other.id).run()

    assert at.session_state["actor"] == Actor(admin.user_id, other.id, Role.VIEWER, "ana")
    assert "users.py" not in reachable(at)


# -- admin pages -----------------------------------------------------------------------------------


def test_the_users_page_invites_a_user_and_shows_the_one_time_password_once(session, admin):
    at = page("users.py", admin).run()
    at.text_input[0].input("dora")
    at.text_input[1].input("dora@example.com")
    button(at, "Create user").click().run()

    shown = at.code[0].value
    dora = one(session, select(User).where(User.username == "dora"))
    assert verify_password(dora.password_hash, shown) and dora.must_change_password
    at.run()
    assert not at.code  # shown once


def test_the_users_page_changes_a_role_and_deactivates(session, admin, manager):
    at = page("users.py", admin).run()
    at.selectbox(key="user_picker").select(manager.user_id).run()
    at.selectbox(key="new_role").select(Role.VIEWER).run()
    button(at, "Change role").click().run()
    assert (
        one(session, select(Membership.role).where(Membership.user_id == manager.user_id))
        == Role.VIEWER
    )

    button(at, "Deactivate").click().run()
    assert not get(session, User, manager.user_id).is_active


def test_the_users_page_refuses_to_demote_the_last_admin(session, admin):
    at = page("users.py", admin).run()
    at.selectbox(key="new_role").select(Role.MANAGER).run()
    button(at, "Change role").click().run()

    assert "last admin" in at.error[0].value
    assert one(session, select(Membership.role)) == Role.ADMIN


@pytest.mark.parametrize("name", ["users.py", "tokens.py", "account_settings.py", "audit_log.py"])
def test_admin_pages_refuse_a_manager_who_types_their_url(manager, name):
    at = page(name, manager).run()

    assert "may not open this page" in at.error[0].value
    assert not at.dataframe and not at.button


def test_the_tokens_page_shows_a_new_token_once_and_stores_its_digest(session, admin):
    at = page("tokens.py", admin).run()
    at.text_input[0].input("n8n")
    button(at, "Create token").click().run()

    token = at.code[0].value
    stored = one(session, select(ApiToken))
    assert stored.token_hash == token_digest(token) and stored.name == "n8n"
    at.run()
    assert not at.code
    assert token not in str(at.dataframe[0].value.to_dict())

    button(at, "Revoke").click().run()
    assert one(session, select(ApiToken)).revoked_at is not None


def test_the_account_settings_page_saves_and_reports_bad_fields(session, account, admin):
    at = page("account_settings.py", admin).run()
    at.text_input[1].input("Mars/Olympus")
    at.text_input[2].input("ftp://example.com/hook")
    button(at, "Save").click().run()

    errors = " ".join(e.value for e in at.error)
    assert "unknown timezone" in errors and "webhook URL" in errors
    assert get(session, Account, account.id).timezone == "America/Sao_Paulo"

    at.text_input[1].input("America/Mexico_City")
    at.text_input[2].input("https://hooks.example.com/x")
    at.text_area[0].input("stop\nbaja")
    at.toggle[0].set_value(False)
    button(at, "Save").click().run()
    saved = get(session, Account, account.id)
    assert (saved.timezone, saved.notification_webhook_url, saved.opt_out_keywords) == (
        "America/Mexico_City",
        "https://hooks.example.com/x",
        ["STOP", "BAJA"],
    )
    assert saved.campaigns_enabled is False


def test_the_audit_log_page_lists_and_filters(session, admin, manager):
    from core import people

    people.change_role(session, admin, manager.user_id, "viewer")
    session.commit()
    at = page("audit_log.py", admin).run()
    assert set(at.dataframe[0].value["Action"]) == {"user.create", "user.role_changed"}

    at.selectbox[1].select("user.role_changed").run()
    table = at.dataframe[0].value
    assert list(table["Action"]) == ["user.role_changed"]
    assert list(table["Who"]) == ["ana"]


def test_the_profile_page_changes_the_password_and_saves_the_language(session, admin):
    at = page("profile.py", admin).run()
    at.text_input[0].input(PASSWORD)
    at.text_input[1].input("a new long password")
    at.text_input[2].input("a new long password")
    button(at, "Change password").click().run()
    assert verify_password(get(session, User, admin.user_id).password_hash, "a new long password")
    assert one(session, select(AuditLog.id).where(AuditLog.action == "user.password_changed"))

    at.selectbox[0].select("pt_BR").run()
    button(at, "Save language").click().run()
    assert get(session, User, admin.user_id).language == "pt_BR"


def test_the_profile_page_refuses_a_wrong_current_password(session, admin):
    at = page("profile.py", admin).run()
    at.text_input[0].input("not my password")
    at.text_input[1].input("a new long password")
    at.text_input[2].input("a new long password")
    button(at, "Change password").click().run()

    assert at.error
    assert verify_password(get(session, User, admin.user_id).password_hash, PASSWORD)
