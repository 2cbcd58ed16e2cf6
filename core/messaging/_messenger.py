"""The messenger seam: what the worker and the numbers' pages need of a WhatsApp server.

One small interface, the way a transport or a provider sits behind one call in other tools: the
rest of core speaks to `Messenger` and never to a server's routes. Evolution API is the one
implementation today (`EvolutionClient`); `messenger_for` picks it from an instance's settings.

Sends never raise for HTTP or network trouble: they return a `SendResult` whose `Outcome` tells
the caller what happened. `connection_state` and `register_webhook` raise `EvolutionError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

from core.messaging._evolution import DEFAULT_WEBHOOK_EVENTS, EvolutionClient
from core.messaging._outcome import SendResult


class Messenger(Protocol):
    """One WhatsApp number on its server."""

    def send_text(self, number: str, text: str, delay_ms: int | None = None) -> SendResult: ...

    def send_media(
        self,
        number: str,
        mediatype: str,
        media: str,
        caption: str | None = None,
        file_name: str | None = None,
        mimetype: str | None = None,
        delay_ms: int | None = None,
    ) -> SendResult: ...

    def send_voice_note(
        self, number: str, audio: str, delay_ms: int | None = None
    ) -> SendResult: ...

    def connection_state(self) -> str: ...

    def register_webhook(
        self,
        url: str,
        events: Sequence[str] = DEFAULT_WEBHOOK_EVENTS,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Endpoint:
    """Where a number lives and how to reach it (the token never leaves the messenger)."""

    base_url: str
    instance_name: str
    token: str
    api_version: Literal["v1", "v2"] = "v2"

    def __repr__(self) -> str:  # never the token
        return f"Endpoint({self.base_url!r}, {self.instance_name!r}, {self.api_version!r})"


def messenger_for(
    endpoint: Endpoint,
    *,
    connect_timeout: float,
    read_timeout: float,
    http: httpx.Client | None = None,
) -> Messenger:
    """The messenger of one number. Pass `http` to share a connection pool between numbers."""
    return EvolutionClient(
        endpoint.base_url,
        endpoint.instance_name,
        endpoint.token,
        api_version=endpoint.api_version,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        http=http,
    )
