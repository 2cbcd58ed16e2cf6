"""The browser session's state that the UI modules share, and the database session of a page run.

A leaf: it imports no other ui module, so the login gate (ui.auth), the page helpers (ui.context)
and the language (ui.language) can all read these keys without importing one another in a circle.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from core.base import session_scope

ACTOR_KEY = "actor"  # core.people.Actor of the current account (tests may set it directly)
TOKEN_KEY = "session_token"  # the browser session's token (its digest is in user_sessions)
ACCOUNT_KEY = "account_id"  # the account chosen in the switcher
CONTEXT_KEY = "session_context"  # core.people.SessionContext of this run (absent in page tests)


@contextmanager
def db() -> Iterator[Session]:
    """A unit of work for one step of a page: committed when the block ends, rolled back if it
    raises."""
    with session_scope() as session:
        yield session
