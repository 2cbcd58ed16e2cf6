"""Plain builder functions for test data (no factory framework)."""

from __future__ import annotations

from itertools import count
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import crm, people
from core.models import Account, Contact, Label, Role
from core.people import Actor

_sequence = count(1)


def make_account(session: Session, name: str = "Shop", **fields: Any) -> Account:
    account = people.create_account(session, name, fields.pop("timezone", "UTC"))
    for key, value in fields.items():
        setattr(account, key, value)
    session.flush()
    return account


def make_actor(
    session: Session, account: Account, role: Role | str = Role.MANAGER, username: str | None = None
) -> Actor:
    role = Role(role)
    username = username or f"{role}{next(_sequence)}"
    user = people.create_user(session, username, "correct horse battery", account.id, role)
    session.flush()
    return Actor(user.id, account.id, role, username)


def label(session: Session, account: Account, name: str) -> Label:
    existing = session.scalar(
        select(Label).where(Label.account_id == account.id, Label.name == name)
    )
    if existing:
        return existing
    created = Label(account_id=account.id, name=name)
    session.add(created)
    session.flush()
    return created


def make_contact(
    session: Session,
    account: Account,
    phone: str | None = None,
    name: str | None = None,
    labels: list[str] = (),  # type: ignore[assignment]
    **attributes: Any,
) -> Contact:
    contact = Contact(
        account_id=account.id,
        phone=phone or f"+55119{next(_sequence):08d}",
        name=name,
        custom_attributes=dict(attributes),
    )
    contact.labels = [label(session, account, name) for name in labels]
    session.add(contact)
    session.flush()
    return contact


# -- API and webhooks (issue 6) --------------------------------------------------------------


def make_api_token(session: Session, actor: Actor) -> str:
    """An API token for the actor's user (the plain token, as its owner would see it once), minted
    as the operator does, so it works for any role."""
    return people.create_token(session, actor=None, name="test", user_id=actor.user_id)


def make_sender_instance(
    session: Session,
    account: Account,
    name: str | None = None,
    *,
    token: str = "evo-instance-token",
    webhook_secret: str | None = "webhook-secret-123",
    **fields: Any,
):  # -> SenderInstance
    """A sender instance with an encrypted token and webhook secret, inserted as a row."""
    from core.models import SenderInstance
    from core.people import encrypt_secret

    name = name or f"number-{next(_sequence)}"
    fields.setdefault("base_url", "http://127.0.0.1:9")
    fields.setdefault("instance_name", name)
    instance = SenderInstance(
        account_id=account.id,
        name=name,
        token_encrypted=encrypt_secret(token),
        webhook_secret_encrypted=encrypt_secret(webhook_secret) if webhook_secret else None,
        **fields,
    )
    session.add(instance)
    session.flush()
    return instance


def make_campaign_row(
    session: Session,
    account: Account,
    *,
    status: str = "running",
    instances: list[Any] = (),  # type: ignore[assignment]
    title: str = "Promo",
    **fields: Any,
):  # -> Campaign
    """A campaign inserted as a row, bypassing the campaign service (for receipts and metrics)."""
    from core.models import Campaign

    campaign = Campaign(
        account_id=account.id, title=title, message="Hi {{name}}", status=status, **fields
    )
    campaign.instances = list(instances)
    session.add(campaign)
    session.flush()
    return campaign


def make_recipient_row(
    session: Session,
    campaign: Any,
    *,
    contact: Contact | None = None,
    status: str = "sent",
    **fields: Any,
):  # -> CampaignRecipient
    from core.models import CampaignRecipient

    number = next(_sequence)
    fields.setdefault("phone", contact.phone if contact else f"+5511{number:09d}")
    fields.setdefault("rendered_text", "Hi")
    recipient = CampaignRecipient(
        campaign_id=campaign.id,
        contact_id=contact.id if contact else None,
        status=status,
        **fields,
    )
    session.add(recipient)
    session.flush()
    return recipient


def connect_fake_chatwoot(session: Session, actor: Actor, fake: Any) -> Any:
    """A new account on the fake Chatwoot (`tests.fake_chatwoot`), linked to the actor's account."""
    chatwoot_account = fake.add_account("Loja no Chatwoot")
    crm.connect_chatwoot(
        session,
        actor,
        {
            "base_url": fake.base_url,
            "chatwoot_account_id": chatwoot_account.id,
            "token": chatwoot_account.token,
        },
    )
    session.commit()
    return chatwoot_account
