"""The sender: one claimed part of a message, out through the claim's number.

It speaks to the number's server only through `core.messaging.Messenger` (Evolution today).
Messengers share one HTTP client (each sending thread its own small pool, `_thread_transport`)
and are kept per number and settings; attachments
are resolved once per campaign (an upload is read from the database once, not per recipient).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import httpx

from core import campaigns, instances
from core.base import Settings
from core.messaging import EvolutionError, Messenger, Outcome, SendResult, messenger_for
from core.models import CircuitCause
from core.people import SecretUnreadable
from core.sending._claims import Claim
from core.sending._database import WorkerDatabase
from core.sending._thread_transport import ThreadTransport

MEDIA_CACHE_SIZE = 256
CONFIG = CircuitCause.CONFIG


@dataclass(frozen=True)
class _Media:
    mediatype: str
    media: str
    file_name: str | None
    mimetype: str | None


class Sender:
    def __init__(
        self,
        settings: Settings,
        database: WorkerDatabase,
        *,
        http: httpx.Client | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        self._owns_http = http is None
        self._http = http or httpx.Client(transport=ThreadTransport())
        self._messengers: dict[tuple[str, ...], Messenger] = {}
        self._media: dict[tuple[int, str], _Media] = {}
        self._lock = threading.Lock()

    def send(self, claim: Claim) -> SendResult:
        """Send the claim's current part (text, media, or the voice note after its text)."""
        try:
            messenger = self._messenger(claim)
        except SecretUnreadable:
            return SendResult(
                Outcome.INSTANCE_DOWN, None, None, "the stored token is unreadable", CONFIG
            )
        except ValueError as error:
            return SendResult(
                Outcome.INSTANCE_DOWN, None, None, f"bad instance settings: {error}", CONFIG
            )
        part = claim.parts[claim.part]
        delay = claim.typing_ms or None  # the client adds it to its read timeout
        if part == "text":
            return messenger.send_text(claim.phone, claim.text, delay)
        try:
            media = self._media_for(claim)
        except Exception as error:  # noqa: BLE001 - a missing attachment fails this recipient
            return SendResult(
                Outcome.REJECTED, None, None, f"attachment unavailable ({type(error).__name__})"
            )
        if part == "audio":
            return messenger.send_voice_note(claim.phone, media.media, delay)
        return messenger.send_media(
            claim.phone,
            media.mediatype,
            media.media,
            caption=claim.text or None,
            file_name=media.file_name,
            mimetype=media.mimetype,
            delay_ms=delay,
        )

    def server_works(self, claim: Claim) -> bool:
        """Whether the claim's number answers `connectionState` with an open session: asked
        before a server-side failure burns a recipient's last attempt (see `_send_step`)."""
        try:
            return self._messenger(claim).connection_state() == "open"
        except (EvolutionError, SecretUnreadable, ValueError):
            return False

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _messenger(self, claim: Claim) -> Messenger:
        key = (claim.base_url, claim.instance_name, claim.api_version, claim.token_encrypted)
        with self._lock:
            messenger = self._messengers.get(key)
        if messenger is None:
            messenger = messenger_for(
                instances.endpoint_of(claim),
                connect_timeout=self.settings.http_connect_timeout,
                read_timeout=self.settings.http_read_timeout,
                http=self._http,
            )
            with self._lock:
                self._messengers[key] = messenger
        return messenger

    def _media_for(self, claim: Claim) -> _Media:
        multimedia = claim.multimedia or {}
        key = (claim.campaign_id, repr(sorted(multimedia.items())))
        with self._lock:
            cached = self._media.get(key)
        if cached is not None:
            return cached
        with self.database.session() as session:
            mediatype, media, file_name, mimetype = campaigns.evolution_media(session, multimedia)
        cached = _Media(mediatype, media, file_name, mimetype)
        with self._lock:
            if len(self._media) > MEDIA_CACHE_SIZE:
                self._media.clear()
            self._media[key] = cached
        return cached
