"""What every package shares: settings, the database, the clock, domain errors, stored sentences.

Nothing here knows a campaign or a contact. `stored_text` is the catalogue of sentences stored
for people to read later (English for the API, template + params for the UI).
"""

from core.base import _stored_text as stored_text
from core.base._backoff import retry_delay
from core.base._clock import as_utc, utcnow
from core.base._connection_budget import check_connection_budget, pool_size_of
from core.base._dates import (
    EARLIEST,
    FIRST_DAY,
    LAST_DAY,
    LATEST,
    MAX_YEAR,
    MIN_YEAR,
    parse_datetime,
)
from core.base._db import (
    get_engine,
    make_engine,
    new_session,
    read_only_session,
    session_scope,
)
from core.base._errors import Conflict, DomainError, NotFound, PermissionDenied, ValidationError
from core.base._exports import CSV_MIME, XLSX_MIME, escape_cell, to_csv, to_xlsx
from core.base._json_limits import MAX_JSON_DEPTH, json_depth_exceeds
from core.base._migrations import upgrade_to_head
from core.base._outbound import check_outbound_url
from core.base._outbound import refusal as outbound_refusal
from core.base._settings import Settings, get_settings, reset_settings_cache

__all__ = [
    "CSV_MIME",
    "EARLIEST",
    "FIRST_DAY",
    "LAST_DAY",
    "LATEST",
    "MAX_JSON_DEPTH",
    "MAX_YEAR",
    "MIN_YEAR",
    "Conflict",
    "DomainError",
    "NotFound",
    "PermissionDenied",
    "Settings",
    "ValidationError",
    "XLSX_MIME",
    "as_utc",
    "check_connection_budget",
    "check_outbound_url",
    "escape_cell",
    "get_settings",
    "json_depth_exceeds",
    "get_engine",
    "make_engine",
    "new_session",
    "pool_size_of",
    "outbound_refusal",
    "parse_datetime",
    "read_only_session",
    "reset_settings_cache",
    "retry_delay",
    "session_scope",
    "stored_text",
    "to_csv",
    "to_xlsx",
    "upgrade_to_head",
    "utcnow",
]
