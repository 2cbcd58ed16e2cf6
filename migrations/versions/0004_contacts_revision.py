"""a revision of each account's contacts, bumped by every write to them

The audience cache compared (count, latest updated_at, max id) of the contacts; a write that
commits after a later-stamped one (an import stamped at its start, an edit during it) left those
unchanged, and the audience was read from a stale cache. A counter bumped inside each writing
transaction moves in commit order.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 14:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('contacts_revision', sa.BigInteger(), server_default='0', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('contacts_revision')
