"""Passwords (argon2), API and session tokens (random, stored as digests), secrets at rest (Fernet)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from core.base import get_settings

_hasher = PasswordHasher()
TOKEN_PREFIX = "wac_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A bearer secret: shown once to its owner, stored only as a digest."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    # Tokens are 256 random bits, so a fast digest is safe; argon2 would make every request slow.
    return hashlib.sha256(token.encode()).hexdigest()


def _fernet_key(secret: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(secret.encode()).digest())


@lru_cache(maxsize=8)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(_fernet_key(key)) for key in keys])


class SecretUnreadable(Exception):
    """Raised when no configured key opens a stored secret (the key was changed, not rotated)."""


def encrypt_secret(plain: str) -> str:
    return _cipher(get_settings().secret_keys).encrypt(plain.encode()).decode()


def decrypt_secret(stored: str) -> str:
    try:
        return _cipher(get_settings().secret_keys).decrypt(stored.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "a stored secret cannot be decrypted with SECRET_KEY or SECRET_KEY_PREVIOUS"
        ) from None


def reencrypt_secret(stored: str) -> str:
    """Re-encrypt under the current key (after a rotation)."""
    return _cipher(get_settings().secret_keys).rotate(stored.encode()).decode()
