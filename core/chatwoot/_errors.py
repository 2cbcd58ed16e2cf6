"""What a failed Chatwoot call raises. No exception ever carries the access token."""

from __future__ import annotations


class ChatwootError(Exception):
    """A Chatwoot call failed.

    `status` is the HTTP status (None: no answer at all). `transient` says whether the same
    call may succeed later without anything changing on our side (429 after the retries,
    5xx, network trouble). `may_have_applied` is True when a write may have taken effect
    although no success answer came back (the request reached the server, then the answer
    was lost or was a 5xx): resending it could duplicate, e.g. a message in a conversation.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        transient: bool = False,
        may_have_applied: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.transient = transient
        self.may_have_applied = may_have_applied

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, status={self.status}, "
            f"transient={self.transient}, may_have_applied={self.may_have_applied})"
        )


class ChatwootAuthError(ChatwootError):
    """401/403: no token, an unknown token, a user outside the account, or an agent-bot token
    on an endpoint bots may not use. Fix the settings; retrying does not help."""


class ChatwootNotFoundError(ChatwootError):
    """404: the contact, conversation, inbox (or the account itself) does not exist."""


class ChatwootRejectedError(ChatwootError):
    """Another 4xx (mostly 422): Chatwoot refused the data, e.g. a phone number already taken.
    `message` is Chatwoot's own text."""
