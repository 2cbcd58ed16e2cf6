"""tracked links: a short link per recipient and link, and the first click of each recipient

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 14:10:00
"""
from collections.abc import Sequence

import sqlalchemy as sa

import core.models.base
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('track_links', sa.Boolean(), server_default='0', nullable=False)
        )
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('clicked_at', core.models.base.UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        'tracked_links',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('code', sa.String(length=32), nullable=False),
        sa.Column('campaign_id', sa.Integer(), nullable=False),
        sa.Column('recipient_id', sa.Integer(), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('clicks', sa.Integer(), server_default='0', nullable=False),
        sa.Column('first_clicked_at', core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_clicked_at', core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('previews', sa.Integer(), server_default='0', nullable=False),
        sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(
            ['recipient_id'], ['campaign_recipients.id'], ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code'),
    )
    with op.batch_alter_table('tracked_links', schema=None) as batch_op:
        batch_op.create_index('ix_tracked_links_campaign_id', ['campaign_id'], unique=False)
        batch_op.create_index('ix_tracked_links_recipient_id', ['recipient_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tracked_links', schema=None) as batch_op:
        batch_op.drop_index('ix_tracked_links_recipient_id')
        batch_op.drop_index('ix_tracked_links_campaign_id')
    op.drop_table('tracked_links')
    with op.batch_alter_table('campaign_recipients', schema=None) as batch_op:
        batch_op.drop_column('clicked_at')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_column('track_links')
