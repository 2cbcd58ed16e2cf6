"""Re-encrypting stored secrets under the current SECRET_KEY after a key rotation."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.fernet import InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import SenderInstance
from core.people._security import SecretUnreadable, reencrypt_secret

# (model, its encrypted columns). Areas that add encrypted columns list them here.
ENCRYPTED_COLUMNS = [
    (SenderInstance, ("token_encrypted", "webhook_secret_encrypted")),
]


@dataclass(frozen=True)
class RotationReport:
    reencrypted: int
    unreadable: list[str]  # "sender_instances 3 token_encrypted": never the secret itself


def rotate_secrets(session: Session) -> RotationReport:
    """Re-encrypt every stored secret with the first key of SECRET_KEY/SECRET_KEY_PREVIOUS.

    A secret no configured key opens is left untouched and reported, so the operator can add the
    missing old key to SECRET_KEY_PREVIOUS and run again; nothing is lost.
    """
    done = 0
    unreadable: list[str] = []
    for model, columns in ENCRYPTED_COLUMNS:
        for row in session.scalars(select(model).order_by(model.id)):
            for column in columns:
                stored = getattr(row, column)
                if not stored:
                    continue
                try:
                    setattr(row, column, reencrypt_secret(stored))
                except (SecretUnreadable, InvalidToken):  # rotate() raises the latter
                    unreadable.append(f"{model.__tablename__} {row.id} {column}")
                    continue
                done += 1
    session.flush()
    return RotationReport(done, unreadable)
