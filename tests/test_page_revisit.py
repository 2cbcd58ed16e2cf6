"""Coming back to a page after Streamlit dropped its widgets' values (AppTest through app.py).

Streamlit forgets the value of every widget a run did not draw, so a visit to another page
removed the editor's keys while its "loaded" marker stayed; the editor then read a missing key
(`KeyError: st.session_state has no key "ce_media_mode"`).
"""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from core import people
from tests.builders import make_contact, make_sender_instance

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


def logged_in_app(session, username: str) -> AppTest:
    _user, token = people.login(session, username, PASSWORD)
    session.commit()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.session_state["session_token"] = token
    return at.run()


def by_key(widgets, key: str):
    return next(w for w in widgets if w.key == key)


def test_new_campaign_again_after_another_page(session, manager, account):
    make_sender_instance(session, account, "main")
    make_contact(session, account, name="Vip", labels=["vip"])
    session.commit()
    at = logged_in_app(session, manager.username)
    at.switch_page("views/campaign_edit.py").run()
    assert not at.exception
    by_key(at.text_input, "ce_title").input("Black Friday")
    by_key(at.radio, "ce_media_mode").set_value("url")
    at.run()
    at.switch_page("views/dashboard.py").run()
    assert not at.exception
    at.switch_page("views/contacts.py").run()  # two runs without the editor's widgets
    at.switch_page("views/campaign_edit.py").run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["New campaign"]
    # What was typed is still there, not only no traceback.
    assert by_key(at.text_input, "ce_title").value == "Black Friday"
    assert by_key(at.radio, "ce_media_mode").value == "url"


def test_only_value_widgets_are_carried_over(session, manager, account):
    """Streamlit refuses a value set on a button or a file uploader: those are never kept."""
    make_sender_instance(session, account, "main")
    session.commit()
    at = logged_in_app(session, manager.username)
    at.switch_page("views/campaign_edit.py").run()
    kept = at.session_state["_kept_widget_keys"]
    assert {"ce_title", "ce_message", "ce_media_mode", "ce_when", "ce_numbers"} <= kept
    assert not {k for k in kept if k.startswith("ce_var_")}
    assert not kept & {"ce_save", "ce_upload", "ce_send_test"}
