"""campaign list index: an account's campaigns in the list's order (newest first)

The API's and the UI's campaign list reads a page of an account's campaigns by `created_at`,
`id`: with this index the database reads that page from the index instead of sorting all of the
account's campaigns for each request (bench/api_reads.py).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 17:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.create_index(
            "ix_campaigns_account_id_created_at", ["account_id", "created_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_account_id_created_at")
