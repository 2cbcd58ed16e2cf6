"""Settings from the environment (and an optional `.env`), with defaults that work with no setup."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dotenv import load_dotenv

from core.base._errors import ValidationError


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    secret_keys: tuple[str, ...]  # first encrypts; all decrypt (rotation)
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_workers: int = 1
    public_api_url: str | None = None
    log_level: str = "INFO"
    # Worker timing knobs: tests turn these down to run fast.
    worker_tick_seconds: float = 0.5
    due_poll_seconds: float = 1.0
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    http_connect_timeout: float = 5.0
    http_read_timeout: float = 30.0
    retry_backoff_base_seconds: float = 30.0
    retry_backoff_max_seconds: float = 900.0
    max_attempts: int = 5
    instance_check_seconds: float = 60.0
    # The breaker: recipients failing server-side in a row that open a number's circuit, and
    # the backoff of the checks while it is open (doubling from min to max).
    breaker_threshold: int = 3
    circuit_check_min_seconds: float = 15.0
    circuit_check_max_seconds: float = 300.0
    # UI sessions and login protection.
    session_ttl_minutes: int = 720
    login_max_failures: int = 5
    login_lockout_minutes: int = 15
    # PostgreSQL: connections a worker uses at most (its transactions at once), and whether a
    # PgBouncer in transaction mode sits in front (no prepared statements, no start-up check).
    worker_db_connections: int = 8
    database_behind_pgbouncer: bool = False
    # Outbound URLs (core.base._outbound): loopback and private networks allowed unless false.
    outbound_allow_private: bool = True
    # /metrics: the bearer token Prometheus sends; unset, only loopback clients may scrape.
    metrics_token: str | None = None
    # Request bodies the API reads at most (413 beyond), enforced while reading, before the
    # token is checked: JSON routes, Evolution's webhook, and the CSV import's upload.
    max_body_bytes: int = 1 << 20
    max_webhook_body_bytes: int = 4 << 20
    max_import_body_bytes: int = 50 << 20


def _number(name: str, default: float, kind: type = float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValidationError(
            "{name}={raw!r} is not a valid {kind}", name, name=name, raw=raw, kind=kind.__name__
        ) from None
    if value < 0:
        raise ValidationError("{name} must not be negative (got {raw})", name, name=name, raw=raw)
    return value


def _secret_keys(data_dir: Path) -> tuple[str, ...]:
    current = os.environ.get("SECRET_KEY", "").strip()
    if not current:
        current = _stored_secret(data_dir / "secret.key")
    previous = [
        key.strip() for key in os.environ.get("SECRET_KEY_PREVIOUS", "").split(",") if key.strip()
    ]
    return (current, *previous)


def _stored_secret(path: Path) -> str:
    """Generate the key once, readable only by its owner, so restarts can decrypt what was saved."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")
    return key


def load_settings() -> Settings:
    load_dotenv(override=False)
    data_dir = Path(os.environ.get("DATA_DIR", "data")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{data_dir / 'campaigns.db'}"
    public_api_url = (os.environ.get("PUBLIC_API_URL") or "").strip().rstrip("/") or None
    api_port = int(_number("API_PORT", 8000, int))
    if public_api_url is None and os.environ.get("LOCAL_WEBHOOKS") == "1":
        # `make run` on one machine: Evolution beside us reaches the API here, so receipts
        # arrive without any setting (the pages warn when Evolution runs elsewhere).
        public_api_url = f"http://127.0.0.1:{api_port}"
    if public_api_url and not public_api_url.startswith(("http://", "https://")):
        raise ValidationError(
            "PUBLIC_API_URL must start with http:// or https://", "PUBLIC_API_URL"
        )
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        secret_keys=_secret_keys(data_dir),
        api_host=os.environ.get("API_HOST", "127.0.0.1"),
        api_port=api_port,
        api_workers=_at_least_one("API_WORKERS", 1),
        public_api_url=public_api_url,
        log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        worker_tick_seconds=_number("WORKER_TICK_SECONDS", 0.5),
        due_poll_seconds=_number("DUE_POLL_SECONDS", 1.0),
        lease_seconds=_number("LEASE_SECONDS", 30.0),
        heartbeat_seconds=_number("HEARTBEAT_SECONDS", 5.0),
        http_connect_timeout=_number("HTTP_CONNECT_TIMEOUT", 5.0),
        http_read_timeout=_number("HTTP_READ_TIMEOUT", 30.0),
        retry_backoff_base_seconds=_number("RETRY_BACKOFF_BASE_SECONDS", 30.0),
        retry_backoff_max_seconds=_number("RETRY_BACKOFF_MAX_SECONDS", 900.0),
        max_attempts=int(_number("MAX_ATTEMPTS", 5, int)),
        instance_check_seconds=_number("INSTANCE_CHECK_SECONDS", 60.0),
        breaker_threshold=_at_least_one("BREAKER_THRESHOLD", 3),
        circuit_check_min_seconds=_number("CIRCUIT_CHECK_MIN_SECONDS", 15.0),
        circuit_check_max_seconds=_number("CIRCUIT_CHECK_MAX_SECONDS", 300.0),
        session_ttl_minutes=int(_number("SESSION_TTL_MINUTES", 720, int)),
        login_max_failures=int(_number("LOGIN_MAX_FAILURES", 5, int)),
        login_lockout_minutes=int(_number("LOGIN_LOCKOUT_MINUTES", 15, int)),
        worker_db_connections=_at_least_one("WORKER_DB_CONNECTIONS", 8),
        database_behind_pgbouncer=_flag("DATABASE_PGBOUNCER", False),
        outbound_allow_private=_flag("OUTBOUND_ALLOW_PRIVATE", True),
        metrics_token=(os.environ.get("METRICS_TOKEN") or "").strip() or None,
        max_body_bytes=_at_least_one("MAX_BODY_BYTES", 1 << 20),
        max_webhook_body_bytes=_at_least_one("MAX_WEBHOOK_BODY_BYTES", 4 << 20),
        max_import_body_bytes=_at_least_one("MAX_IMPORT_BODY_BYTES", 50 << 20),
    )


def _flag(name: str, default: bool) -> bool:
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValidationError("{name} must be true or false (got {raw!r})", name, name=name, raw=raw)


def _at_least_one(name: str, default: int) -> int:
    number = int(_number(name, default, int))
    if number < 1:
        raise ValidationError(
            "{name} must be at least {low} (got {number})", name, name=name, low=1, number=number
        )
    return number


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings_cache() -> None:
    get_settings.cache_clear()
