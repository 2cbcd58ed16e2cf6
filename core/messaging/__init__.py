"""Talking to a WhatsApp server: the `Messenger` seam, its one implementation today (Evolution
API's `EvolutionClient`), and the one mapping from a server's answers to an `Outcome` (sent, not
on WhatsApp, rejected, instance down, retry, unknown) and to whose fault a failure is
(`SendResult.trouble`: the server's, or the instance's licence, session or configuration).

Other packages build a messenger with `messenger_for(Endpoint(...), ...)` and read outcomes; no
one else interprets status codes, bodies or transport errors.
"""

from core.messaging._evolution import (
    DEFAULT_WEBHOOK_EVENTS,
    EvolutionClient,
    EvolutionError,
)
from core.messaging._messenger import Endpoint, Messenger, messenger_for
from core.messaging._outcome import Outcome, SendResult, classify

__all__ = [
    "DEFAULT_WEBHOOK_EVENTS",
    "Endpoint",
    "EvolutionClient",
    "EvolutionError",
    "Messenger",
    "Outcome",
    "SendResult",
    "classify",
    "messenger_for",
]
