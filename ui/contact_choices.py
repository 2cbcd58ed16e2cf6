"""What pickers offer about an account's contacts: its custom attribute names.

Listing them reads every contact (about a second at a million), too slow for every run of a
page: the list is cached on `contacts.contacts_version` and read again only when a contact
changes. The Contacts page's filters and the campaign editor share it.
"""

from __future__ import annotations

import streamlit as st

from core import contacts
from core.people import Actor
from ui.session import db


@st.cache_data(max_entries=20, show_spinner=False)
def _attribute_keys(_actor: Actor, account_id: int, version: tuple) -> list[str]:
    with db() as session:
        return contacts.attribute_keys(session, _actor)


def attribute_keys(actor: Actor) -> list[str]:
    """The account's custom attribute names, sorted."""
    with db() as session:
        version = contacts.contacts_version(session, actor)
    return _attribute_keys(actor, actor.account_id, version)
