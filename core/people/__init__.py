"""People and their rights. This package owns accounts and their settings, users and their
memberships with a role in each account, who may do what (`Actor`, `require`: every service in core
checks `require(actor, action)` before it reads or writes, and reaches an account's rows through
`load_owned`), logging in (passwords, lock-out, browser sessions, single sign-on), API tokens (one
minting path for the UI and the operator's CLI), the languages people choose, the country of
their local phone numbers, the audit trail, and the secrets that guard all this: password hashes,
token digests, encryption at rest and its key rotation. Nothing here knows a contact or a campaign.
"""

from core.people._access import ALLOWED, Actor, require
from core.people._account_settings import (
    MAX_CONFIRM_ABOVE,
    MAX_REPLY_WINDOW_DAYS,
    AccountSettings,
    account_settings,
    update_account_settings,
)
from core.people._accounts import (
    actor_and_account,
    actor_for,
    create_account,
    create_user,
    get_account,
    get_user_by_username,
    memberships,
    parse_role,
    validate_country,
    validate_password,
    validate_timezone,
)
from core.people._audit import AuditFilters, audit_filter_choices, list_audit_entries, record_audit
from core.people._auth import (
    AccountChoice,
    AccountLocked,
    LoginFailed,
    SessionContext,
    change_password,
    end_sessions,
    login,
    login_sso,
    logout,
    session_context,
    user_for_session,
)
from core.people._countries import (
    country_for_locale,
    country_for_timezone,
    import_country,
    remember_import_country,
    suggested_country,
)
from core.people._key_rotation import RotationReport, rotate_secrets
from core.people._languages import saved_languages, set_user_language, user_language
from core.people._ownership import load_owned
from core.people._security import (
    SecretUnreadable,
    decrypt_secret,
    encrypt_secret,
    hash_password,
    token_digest,
    verify_password,
)
from core.people._tokens import (
    TokenActor,
    TokenRow,
    account_actor_for_token,
    create_token,
    list_tokens,
    revoke_token,
    user_for_token,
)
from core.people._users import (
    UserRow,
    change_role,
    deactivate_user,
    invite_user,
    list_users,
    reactivate_user,
    reset_password,
)

__all__ = [
    "validate_timezone",
    "country_for_locale",
    "country_for_timezone",
    "import_country",
    "remember_import_country",
    "suggested_country",
    "ALLOWED",
    "MAX_CONFIRM_ABOVE",
    "MAX_REPLY_WINDOW_DAYS",
    "AccountChoice",
    "AccountLocked",
    "AccountSettings",
    "Actor",
    "AuditFilters",
    "LoginFailed",
    "RotationReport",
    "SecretUnreadable",
    "SessionContext",
    "TokenActor",
    "TokenRow",
    "UserRow",
    "account_settings",
    "account_actor_for_token",
    "actor_and_account",
    "actor_for",
    "audit_filter_choices",
    "change_password",
    "change_role",
    "create_account",
    "create_token",
    "create_user",
    "deactivate_user",
    "decrypt_secret",
    "encrypt_secret",
    "end_sessions",
    "get_account",
    "get_user_by_username",
    "hash_password",
    "invite_user",
    "list_audit_entries",
    "list_tokens",
    "list_users",
    "load_owned",
    "login",
    "login_sso",
    "logout",
    "memberships",
    "parse_role",
    "reactivate_user",
    "record_audit",
    "require",
    "reset_password",
    "revoke_token",
    "rotate_secrets",
    "saved_languages",
    "session_context",
    "set_user_language",
    "token_digest",
    "update_account_settings",
    "user_for_session",
    "user_for_token",
    "user_language",
    "validate_country",
    "validate_password",
    "verify_password",
]
