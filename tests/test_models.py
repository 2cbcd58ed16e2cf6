"""Constraints the data model guarantees, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.models import (
    ApiToken,
    AuditLog,
    Campaign,
    CampaignRecipient,
    Contact,
    Label,
    Membership,
    SenderInstance,
    User,
)
from tests.builders import make_account, make_actor, make_contact


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request) -> Session:
    engine = request.getfixturevalue("engine" if request.param == "sqlite" else "pg_engine")
    with Session(engine, expire_on_commit=False) as session:
        yield session


def test_a_phone_is_unique_within_an_account_but_not_across_accounts(db):
    a, b = make_account(db, "A"), make_account(db, "B")
    make_contact(db, a, "+5511911112222")
    make_contact(db, b, "+5511911112222")
    db.commit()

    with pytest.raises(IntegrityError):
        make_contact(db, a, "+5511911112222")
    db.rollback()


def test_a_contact_is_a_recipient_of_a_campaign_only_once(db):
    account = make_account(db, "A")
    contact = make_contact(db, account)
    campaign = Campaign(account_id=account.id, title="T", message="M", audience={})
    db.add(campaign)
    db.flush()

    def recipient() -> CampaignRecipient:
        return CampaignRecipient(
            campaign_id=campaign.id, contact_id=contact.id, phone=contact.phone, rendered_text="M"
        )

    db.add(recipient())
    db.commit()
    db.add(recipient())
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()


def test_deleting_an_account_deletes_everything_that_belongs_to_it(db):
    gone, kept = make_account(db, "Gone"), make_account(db, "Kept")
    for account in (gone, kept):
        actor = make_actor(db, account, "admin")
        contact = make_contact(db, account, labels=["vip"])
        campaign = Campaign(account_id=account.id, title="T", message="M", audience={})
        db.add_all(
            [
                campaign,
                SenderInstance(
                    account_id=account.id,
                    name="n",
                    base_url="http://e",
                    instance_name="i",
                    token_encrypted="x",
                ),
                AuditLog(
                    account_id=account.id,
                    user_id=actor.user_id,
                    actor="a",
                    action="x",
                    object_type="y",
                ),
            ]
        )
        db.flush()
        db.add(
            CampaignRecipient(
                campaign_id=campaign.id,
                contact_id=contact.id,
                phone=contact.phone,
                rendered_text="M",
            )
        )
    db.commit()

    db.delete(db.get(type(gone), gone.id))
    db.commit()
    db.expire_all()

    for model in (Contact, Label, Campaign, SenderInstance, AuditLog, Membership):
        owners = set(db.scalars(select(model.account_id)))
        assert owners == {kept.id}, model.__name__
    assert db.scalar(select(func.count()).select_from(CampaignRecipient)) == 1
    # Users are people, not account data: they stay (with no membership) for the operator.
    assert db.scalar(select(func.count()).select_from(User)) == 2


def test_deleting_a_user_deletes_their_tokens_and_memberships(db):
    account = make_account(db, "A")
    actor = make_actor(db, account, "manager")
    db.add(ApiToken(user_id=actor.user_id, token_hash="h" * 64, prefix="wac_x"))
    db.commit()

    db.delete(db.get(User, actor.user_id))
    db.commit()

    assert db.scalar(select(func.count()).select_from(ApiToken)) == 0
    assert db.scalar(select(func.count()).select_from(Membership)) == 0
