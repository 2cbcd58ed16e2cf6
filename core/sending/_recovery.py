"""Claims nobody will finish: a `sending` row whose worker died, lost its lease, or could not save
the outcome becomes `unknown` — it may have gone out, so it is never resent automatically.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from core.base import stored_text
from core.models import CampaignRecipient, RecipientStatus, SenderInstance


def recover_expired_claims(session: Session, now: datetime) -> list[int]:
    """`sending` rows whose claimer no longer holds the instance's lease become `unknown`.
    Returns the campaign ids touched."""
    lease_held = exists().where(
        SenderInstance.id == CampaignRecipient.instance_id,
        SenderInstance.lease_owner == CampaignRecipient.claimed_by,
        SenderInstance.lease_expires_at > now,
    )
    rows = session.execute(
        select(CampaignRecipient.id, CampaignRecipient.campaign_id).where(
            CampaignRecipient.status == RecipientStatus.SENDING, ~lease_held
        )
    ).all()
    return _mark_unknown(session, rows, now, ~lease_held)


def recover_own_orphans(
    session: Session, worker_id: str, in_flight: set[int], older_than: datetime, now: datetime
) -> list[int]:
    """This worker's own `sending` rows that no send is working on (their outcome could not be
    saved) become `unknown` too — the lease alone would keep them `sending` for ever."""
    rows = session.execute(
        select(CampaignRecipient.id, CampaignRecipient.campaign_id).where(
            CampaignRecipient.status == RecipientStatus.SENDING,
            CampaignRecipient.claimed_by == worker_id,
            CampaignRecipient.claimed_at < older_than,
            CampaignRecipient.parts_sent == 0,
        )
    ).all()
    return _mark_unknown(session, [r for r in rows if r.id not in in_flight], now)


def _mark_unknown(session: Session, rows: list[Any], now: datetime, *still: Any) -> list[int]:
    """The rows (id, campaign_id) that are still `sending` (and match `still`) become `unknown`."""
    if not rows:
        return []
    session.execute(
        update(CampaignRecipient)
        .where(
            CampaignRecipient.id.in_([row.id for row in rows]),
            CampaignRecipient.status == RecipientStatus.SENDING,
            *still,
        )
        .values(
            status=RecipientStatus.UNKNOWN,
            error_kind="worker_lost",
            last_error=stored_text.WORKER_LOST,
            failed_at=now,
        ),
        execution_options={"synchronize_session": False},
    )
    return sorted({row.campaign_id for row in rows})
