"""The Alembic migrations build exactly the schema the SQLAlchemy models declare, on SQLite and PostgreSQL,
and run again without effect (every process migrates at start-up)."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from service_builders import database_url

from pipeline.service.database import FULL_TEXT_OBJECTS, Base, create_db_engine, migrate


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_match_the_models(backend, tmp_path):
    with database_url(backend, tmp_path) as url:
        engine = create_db_engine(url)
        try:
            migrate(engine)
            migrate(engine)  # idempotent
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": False})
                differences = compare_metadata(context, Base.metadata)
            differences = [
                item
                for item in differences
                if (item[0] != "remove_table" or item[1].name != "alembic_version") and not _full_text_index(item)
            ]
            assert differences == [], differences
        finally:
            engine.dispose()


def _full_text_index(difference: tuple) -> bool:
    """The full-text index each database builds its own way (FTS5 and its shadow tables; the tsvector column and
    its GIN index), made by the migration and not by the models."""
    kind, *rest = difference
    if kind == "remove_table":
        name = rest[0].name
    elif kind == "remove_column":
        name = rest[-1].name
    elif kind == "remove_index":
        name = rest[0].name
    else:
        return False
    return any(name == prefix or name.startswith(f"{prefix}_") for prefix in FULL_TEXT_OBJECTS)


def test_an_older_database_is_upgraded_with_its_audits_carried_over(tmp_path):
    from sqlalchemy import text

    with database_url("sqlite", tmp_path) as url:
        engine = create_db_engine(url)
        try:
            migrate(engine, "0001")
            with engine.begin() as connection:
                connection.execute(
                    text(
                        "INSERT INTO calls (id, status, priority, channel_map, recording_key, recording_size, "
                        "created_at, updated_at, progress, timings, attempts, ticket_state) VALUES "
                        "('old-1', 'done', 'live', '{}', 'k', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00', "
                        "'{}', '{}', 1, 'pending')"
                    )
                )
                for score, at in ((60, "2026-01-02 00:00:00"), (90, "2026-01-03 00:00:00")):
                    connection.execute(
                        text(
                            "INSERT INTO audits (call_id, actor, at, score, rubric, checks, marks) "
                            "VALUES ('old-1', 'qa', :at, :score, '{}', '{}', '[]')"
                        ),
                        {"at": at, "score": score},
                    )
            migrate(engine)
            with engine.connect() as connection:
                row = connection.execute(text("SELECT audit_score, audited_at FROM calls WHERE id = 'old-1'")).one()
            assert row[0] == 90 and str(row[1]).startswith("2026-01-03")
        finally:
            engine.dispose()
