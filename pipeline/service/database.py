"""The service's database: SQLAlchemy 2 tables, engine set-up and Alembic migrations.

SQLite (embedded, the default: DATA_DIR/hotline.db) and PostgreSQL (by URL) run the same schema; the
schema is created and upgraded only by the migrations in `pipeline/service/migrations/` (`migrate`), never by
`create_all`, so a deployment's database and the code agree on one revision.

Phone numbers live in `calls.caller_number` and inside the ticket JSON, which is the ticket itself;
they never go to logs.
"""

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from models import Ticket

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

CALL_STATUSES = ("live", "queued", "processing", "done", "failed")
"""live: audio still arriving (pipeline.service.repository.live); the others as for a pushed recording."""
TICKET_STATES = ("pending", "accepted")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both backends (SQLite keeps naive text: stored and read as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime: the database stores aware UTC times")
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class TicketJSON(TypeDecorator):
    """A `Ticket` in a JSON column, stored as its JSON form (`Ticket.to_dict()`) and read back as a `Ticket`: the
    one place where the service turns a stored ticket into the typed one, so no code reads it by string keys."""

    impl = JSON
    cache_ok = True
    # as JSON's own: a column left unset is SQL NULL (the extract phase claims on it), None set is JSON null
    should_evaluate_none = True

    def process_bind_param(self, value: Ticket | None, dialect):
        return None if value is None else value.to_dict()

    def process_result_value(self, value, dialect) -> Ticket | None:
        return None if value is None else Ticket.from_dict(value)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict] = {datetime: UtcDateTime(), dict: JSON, list: JSON}


class Call(Base):
    """One pushed recording and everything the pipeline and people made of it."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    priority: Mapped[str] = mapped_column(String(16))  # live | backlog
    caller_number: Mapped[str | None] = mapped_column(String(32))
    agent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # the operator team (班组) of the agent when the call was registered, kept so later key changes move no call
    team: Mapped[str | None] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime | None] = mapped_column(index=True)
    channel_map: Mapped[dict] = mapped_column(default=dict)
    pushed_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    recording_key: Mapped[str] = mapped_column(String(64))
    recording_size: Mapped[int] = mapped_column(BigInteger)
    content_type: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # processing
    stage: Mapped[str | None] = mapped_column(String(32))
    progress: Mapped[dict] = mapped_column(default=dict)
    timings: Mapped[dict] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    enqueued_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    processing_started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(String(64))
    audio_duration_s: Mapped[float | None] = mapped_column(Float)
    # results
    transcript: Mapped[dict | None] = mapped_column(JSON)
    ticket: Mapped[Ticket | None] = mapped_column(TicketJSON)  # the current ticket, corrections applied
    machine_ticket: Mapped[Ticket | None] = mapped_column(TicketJSON)  # as the extractor made it
    review: Mapped[str | None] = mapped_column(String(16), index=True)
    department: Mapped[str | None] = mapped_column(String(128), index=True)
    ticket_state: Mapped[str] = mapped_column(String(16), default="pending")
    accepted_by: Mapped[str | None] = mapped_column(String(64))
    accepted_at: Mapped[datetime | None]
    search_text: Mapped[str | None] = mapped_column(Text)  # transcript + summary, for text search
    audio_deleted_at: Mapped[datetime | None]
    # QA: the latest audit's score and time (null = not audited), for the QA page's list and filter
    audit_score: Mapped[float | None] = mapped_column(Float)
    audited_at: Mapped[datetime | None] = mapped_column(index=True)


class CallEvent(Base):
    """A call's state changes (queued, claimed, done, failed, requeued…): what happened when."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    event: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict] = mapped_column(default=dict)


class TicketChange(Base):
    """The audit trail of operator corrections and acceptances: who changed which field, when."""

    __tablename__ = "ticket_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(16))  # correct | accept
    changes: Mapped[dict] = mapped_column(default=dict)  # field → {"old": …, "new": …}


class Audit(Base):
    """A QA review of one call: marks on turns, rubric scores, automatic checks, total score."""

    __tablename__ = "audits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    score: Mapped[float] = mapped_column(Float)
    rubric: Mapped[dict] = mapped_column(default=dict)
    checks: Mapped[dict] = mapped_column(default=dict)
    marks: Mapped[list] = mapped_column(default=list)
    comment: Mapped[str | None] = mapped_column(Text)


class ApiKey(Base):
    """An API key: only its SHA-256 is stored (keys are 256-bit random tokens, so a fast hash suffices)."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    # telephony clients: where results are announced, and the secret that signs them (HMAC needs it raw)
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    webhook_secret: Mapped[str | None] = mapped_column(String(128))
    # operators: their agent id (工号) in the telephony system, so their pages show their own calls first
    agent_id: Mapped[str | None] = mapped_column(String(64))
    # operators: their team (班组); an operator works on the calls of their agent id and of their team
    team: Mapped[str | None] = mapped_column(String(64))


class LoginSession(Base):
    """A web page login (POST /v1/session): the cookie holds a random token, only its SHA-256 is kept here.
    It ends at `expires_at` (one shift), after the idle time since `last_seen_at`, when logged out
    (`revoked_at`), or when its key is revoked."""

    __tablename__ = "login_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """One announcement of a call's result to a client, retried until delivered or given up."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"))
    event: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2048))
    payload: Mapped[dict] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending|delivered|failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """The delivery log: every attempt, its HTTP status or error and how long it took."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float] = mapped_column(Float)
    delivered: Mapped[bool] = mapped_column(Boolean)


class TicketRecordRow(Base):
    """One ticket of the hotline's history (`models.TicketRecord`): a call's, written when its ticket is made, or
    an imported one. `index_terms` is what the full-text index holds for it (`extract.related.index_terms`,
    space-separated); the database keeps that index in step by itself (see FULL_TEXT_OBJECTS)."""

    __tablename__ = "ticket_records"
    __table_args__ = (UniqueConstraint("source", "ticket_id", name="uq_ticket_records_source_ticket"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(8))  # call | import
    created_at: Mapped[datetime] = mapped_column(index=True)
    text: Mapped[str] = mapped_column(Text)
    matter: Mapped[str] = mapped_column(String(256))
    district: Mapped[str] = mapped_column(String(32))
    place: Mapped[str] = mapped_column(String(128))
    department: Mapped[str] = mapped_column(String(128))
    # HMAC-SHA256 of the normalised caller number with the deployment's secret (pipeline.service.caller_keys)
    caller_key: Mapped[str] = mapped_column(String(64))
    index_terms: Mapped[str] = mapped_column(Text)


class TicketTerm(Base):
    """How many indexed tickets hold each term: the weights of `extract.related.similarity`, kept by the same
    transaction that adds a ticket. The row of the empty term counts the tickets themselves."""

    __tablename__ = "ticket_terms"

    term: Mapped[str] = mapped_column(String(16), primary_key=True)
    docs: Mapped[int] = mapped_column(BigInteger)


class TicketLink(Base):
    """An operator's decision about an earlier ticket shown as related to a call: linked (并单: one matter, one
    dispatch) or dismissed (not the same matter, not shown as a candidate again). Who and when are also in the
    call's `TicketChange` trail."""

    __tablename__ = "ticket_links"
    __table_args__ = (UniqueConstraint("call_id", "record_id", name="uq_ticket_links_call_record"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("ticket_records.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # link | dismiss
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


FULL_TEXT_OBJECTS = ("ticket_text_index", "index_vector", "ix_ticket_records_index_vector")
"""The full-text index of `ticket_records.index_terms`, made by migration 0005 and not by the models (each
database has its own kind): SQLite, the FTS5 table `ticket_text_index` (contentless: it stores the postings, not
the text) filled by triggers on `ticket_records`, its row id the ticket's day in the high 32 bits and the
record's id in the low ones, so a time window is a row-id range FTS5 seeks to; PostgreSQL, the generated
tsvector column `index_vector` and its GIN index, next to the btree on `created_at`."""

Index("ix_calls_status_enqueued", Call.status, Call.enqueued_at)
Index("ix_ticket_records_caller", TicketRecordRow.caller_key, TicketRecordRow.created_at)
Index("ix_ticket_records_place", TicketRecordRow.place, TicketRecordRow.district, TicketRecordRow.created_at)


def create_db_engine(url: str) -> Engine:
    """An engine for SQLite or PostgreSQL with the settings the service needs on each. Statement parameters are
    hidden from SQLAlchemy's errors and logs: they hold callers' numbers and transcripts, and an error's text
    ends up in the server log."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(connection, _record):
            # WAL: the API reads while a worker writes; foreign keys are off by default in SQLite
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def make_sessions(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` with Alembic (idempotent; safe to call at every start-up)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # API and workers may start together: one migrates, the others wait for it
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727001)")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    logger.info("database schema at %s", revision)
