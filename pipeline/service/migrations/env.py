"""Alembic environment: runs on the connection `pipeline.service.database.migrate` hands over."""

from alembic import context

from pipeline.service.database import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through pipeline.service.database.migrate (or `hotline db upgrade`)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
