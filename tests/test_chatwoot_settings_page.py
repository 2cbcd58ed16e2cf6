"""The Chatwoot section of views/account_settings.py through Streamlit's AppTest: an admin
connects (the token never drawn again), tests the connection and syncs now, over real HTTP
against the fake Chatwoot."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core.models import ChatwootLink, Contact
from core.people import decrypt_secret
from tests.fake_chatwoot import FakeChatwoot
from tests.fake_chatwoot import fake_chatwoot as fake_chatwoot  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent


def page(actor) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / "account_settings.py"), default_timeout=60)
    at.session_state["actor"] = actor
    return at


def test_an_admin_connects_tests_and_syncs_from_the_page(
    session, admin, account, fake_chatwoot: FakeChatwoot
):
    acct = fake_chatwoot.add_account("Loja no Chatwoot")
    acct.add_inbox("WhatsApp vendas")
    acct.seed_contacts(20)
    at = page(admin).run()
    assert not at.exception
    for widget in at.text_input:
        if widget.label == "Chatwoot URL":
            widget.input(fake_chatwoot.base_url)
        elif widget.label == "Access token":
            widget.input(acct.token)
    next(n for n in at.number_input if n.label == "Chatwoot account id").set_value(acct.id)
    next(b for b in at.button if b.label == "Save Chatwoot settings").click().run()
    assert not at.exception, at.exception

    link = session.scalar(select(ChatwootLink))
    assert link is not None and decrypt_secret(link.token_encrypted) == acct.token
    session.commit()  # SQLite: a reading transaction holds the write lock the page needs
    at = page(admin).run()
    drawn = " ".join(str(w.value) for w in at.text_input)
    assert acct.token not in drawn

    next(b for b in at.button if b.label == "Test connection").click().run()
    assert any("Loja no Chatwoot" in s.value for s in at.success)
    assert any("WhatsApp vendas" in m.value for m in at.markdown)

    next(b for b in at.button if b.label == "Sync now").click().run()
    assert not at.exception, at.exception
    created = next(m for m in at.metric if m.label == "Created")
    assert created.value == "20"
    assert len(session.scalars(select(Contact)).all()) == 20
    session.commit()
