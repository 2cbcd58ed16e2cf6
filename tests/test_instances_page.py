"""views/instances.py through Streamlit's AppTest: admins add and fix numbers, others only look."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core import instances
from core.instances._instances import TOKEN_MASK
from core.models import SenderInstance
from core.people import decrypt_secret

ROOT = Path(__file__).resolve().parent.parent


def page(actor) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / "instances.py"), default_timeout=30)
    at.session_state["actor"] = actor
    return at


def _fill(at: AppTest, form_key_prefix: str, values: dict[str, str]) -> None:
    for widget in at.text_input:
        if widget.label in values:
            widget.input(values[widget.label])


def test_an_admin_adds_a_number_and_the_token_is_never_shown(session, admin, fake_evolution):
    inst = fake_evolution.add_instance("shop")
    at = page(admin).run()
    assert not at.exception
    _fill(
        at,
        "add",
        {
            "Name": "Shop",
            "Evolution server URL": fake_evolution.base_url,
            "Instance name": "shop",
            "API key (token)": inst.token,
        },
    )
    at.button[-1].click().run()
    assert not at.exception
    session.expire_all()
    created = session.scalar(select(SenderInstance).where(SenderInstance.name == "Shop"))
    assert created is not None and decrypt_secret(created.token_encrypted) == inst.token
    session.commit()  # SQLite: a reading transaction holds the write lock the page needs
    at = page(admin).run()  # a fresh visit: nothing the page draws comes with the token
    rendered = " ".join(str(e.value) for e in at.text_input) + " ".join(
        str(m.value) for m in at.metric
    )
    assert inst.token not in rendered
    assert any(m.label == "API key" and m.value == TOKEN_MASK for m in at.metric)


def test_a_bad_url_shows_the_field_problem(session, admin):
    at = page(admin).run()
    _fill(at, "add", {"Name": "x", "Evolution server URL": "nope", "Instance name": "x",
                      "API key (token)": "t"})  # fmt: skip
    at.button[-1].click().run()
    assert any("base_url" in e.value for e in at.error)
    assert session.scalar(select(SenderInstance)) is None


def test_a_broken_number_can_be_re_enabled_by_an_admin(session, admin, fake_evolution):
    inst = fake_evolution.add_instance("shop")
    created = instances.create_instance(
        session, admin, {"name": "Shop", "base_url": fake_evolution.base_url,
                         "instance_name": "shop", "token": inst.token},
    )  # fmt: skip
    created.circuit, created.circuit_reason = "open", "401: the instance's API key was refused"
    session.commit()
    at = page(admin).run()
    assert any("API key was refused" in e.value for e in at.error)
    next(b for b in at.button if b.label == "Re-enable sending").click().run()
    assert not at.exception
    session.expire_all()
    assert session.get(SenderInstance, created.id).circuit == "closed"


def test_viewers_see_numbers_but_no_actions(session, admin, viewer, fake_evolution):
    inst = fake_evolution.add_instance("shop")
    instances.create_instance(
        session, admin, {"name": "Shop", "base_url": fake_evolution.base_url,
                         "instance_name": "shop", "token": inst.token},
    )  # fmt: skip
    session.commit()
    at = page(viewer).run()
    assert not at.exception
    assert any("Shop" in e.label for e in at.expander)
    assert not at.button and not at.text_input


def _number(session, admin, fake_evolution):
    inst = fake_evolution.add_instance("shop")
    return instances.create_instance(
        session, admin, {"name": "Shop", "base_url": fake_evolution.base_url,
                         "instance_name": "shop", "token": inst.token},
    )  # fmt: skip


def test_an_outage_shows_why_and_that_sending_resumes_by_itself(session, admin, fake_evolution):
    from core.base import stored_text, utcnow
    from core.models import CircuitCause
    from core.sending._outcome_rules import stop_instance

    created = _number(session, admin, fake_evolution)
    session.commit()
    reason = stored_text.text(
        stored_text.SERVER_NOT_ANSWERING,
        url="https://evo.example.com",
        error="502 Bad Gateway",
        since="03:12",
    )
    assert stop_instance(session, created.id, reason, utcnow(), CircuitCause.SERVER)
    session.commit()

    at = page(admin).run()

    assert not at.exception
    assert any(
        "the Evolution server at https://evo.example.com is not answering (502 Bad Gateway) "
        "since 03:12" in w.value
        for w in at.warning
    )
    assert any("resume by themselves" in c.value for c in at.caption)


def test_a_server_not_activated_links_to_its_activation_page(session, admin, fake_evolution):
    created = _number(session, admin, fake_evolution)
    created.activation_url = "https://evo.example.com/manager/login"
    created.state = "not_activated"
    session.commit()

    at = page(admin).run()

    assert not at.exception
    assert any("not activated" in e.value for e in at.error)
    buttons = at.get("link_button")
    assert [b.proto.url for b in buttons] == ["https://evo.example.com/manager/login"]
    assert any(m.label == "Connection" and m.value == "Not activated" for m in at.metric)


def test_typing_presence_is_set_on_the_form(session, admin, fake_evolution):
    created = _number(session, admin, fake_evolution)
    session.commit()
    at = page(admin).run()
    for widget in at.number_input:
        if widget.label == "Typing presence from (seconds)":
            widget.set_value(1.0)
        elif widget.label == "Typing presence up to (seconds)":
            widget.set_value(3.5)
    save = [b for b in at.button if b.label == "Save"]
    save[0].click().run()  # the first form is the number's edit form
    assert not at.exception
    session.expire_all()
    row = session.get(SenderInstance, created.id)
    assert (row.typing_min_seconds, row.typing_max_seconds) == (1.0, 3.5)


def test_the_panel_stays_open_after_test_connection(session, admin, fake_evolution):
    from core.base import utcnow

    created = _number(session, admin, fake_evolution)
    created.webhook_registered_at, created.webhook_error = utcnow(), None  # nothing to warn of
    session.commit()
    at = page(admin).run()
    [panel] = [e for e in at.expander if "Shop" in e.label]
    assert not panel.proto.expanded
    at.button(key=f"test-{created.id}").click().run()
    assert not at.exception
    assert any("Connection state" in s.value for s in at.success)
    [panel] = [e for e in at.expander if "Shop" in e.label]
    assert panel.proto.expanded  # the flash above it does not fold it away
