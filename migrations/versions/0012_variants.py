"""variants: a campaign's A/B variants, its test share and decision, its holdout group

A campaign may carry 2-5 message variants with weights (`variants`), an A/B test (`ab_test`: the
share sent first, how long to wait, the metric) and a holdout share kept unsent; the decision is
kept on the campaign (`ab_winner`, `ab_decided_at`, `ab_decision`), and each recipient its
variant. Existing campaigns have none of these and behave as before.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401
from sqlalchemy.dialects import postgresql

import core.models.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variants", _JSON, nullable=True))
        batch_op.add_column(sa.Column("ab_test", _JSON, nullable=True))
        batch_op.add_column(sa.Column("holdout_share", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("ab_winner", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("ab_decided_at", core.models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("ab_decision", _JSON, nullable=True))
    with op.batch_alter_table("campaign_recipients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variant", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaign_recipients", schema=None) as batch_op:
        batch_op.drop_column("variant")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("ab_decision")
        batch_op.drop_column("ab_decided_at")
        batch_op.drop_column("ab_winner")
        batch_op.drop_column("holdout_share")
        batch_op.drop_column("ab_test")
        batch_op.drop_column("variants")
