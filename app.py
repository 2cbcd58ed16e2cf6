"""Streamlit entry point: page config, login, and the navigation each role may use."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.i18n import _
from core.people import SessionContext
from ui import form_state, session_cookie, streamlit_texts
from ui.auth import ensure_logged_in, sidebar
from ui.language import language_picker
from ui.notifications import sidebar_badge
from ui.session import TOKEN_KEY

st.set_page_config(page_title="WhatsApp API Campaigns", page_icon="💬", layout="wide")

# Not "pages/": Streamlit would run such a folder's files directly, around this gate.
VIEWS_DIR = Path(__file__).parent / "views"

# (section, file, title, icon, action the role needs, needs campaigns enabled, visible in menu)
PAGES = [
    ("", "dashboard.py", "Dashboard", "📊", "stats.read", False, True),
    ("Campaigns", "campaigns.py", "Campaigns", "📣", "campaigns.read", True, True),
    ("Campaigns", "campaign_edit.py", "New campaign", "✏️", "campaigns.write", True, True),
    ("Campaigns", "campaign_detail.py", "Campaign", "📈", "campaigns.read", True, False),
    ("Campaigns", "notifications.py", "Notifications", "🔔", "notifications.read", False, True),
    ("Contacts", "contacts.py", "Contacts", "👥", "contacts.read", False, True),
    ("Settings", "instances.py", "WhatsApp numbers", "📱", "instances.read", False, True),
    ("Settings", "users.py", "Users", "🧑‍💼", "users.manage", False, True),
    ("Settings", "tokens.py", "API tokens", "🔑", "tokens.manage", False, True),
    ("Settings", "account_settings.py", "Account", "⚙️", "settings.manage", False, True),
    ("Settings", "audit_log.py", "Audit log", "🧾", "audit.read", False, True),
    ("Settings", "profile.py", "My profile", "🙂", "stats.read", False, True),
]


RETURN_KEY = "return_to"  # (url_path, query params) asked for before logging in


def navigation(context: SessionContext | None) -> dict[str, list[st.Page]]:
    """The pages this actor may use: its role allows them, and campaign pages only while the
    account has campaigns enabled. A page left out here cannot be opened by URL either."""
    sections: dict[str, list[st.Page]] = {}
    for section, filename, title, icon, action, needs_campaigns, visible in PAGES:
        if not (VIEWS_DIR / filename).exists():
            continue
        if context is not None and not context.actor.can(action):
            continue
        if context is not None and needs_campaigns and not context.campaigns_enabled:
            continue
        page = st.Page(
            f"views/{filename}",
            title=_(title),
            icon=icon,
            url_path=filename.removesuffix(".py"),
            visibility="visible" if visible else "hidden",
        )
        sections.setdefault(_(section) if section else "", []).append(page)
    return sections


def note_requested_page() -> None:
    """Before the login page: remember the page in the address (a bookmark, a link, a reload
    after the session ended), so logging in lands there rather than on the dashboard."""
    requested = st.navigation(navigation(None), position="hidden")
    if requested.url_path:  # "" is the default page
        st.session_state[RETURN_KEY] = (requested.url_path, st.query_params.to_dict())


def return_to_requested_page(sections: dict[str, list[st.Page]], current: st.Page) -> None:
    wanted = st.session_state.pop(RETURN_KEY, None)
    if not wanted or wanted[0] == current.url_path:
        return
    for page in (page for pages in sections.values() for page in pages):
        if page.url_path == wanted[0]:  # a page this role may open
            st.switch_page(page, query_params=wanted[1])


form_state.carry_over()  # before any page draws: what staff typed on another page stays
context = ensure_logged_in(before_login_page=note_requested_page)
session_cookie.keep(st.session_state[TOKEN_KEY])  # a reload stays logged in
language_picker(context.actor)  # before the menu, so its titles come out in the chosen language
streamlit_texts.translate_builtins()
sections = navigation(context)
current_page = st.navigation(sections)
return_to_requested_page(sections, current_page)
sidebar(context)
sidebar_badge(context.actor)
current_page.run()
