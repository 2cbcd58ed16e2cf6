"""The login cookie (AppTest through app.py): set with the session's lifetime on login, deleted
on logout, and never holding anything the database keeps (it stores only the token's digest)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.models import UserSession
from core.people import token_digest

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


def cookie_scripts(at: AppTest) -> list[str]:
    return [str(h.proto.body) for h in at.get("html") if "wac_session" in str(h.proto.body)]


def test_login_sets_the_cookie_and_logout_deletes_it(session, manager):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not cookie_scripts(at)
    at.text_input[0].input(manager.username)
    at.text_input[1].input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    [script] = cookie_scripts(at)
    token = re.search(r"wac_session=([^;]+);", script).group(1)
    assert "Max-Age=43200" in script and "SameSite=Strict" in script  # SESSION_TTL_MINUTES 720
    session.expire_all()
    stored = session.scalars(select(UserSession.token_hash)).all()
    assert stored == [token_digest(token)]  # the database has the digest, not the token
    session.commit()
    at.run()
    assert cookie_scripts(at) == [script]  # on every run: one the browser missed is redrawn

    next(b for b in at.sidebar.button if b.label == "Log out").click().run()
    [script] = cookie_scripts(at)
    assert "wac_session=;" in script and "Max-Age=0" in script
