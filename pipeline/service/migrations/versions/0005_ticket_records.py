"""Ticket records (a call's ticket, or an imported one) with their full-text index, their term counts, and the
operators' links between calls and earlier tickets (并单).

The full-text index differs by database (pipeline.service.database.FULL_TEXT_OBJECTS): SQLite's FTS5 table kept
in step by triggers, PostgreSQL's generated tsvector column with a GIN index.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The FTS5 row id: the ticket's day (whole Julian days) in the high 32 bits, the record id in the low ones
_SQLITE_ROWID = "((CAST(julianday({row}.created_at) AS INTEGER) << 32) | {row}.id)"


def upgrade() -> None:
    op.create_table(
        "ticket_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("matter", sa.String(length=256), nullable=False),
        sa.Column("district", sa.String(length=32), nullable=False),
        sa.Column("place", sa.String(length=128), nullable=False),
        sa.Column("department", sa.String(length=128), nullable=False),
        sa.Column("caller_key", sa.String(length=64), nullable=False),
        sa.Column("index_terms", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "ticket_id", name="uq_ticket_records_source_ticket"),
    )
    with op.batch_alter_table("ticket_records") as batch:
        batch.create_index("ix_ticket_records_created_at", ["created_at"])
        batch.create_index("ix_ticket_records_caller", ["caller_key", "created_at"])
        batch.create_index("ix_ticket_records_place", ["place", "district", "created_at"])
    op.create_table(
        "ticket_terms",
        sa.Column("term", sa.String(length=16), nullable=False),
        sa.Column("docs", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("term"),
    )
    op.create_table(
        "ticket_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("call_id", sa.String(length=128), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["record_id"], ["ticket_records.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_id", "record_id", name="uq_ticket_links_call_record"),
    )
    with op.batch_alter_table("ticket_links") as batch:
        batch.create_index("ix_ticket_links_call_id", ["call_id"])
        batch.create_index("ix_ticket_links_record_id", ["record_id"])
    if op.get_bind().dialect.name == "postgresql":
        # array_to_tsvector: the terms are the lexemes as they are (no parser, no stemming, any script)
        op.execute(
            "ALTER TABLE ticket_records ADD COLUMN index_vector tsvector "
            "GENERATED ALWAYS AS (array_to_tsvector(string_to_array(index_terms, ' '))) STORED"
        )
        op.execute("CREATE INDEX ix_ticket_records_index_vector ON ticket_records USING gin (index_vector)")
    else:
        op.execute("CREATE VIRTUAL TABLE ticket_text_index USING fts5(terms, content='', tokenize='unicode61')")
        new, old = _SQLITE_ROWID.format(row="new"), _SQLITE_ROWID.format(row="old")
        op.execute(
            "CREATE TRIGGER ticket_records_indexed AFTER INSERT ON ticket_records BEGIN "
            f"INSERT INTO ticket_text_index(rowid, terms) VALUES ({new}, new.index_terms); END"
        )
        op.execute(
            "CREATE TRIGGER ticket_records_unindexed AFTER DELETE ON ticket_records BEGIN "
            f"INSERT INTO ticket_text_index(ticket_text_index, rowid, terms) VALUES ('delete', {old}, old.index_terms);"
            " END"
        )
        op.execute(
            "CREATE TRIGGER ticket_records_reindexed AFTER UPDATE OF index_terms, created_at ON ticket_records BEGIN "
            f"INSERT INTO ticket_text_index(ticket_text_index, rowid, terms) VALUES ('delete', {old}, old.index_terms);"
            f" INSERT INTO ticket_text_index(rowid, terms) VALUES ({new}, new.index_terms); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("ticket_records_indexed", "ticket_records_unindexed", "ticket_records_reindexed"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS ticket_text_index")
    op.drop_table("ticket_links")
    op.drop_table("ticket_terms")
    op.drop_table("ticket_records")
