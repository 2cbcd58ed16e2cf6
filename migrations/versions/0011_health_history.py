"""health history: the warm-up's kept position and each number's health over time

The warm-up ladder's step no longer follows the number's age alone: once a local day the worker
judges the day's health and advances, holds or steps back (`warmup_step`, `warmup_step_on`,
`warmup_judgement` on sender instances; NULL until first judged, when the age gives the step).
`instance_health_samples` keeps each number's score over time (pruned after 30 days).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401
from sqlalchemy.dialects import postgresql

import core.models.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sender_instances", schema=None) as batch_op:
        batch_op.add_column(sa.Column("warmup_step", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("warmup_step_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "warmup_judgement",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
                nullable=True,
            )
        )
    op.create_table(
        "instance_health_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("at", core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("worst", sa.String(length=40), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["sender_instances.id"],
            name=op.f("fk_instance_health_samples_instance_id_sender_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance_health_samples")),
    )
    with op.batch_alter_table("instance_health_samples", schema=None) as batch_op:
        batch_op.create_index(
            "ix_instance_health_samples_instance_at", ["instance_id", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("instance_health_samples", schema=None) as batch_op:
        batch_op.drop_index("ix_instance_health_samples_instance_at")
    op.drop_table("instance_health_samples")
    with op.batch_alter_table("sender_instances", schema=None) as batch_op:
        batch_op.drop_column("warmup_judgement")
        batch_op.drop_column("warmup_step_on")
        batch_op.drop_column("warmup_step")
