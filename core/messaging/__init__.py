"""Talking to a WhatsApp server: the Evolution client and the one mapping from its answers to an
`Outcome` (sent, not on WhatsApp, rejected, instance down, retry, unknown).
"""

from core.messaging._evolution import (
    CONNECTION_STATES,
    DEFAULT_WEBHOOK_EVENTS,
    MEDIA_TYPES,
    EvolutionClient,
    EvolutionError,
    normalize_number,
)
from core.messaging._outcome import Outcome, SendResult, classify

__all__ = [
    "CONNECTION_STATES",
    "DEFAULT_WEBHOOK_EVENTS",
    "EvolutionClient",
    "EvolutionError",
    "MEDIA_TYPES",
    "Outcome",
    "SendResult",
    "classify",
    "normalize_number",
]
