"""What every page needs from the running session: the actor, the account, a database session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy.orm import Session

from core.access import Actor
from core.db import session_scope
from core.errors import PermissionDenied

ACTOR_KEY = "actor"


def current_actor() -> Actor:
    actor = st.session_state.get(ACTOR_KEY)
    if actor is None:
        st.stop()
    return actor


def require_page(action: str) -> Actor:
    """Stop the page for actors whose role may not use it (navigation hides it, URLs may not)."""
    actor = current_actor()
    if not actor.can(action):
        st.error(str(PermissionDenied(f"the {actor.role} role may not open this page")))
        st.stop()
    return actor


@contextmanager
def db() -> Iterator[Session]:
    with session_scope() as session:
        yield session
