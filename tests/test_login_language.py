"""The language picker on the login page (AppTest through app.py): the page switches at once,
and the choice is saved on the user who logs in."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.models import User

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


def test_picking_a_language_before_logging_in(session, manager):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert [t.value for t in at.title] == ["Log in"]
    at.selectbox(key="ui_language_picker").select("es").run()
    assert [t.value for t in at.title] == ["Iniciar sesión"]
    at.text_input[0].input(manager.username)
    at.text_input[1].input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    session.expire_all()
    assert session.get(User, manager.user_id).language == "es"  # a reload keeps it too
    session.commit()
