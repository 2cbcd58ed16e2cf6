"""Which recipient statuses each figure counts: one list, so every page adds them up alike."""

from __future__ import annotations

from core.models import RecipientStatus

# A status higher on the ladder implies the lower ones happened: a read message was delivered and
# sent, though its row only says `read`.
REACHED_SENT = (RecipientStatus.SENT, RecipientStatus.DELIVERED, RecipientStatus.READ)
REACHED_DELIVERED = (RecipientStatus.DELIVERED, RecipientStatus.READ)
# Work left (the rest of an A/B audience waits for the winner); `held_out` is neither work nor
# a failure: it never goes out, on purpose.
OPEN_STATUSES = (
    RecipientStatus.PENDING,
    RecipientStatus.SENDING,
    RecipientStatus.AWAITING_WINNER,
)
FAILURE_STATUSES = (RecipientStatus.FAILED, RecipientStatus.UNKNOWN)
