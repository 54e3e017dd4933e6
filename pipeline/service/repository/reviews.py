"""Operators' reviews: ticket corrections and acceptance (the machine ticket kept; each change a `TicketChange`).

The call's ticket record (related-ticket search, reports) is made again from the corrected ticket in the same
transaction, by the same `TicketRecorder` rule as when the call finished: what the operator settled on is what
the next repeat is compared with, on both databases.
"""

import copy
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import defer, sessionmaker

from extract.review import CORRECTED, review_again
from models import CallConflictError, CallNotFoundError, CallTranscript, TicketField, TranscriptFormatError
from pipeline.service.database import (
    Call,
    TicketChange,
    TicketRecordRow,
    utcnow,
)
from pipeline.service.repository.calls import call_meta
from pipeline.service.repository.search import search_text
from pipeline.service.ticket_records import TicketRecorder

logger = logging.getLogger(__name__)


class Reviews:
    """Ticket corrections and acceptance, and the accepted tickets for training."""

    sessions: sessionmaker

    def update_ticket(
        self,
        call_id: str,
        actor: str,
        changes: dict[str, str | None],
        accept: bool,
        recorder: TicketRecorder | None = None,
    ) -> Call:
        """Apply an operator's corrections (field → new value; `department` picks the unit) and/or accept.
        Each change is stored with who and when; the machine's ticket is kept unchanged. What still needs checking
        (`review_reasons`) is judged again on the corrected ticket, so a corrected field leaves the list.
        With `recorder` (the deployment's: its caller keys' secret and city) the call's ticket record is made again
        from the corrected ticket (text and its index terms, place, caller key, matter, unit); without it, only
        the record's unit and matter follow."""
        with self.sessions.begin() as session:
            call = session.get(Call, call_id, with_for_update=True)
            if call is None:
                raise CallNotFoundError(f"no call {call_id}")
            if call.status != "done" or call.ticket is None:
                raise CallConflictError(f"call {call_id} has no ticket yet (status {call.status})")
            ticket = copy.deepcopy(call.ticket)
            recorded: dict = {}
            for name, value in changes.items():
                if name == "department":
                    old = call.department
                    if old != value:
                        call.department = value
                        ticket.department = value
                        recorded[name] = {"old": old, "new": value}
                    continue
                field = ticket.fields.get(name) or TicketField()
                old = field.value
                if old == value:
                    continue
                ticket.fields[name] = replace(
                    field,
                    value=value,
                    confidence=1.0,
                    source=CORRECTED,  # by the operator, after the machine (not "operator": said by them)
                    evidence=field.evidence if value is not None else [],
                )
                recorded[name] = {"old": old, "new": value}
            now = utcnow()
            if recorded:
                review_again(ticket)
                call.ticket = ticket
                session.add(TicketChange(call_id=call_id, actor=actor, at=now, action="correct", changes=recorded))
            if accept and call.ticket_state != "accepted":
                call.ticket_state = "accepted"
                call.accepted_by = actor
                call.accepted_at = now
                session.add(TicketChange(call_id=call_id, actor=actor, at=now, action="accept", changes={}))
                if ticket.department is None and call.department is not None:
                    # accepting confirms the unit the ticket suggested first: it needs no more checking
                    ticket.department = call.department
                    review_again(ticket)
                    call.ticket = ticket
            call.search_text = search_text(call.transcript, call.ticket)
            call.updated_at = now
            if recorder is not None:
                record = recorder.for_call(call_meta(call), call.ticket, _stored_transcript(call), call.created_at)
                # the unit the operator settled on (or a link shared), not the ticket's first suggestion
                self._put_record(session, replace(record, department=call.department or ""))
            else:
                session.execute(
                    update(TicketRecordRow)
                    .where(TicketRecordRow.source == "call", TicketRecordRow.ticket_id == call_id)
                    .values(
                        department=(call.department or "")[:128],
                        matter=((call.ticket.value("category") if call.ticket else None) or "")[:256],
                    )
                )
            return call

    def ticket_changes(self, call_id: str | None = None, since: datetime | None = None) -> list[TicketChange]:
        with self.sessions() as session:
            query = select(TicketChange).order_by(TicketChange.id)
            if call_id is not None:
                query = query.where(TicketChange.call_id == call_id)
            if since is not None:
                query = query.where(TicketChange.at >= since)
            return list(session.scalars(query))

    def accepted_calls(
        self, since: datetime | None = None, until: datetime | None = None, limit: int | None = None
    ) -> Iterator[Call]:
        """Calls whose ticket an operator accepted (in [since, until) by acceptance time), oldest first, at most
        `limit`, read in batches without their transcripts: an export of a year of tickets stays small in memory."""
        statement = (
            select(Call)
            .options(defer(Call.transcript), defer(Call.search_text))
            .where(Call.ticket_state == "accepted")
            .order_by(Call.accepted_at, Call.id)
            .execution_options(yield_per=500)
        )
        if since is not None:
            statement = statement.where(Call.accepted_at >= since)
        if until is not None:
            statement = statement.where(Call.accepted_at < until)
        if limit is not None:  # in the query: a stream cut short would leave PostgreSQL's cursor open
            statement = statement.limit(limit)
        with self.sessions() as session:
            yield from session.scalars(statement)


def _stored_transcript(call: Call) -> CallTranscript | None:
    """The call's stored transcript, for its ticket record; None where there is none or it does not parse (a
    transcript stored by an older or foreign writer must not make the operator's correction fail: the record is
    then made from the ticket alone)."""
    if not call.transcript:
        return None
    try:
        return CallTranscript.from_dict(call.transcript)
    except TranscriptFormatError:
        # not the error's text: it may quote the transcript
        logger.warning("call %s: stored transcript unreadable; its ticket record is made from the ticket", call.id)
        return None
