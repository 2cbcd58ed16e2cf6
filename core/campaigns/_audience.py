"""Audience criteria -> contacts: the one resolver behind the UI preview and the frozen recipients.

Opted-out contacts and contacts known not to be on WhatsApp are never included. The preview
and the freeze filter the same cached snapshot (`_audience_snapshot`), so what staff previewed
is what gets sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from core.campaigns._audience_snapshot import audience_snapshot
from core.campaigns._criteria import validate_audience
from core.people import Actor, require


@dataclass(frozen=True)
class AudiencePreview:
    count: int  # contacts that will receive the campaign
    sample: list[dict[str, Any]]  # the first few of them, by id
    excluded: int = 0  # matched the criteria but opted out or not on WhatsApp


def resolve_audience(session: Session, account_id: int, criteria: Any) -> pd.DataFrame:
    """The contacts in the audience (id, phone, name, custom_attributes), in id order."""
    valid = validate_audience(criteria)
    snap = audience_snapshot(session, account_id)
    positions, _excluded = snap.positions(valid)
    return snap.frame(positions)


def preview_for_account(
    session: Session, account_id: int, criteria: Any, sample: int = 5
) -> AudiencePreview:
    """How many contacts the criteria reach and the first `sample` of them — exactly what
    `resolve` (and so the campaign's start) would give at this moment."""
    valid = validate_audience(criteria)
    snap = audience_snapshot(session, account_id)
    positions, excluded = snap.positions(valid)
    rows = [snap.row(int(p)) for p in positions[: max(sample, 0)]]
    return AudiencePreview(count=len(positions), sample=rows, excluded=excluded)


def preview_audience(
    session: Session, actor: Actor, criteria: Any, sample: int = 5
) -> AudiencePreview:
    """How many of the actor's account's contacts the criteria reach, and the first `sample`."""
    require(actor, "campaigns.read")
    return preview_for_account(session, actor.account_id, criteria, sample)
