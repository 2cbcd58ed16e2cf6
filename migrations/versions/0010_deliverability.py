"""deliverability: long pauses, warm-up, the number's age and its health on sender instances

A number may pause for a random few minutes after every N sends (`long_pause_*`, the count since
the last pause kept so a restart does not reset it), and follow a warm-up ladder of daily
allowances (`warmup`) by its age, counted from `number_since` or its first send here
(`first_sent_at`). The worker keeps each number's health score and explanation, and since when it
is paused for low health (`health_*`). A campaign may deliver in each recipient's own timezone
(`deliver_in_recipient_timezone`, the zone kept on each recipient). Existing numbers get no long pause and no warm-up: they behave as before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 14:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text  # noqa: F401
from sqlalchemy.dialects import postgresql

import core.models.base

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sender_instances', schema=None) as batch_op:
        batch_op.add_column(sa.Column('long_pause_every', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('long_pause_min_minutes', sa.Float(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('long_pause_max_minutes', sa.Float(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('sends_since_long_pause', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('warmup', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('number_since', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('first_sent_at', core.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('health_score', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('health_details', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('health_checked_at', core.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('health_paused_at', core.models.base.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(sa.Column('deliver_in_recipient_timezone', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('timezone', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.drop_column('timezone')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('deliver_in_recipient_timezone')
    with op.batch_alter_table('sender_instances', schema=None) as batch_op:
        batch_op.drop_column('health_paused_at')
        batch_op.drop_column('health_checked_at')
        batch_op.drop_column('health_details')
        batch_op.drop_column('health_score')
        batch_op.drop_column('first_sent_at')
        batch_op.drop_column('number_since')
        batch_op.drop_column('warmup')
        batch_op.drop_column('sends_since_long_pause')
        batch_op.drop_column('long_pause_max_minutes')
        batch_op.drop_column('long_pause_min_minutes')
        batch_op.drop_column('long_pause_every')
