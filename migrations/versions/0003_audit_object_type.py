"""one audit object type for a WhatsApp number: "instance"

Staff's changes to a number were audited as "sender_instance" and Evolution's connection
changes as "instance"; the audit log's filter showed the same thing twice. Both are "instance".

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE audit_log SET object_type = 'instance' WHERE object_type = 'sender_instance'")


def downgrade() -> None:
    # Which rows were "sender_instance" is not kept: the merge is one-way, and harmless to keep.
    pass
