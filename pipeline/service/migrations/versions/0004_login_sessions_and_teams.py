"""Server-side login sessions for the web pages (the cookie no longer holds the key), and operator teams (班组)
on keys and calls, which scope what an operator may see.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("login_sessions") as batch:
        batch.create_index("ix_login_sessions_key_id", ["key_id"])
        batch.create_index("ix_login_sessions_expires_at", ["expires_at"])
    with op.batch_alter_table("api_keys") as batch:  # batch: SQLite cannot alter tables in place
        batch.add_column(sa.Column("team", sa.String(length=64), nullable=True))
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("team", sa.String(length=64), nullable=True))
        batch.create_index("ix_calls_team", ["team"])
    # Calls registered before teams existed have none (their agent and QA still see them); nothing to carry over.


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_index("ix_calls_team")
        batch.drop_column("team")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("team")
    op.drop_table("login_sessions")
