"""A process's PostgreSQL connections, checked against the server's limit when it starts.

A pool that asks for more connections than PostgreSQL has left does not fail: it stalls, each
request waiting `pool_timeout` and then erroring far from the cause. Checking once at start-up
turns that into one clear sentence. Behind PgBouncer the server's limit says nothing about the
pooler's, so the check is skipped there (`DATABASE_PGBOUNCER`).
"""

from __future__ import annotations

from sqlalchemy import Engine, text

from core.base._errors import ValidationError

_ROOM = text(
    "SELECT current_setting('max_connections')::int AS most,"
    " current_setting('superuser_reserved_connections')::int AS reserved,"
    " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS used"
)


def pool_size_of(engine: Engine) -> int:
    """The most connections this engine's pool opens at once (its size plus its overflow)."""
    pool = engine.pool
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", 0)
    return int(size() if callable(size) else 1) + max(0, int(overflow))


def check_connection_budget(engine: Engine, needed: int, process: str) -> None:
    """Raise a ValidationError naming the numbers when PostgreSQL cannot give `needed` more
    connections to this `process` ("worker", "API"); nothing to check on SQLite."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        room = connection.execute(_ROOM).one()
    # This check's own connection is counted in `used` and goes back to the pool afterwards.
    free = room.most - room.reserved - (room.used - 1)
    if needed > free:
        raise ValidationError(
            "PostgreSQL allows {most} connections ({reserved} kept for superusers) and {used} are"
            " in use, but this {process} may open {needed}: raise max_connections, lower"
            " WORKER_DB_CONNECTIONS, or put PgBouncer in front (DATABASE_PGBOUNCER=true)",
            "DATABASE_URL",
            most=room.most,
            reserved=room.reserved,
            used=room.used - 1,
            process=process,
            needed=needed,
        )
