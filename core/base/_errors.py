"""Errors the domain raises; shells turn them into messages, HTTP codes or exit codes.

A message is a constant English TEMPLATE plus keyword PARAMS:
`ValidationError("choose one phone column, not {count}: {columns}", "mapping", count=2, columns=...)`.
`str(error)` and `error.message` are the English text with the params filled in (the API, the CLI
and the logs use it); the UI shows `core.i18n.localize_error(error)`, which translates the template
(the constant is extracted into the catalogs) and fills in the same params.
"""

from __future__ import annotations

from typing import Any

from core.i18n import entry, format_message


class DomainError(Exception):
    """Base for every error a user can act on."""

    def __init__(self, message: str = "", /, **params: Any) -> None:
        # The English text is formatted when asked for: an import refusing many rows builds an
        # error per row and only needs its template and params.
        super().__init__(*([message] if message else []))
        self.template = message
        self.params = params

    @property
    def message(self) -> str:
        return format_message(self.template, self.params)

    def __str__(self) -> str:
        return self.message

    def entry(self) -> dict[str, Any]:
        """The message as data (`core.i18n.entry`): to store, or to nest in another message."""
        return entry(self.template, self.params)


class ValidationError(DomainError):
    """Bad input. `field` names what is wrong; `errors` lists several problems at once.

    `errors` is what the API returns (each {"field", "message"} in English); `details` holds the
    same problems as templates ({"field", "template", "params"}) for the UI to translate.
    """

    def __init__(
        self,
        message: str,
        /,
        field: str | None = None,
        errors: list[dict[str, str]] | None = None,
        *,
        details: list[dict[str, Any]] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(message, **params)
        self.field = field
        self.joined = False  # the message is every problem's, joined by "; "
        self._errors = errors
        self._details = details

    @property
    def errors(self) -> list[dict[str, str]]:
        if self._errors:
            return self._errors
        return [{"field": self.field, "message": self.message}] if self.field else []

    @property
    def details(self) -> list[dict[str, Any]]:
        if self._details:
            return self._details
        if self._errors:  # sub-errors given only as English translate as far as they are constant
            return [
                {"field": e.get("field"), "template": e.get("message", ""), "params": {}}
                for e in self._errors
            ]
        return [self.detail()] if self.field else []

    @classmethod
    def several(cls, details: list[dict[str, Any]], joined: bool = False) -> ValidationError:
        """One error for several problems (each as `detail()` gives it): its message is the first
        problem's, or with `joined` all of them joined by "; "."""
        errors = [
            {"field": d.get("field"), "message": format_message(d["template"], d.get("params"))}
            for d in details
        ]
        first = details[0]
        if joined:
            error = cls("; ".join(e["message"] for e in errors), first.get("field"), errors)
            error._details = details
            error.joined = True
            return error
        return cls(
            first["template"],
            first.get("field"),
            errors,
            details=details,
            **first.get("params", {}),
        )

    def detail(self, field: str | None = None) -> dict[str, Any]:
        """This error as one entry of another error's `details`."""
        return {"field": self.field if field is None else field, **self.entry()}


class NotFound(DomainError):
    """The object does not exist in this account (or the actor may not know it does)."""


class PermissionDenied(DomainError):
    """The actor's role does not allow the action."""


class Conflict(DomainError):
    """The action is not allowed in the object's current state, or a race was lost."""
