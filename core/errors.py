"""Errors the domain raises; shells turn them into messages, HTTP codes or exit codes."""

from __future__ import annotations


class DomainError(Exception):
    """Base for every error a user can act on."""


class ValidationError(DomainError):
    """Bad input. `field` names what is wrong; `errors` lists several problems at once."""

    def __init__(
        self,
        message: str,
        field: str | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.errors = errors or ([{"field": field, "message": message}] if field else [])


class NotFound(DomainError):
    """The object does not exist in this account (or the actor may not know it does)."""


class PermissionDenied(DomainError):
    """The actor's role does not allow the action."""


class Conflict(DomainError):
    """The action is not allowed in the object's current state, or a race was lost."""
