"""Calls carry their latest QA audit (score, time), so QA can list and filter audited calls.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:  # batch: SQLite cannot alter tables in place
        batch.add_column(sa.Column("audit_score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("audited_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_calls_audited_at", ["audited_at"])
    # calls audited before this revision
    op.execute(
        """
        UPDATE calls SET
            audited_at = (SELECT max(audits.at) FROM audits WHERE audits.call_id = calls.id),
            audit_score = (SELECT audits.score FROM audits WHERE audits.call_id = calls.id
                           ORDER BY audits.id DESC LIMIT 1)
        WHERE EXISTS (SELECT 1 FROM audits WHERE audits.call_id = calls.id)
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_audited_at")
        batch.drop_column("audited_at")
        batch.drop_column("audit_score")
