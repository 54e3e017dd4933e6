"""Searching calls: the filters (`CallQuery`) and the text a call is searched by."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.orm import sessionmaker

from models import Ticket, top_department
from pipeline.service.database import (
    Call,
)
from pipeline.service.repository.scope import CallScope


def call_time():
    """The time a call is dated by in every date filter: when it started (what the pages show), or when it was
    received if the telephony system pushed no start time."""
    return func.coalesce(Call.started_at, Call.created_at)


@dataclass(frozen=True)
class CallQuery:
    """Search filters for `CallRepository.search`; every filter is optional. `since` and `until` bound the
    calls' `call_time` to [since, until)."""

    text: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    agent_id: str | None = None
    department: str | None = None
    status: str | None = None
    review: str | None = None
    ticket_state: str | None = None
    audited: bool | None = None
    limit: int = 50
    offset: int = 0


class Search:
    """Calls matching a query, within a caller's scope, newest first."""

    sessions: sessionmaker

    def search(self, query: CallQuery, scope: CallScope) -> tuple[list[Call], int]:
        """Calls in `scope` matching every given filter, newest first, and the total count. Text matches any
        substring of the transcript, summary and department (Chinese has no word boundaries to index on)."""
        statement = _filtered(select(Call), query).where(scope.clause())
        with self.sessions() as session:
            total = session.scalar(_filtered(select(func.count(Call.id)), query).where(scope.clause())) or 0
            rows = session.scalars(
                statement.order_by(Call.created_at.desc(), Call.id).limit(query.limit).offset(query.offset)
            ).all()
            return list(rows), total


def search_text(transcript: dict | None, ticket: Ticket | None) -> str:
    """What text search looks through: the turns, the summary and the chosen department."""
    parts = [turn.get("text", "") for turn in (transcript or {}).get("turns", [])]
    if ticket is not None:
        summary = ticket.fields.get("summary")
        if summary is not None and summary.value:
            parts.append(summary.value)
        department = ticket.department or top_department(ticket)
        if department:
            parts.append(department)
    return "\n".join(parts)


def _filtered(statement: Select, query: CallQuery) -> Select:
    if query.text:
        escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(Call.search_text.like(f"%{escaped}%", escape="\\"))
    if query.since is not None:
        statement = statement.where(call_time() >= query.since)
    if query.until is not None:
        statement = statement.where(call_time() < query.until)
    for column, value in (
        (Call.agent_id, query.agent_id),
        (Call.department, query.department),
        (Call.status, query.status),
        (Call.review, query.review),
        (Call.ticket_state, query.ticket_state),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if query.audited is not None:
        statement = statement.where(Call.audited_at.is_not(None) if query.audited else Call.audited_at.is_(None))
    return statement
