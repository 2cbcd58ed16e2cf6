"""login throttles: failed logins under usernames nobody has

A made-up username now counts its failed logins and locks out like a real one, so the login's
answers never tell a real username from a made-up one. Rows untouched for a day are pruned.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 14:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import core.models.base

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'login_throttles',
        sa.Column('username', sa.String(length=100), nullable=False),
        sa.Column('failed_logins', sa.Integer(), nullable=False),
        sa.Column('locked_until', core.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('updated_at', core.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('username', name=op.f('pk_login_throttles')),
    )
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_login_throttles_updated_at'), ['updated_at'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('login_throttles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_throttles_updated_at'))
    op.drop_table('login_throttles')
