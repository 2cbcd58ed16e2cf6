"""An import's report as staff read it: counts, rejected and merged rows, the rejected-rows CSV.

Reports are `ImportBatch` rows of the account (`get_batch`, `recent_batches`); each entry of
`errors` is a rejected row (with its values, so the rows can be fixed and imported again) or a
row merged into an earlier one with the same phone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import ImportBatch
from core.people import Actor, load_owned, require


def rejected_rows(batch: ImportBatch) -> Iterable[dict[str, Any]]:
    return (e for e in batch.errors or () if e.get("kind", "rejected") == "rejected")


def merged_rows(batch: ImportBatch) -> Iterable[dict[str, Any]]:
    return (e for e in batch.errors or () if e.get("kind") == "merged")


def rejected_csv(batch: ImportBatch) -> bytes:
    """The rejected rows as they were in the file, with row number and reason in front.

    Values are left as the user wrote them, so the file can be fixed and imported again.
    """
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    columns = list(batch.columns or [])
    writer.writerow(["row", "reason", *columns])
    for error in rejected_rows(batch):
        writer.writerow([error["row"], error["reason"], *error.get("values", [])])
    return buffer.getvalue().encode("utf-8-sig")


def batch_json(batch: ImportBatch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "filename": batch.filename,
        "status": batch.status,
        "created": batch.created_count,
        "updated": batch.updated_count,
        "unchanged": batch.unchanged_count,
        "merged": batch.merged_count,
        "rejected": batch.rejected_count,
        "message": batch.message,
        "errors": [{"row": e["row"], "reason": e["reason"]} for e in rejected_rows(batch)],
        "merged_rows": [{"row": e["row"], "reason": e["reason"]} for e in merged_rows(batch)],
    }


def get_batch(session: Session, actor: Actor, batch_id: int) -> ImportBatch:
    """An import report of the actor's account."""
    require(actor, "contacts.read")
    return load_owned(session, actor, ImportBatch, batch_id, "import")


def recent_batches(session: Session, actor: Actor, limit: int = 10) -> list[ImportBatch]:
    require(actor, "contacts.read")
    return list(
        session.scalars(
            select(ImportBatch)
            .where(ImportBatch.account_id == actor.account_id)
            .order_by(ImportBatch.id.desc())
            .limit(limit)
        )
    )
