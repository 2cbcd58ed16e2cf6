"""each person's last import country, offered in their next import

An account made by `make run` had no default country, and the import's country box forgot what was
typed in it: a second import of a file of local numbers rejected them all. The country a person
chose is now kept on their membership (per account), and offered first next time. Existing
accounts are untouched: their default country (if any) is still the fallback.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 15:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.add_column(sa.Column('import_country', sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('memberships', schema=None) as batch_op:
        batch_op.drop_column('import_country')
