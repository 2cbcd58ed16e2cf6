"""Streamlit entry point: page config, login, and the navigation each role may use."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.i18n import _
from core.people import SessionContext
from ui import form_state
from ui.auth import ensure_logged_in, sidebar
from ui.language import language_picker
from ui.notifications import sidebar_badge

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


def navigation(context: SessionContext) -> dict[str, list[st.Page]]:
    """The pages this actor may use: its role allows them, and campaign pages only while the
    account has campaigns enabled. A page left out here cannot be opened by URL either."""
    sections: dict[str, list[st.Page]] = {}
    for section, filename, title, icon, action, needs_campaigns, visible in PAGES:
        if not (VIEWS_DIR / filename).exists() or not context.actor.can(action):
            continue
        if needs_campaigns and not context.campaigns_enabled:
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


form_state.carry_over()  # before any page draws: what staff typed on another page stays
context = ensure_logged_in()
language_picker(context.actor)  # before the menu, so its titles come out in the chosen language
current_page = st.navigation(navigation(context))
sidebar(context)
sidebar_badge(context.actor)
current_page.run()
