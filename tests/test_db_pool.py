"""The pool keeps its connections: requests at once reuse them instead of opening new ones."""

from __future__ import annotations

from contextlib import ExitStack

from sqlalchemy import event, text

from core.base import make_engine, pool_size_of
from core.base._db import POOL_SIZE, READ_ONLY


def test_connections_in_use_at_once_are_kept_for_the_next_requests(db_url):
    engine = make_engine(db_url)
    opened: list[object] = []
    event.listen(engine, "connect", lambda connection, _record: opened.append(connection))
    try:
        assert pool_size_of(engine) == POOL_SIZE == 15  # the default pool's most, as before
        reader = engine.execution_options(**{READ_ONLY: True})  # as API reads: no write lock
        for _round in range(3):  # eight requests at once, three times over
            with ExitStack() as stack:
                for _ in range(8):
                    stack.enter_context(reader.connect()).execute(text("SELECT 1"))
        assert len(opened) == 8  # the first round's; the default pool opened 3 more each round
    finally:
        engine.dispose()


def test_a_callers_own_pool_size_is_kept(db_url):
    engine = make_engine(db_url, pool_size=2, max_overflow=1)
    try:
        assert pool_size_of(engine) == 3
    finally:
        engine.dispose()
