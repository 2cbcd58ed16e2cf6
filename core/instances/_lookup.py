"""Finding numbers: the account's list, one by id for an actor, several by id for the worker."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import SenderInstance
from core.people import Actor, load_owned, require


def list_instances(session: Session, actor: Actor) -> list[SenderInstance]:
    require(actor, "instances.read")
    return list(
        session.scalars(
            select(SenderInstance)
            .where(SenderInstance.account_id == actor.account_id)
            .order_by(SenderInstance.name)
        )
    )


def instances_by_ids(session: Session, instance_ids: list[int]) -> list[SenderInstance]:
    """The numbers with these ids, whatever their account (for the worker, which acts for all)."""
    if not instance_ids:
        return []
    return list(session.scalars(select(SenderInstance).where(SenderInstance.id.in_(instance_ids))))


def get_instance(session: Session, actor: Actor, instance_id: int) -> SenderInstance:
    require(actor, "instances.read")
    return load_owned(session, actor, SenderInstance, instance_id, "WhatsApp number")
