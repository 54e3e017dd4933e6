"""Live calls in the database: the same `calls` row as a pushed call, with one more status before the others.

    live ──save_live_transcript / save_live_ticket (as turns land)──► live ──finish_live──► done | failed

A live call is registered when its first frame arrives (`register_live`), so it is in the operator's queue at once;
while it is live its transcript and ticket grow (written only while the status is `live`); at the end entry the
worker stores the assembled recording and finishes it like a batch call (`finish_live`: transcript, ticket, the
`done` or `failed` event and the webhook outbox row in one transaction). Until then its recording is the empty one
(`EMPTY_RECORDING`: no audio has been stored yet; the API says the audio is not ready). Operators correct the
ticket once the call is done (`Reviews.update_ticket` takes done calls only), so a live update never overwrites a
person's edit.
"""

import copy
import hashlib
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from extract.review import CORRECTED, review_again
from models import CallConflictError, Ticket, top_department
from pipeline.service.database import Call, CallEvent, utcnow
from pipeline.service.recordings import StoredRecording
from pipeline.service.repository.calls import NewCall, team_of
from pipeline.service.repository.search import search_text

EMPTY_RECORDING = StoredRecording(hashlib.sha256(b"").hexdigest(), 0)
"""A live call's recording until it ends: nothing stored yet."""


@dataclass(frozen=True)
class Refinement:
    """What `refine_live` did. ticket: the call's ticket now (the refined machine values where nobody had
    corrected them); kept: the fields (and `department`) whose human value stayed although the full-call pass
    says otherwise; accepted: the ticket was already accepted, so it was left whole."""

    ticket: Ticket | None
    kept: list[str]
    accepted: bool


class LiveCalls:
    """Registration and results of live calls (`CallRepository`'s part for the live endpoint and workers)."""

    sessions: sessionmaker

    def register_live(self, new: NewCall, pushed_by: int | None) -> tuple[Call, bool]:
        """Insert a live call; (call, True). The same id, live and started by the same key: (existing, False), a
        start that reached the database before a dropped connection. Any other existing call with the id:
        CallConflictError, saying nothing of that call."""
        try:
            with self.sessions.begin() as session:
                if session.get(Call, new.call_id) is None:
                    now = utcnow()
                    call = Call(
                        id=new.call_id,
                        status="live",
                        priority="live",
                        caller_number=new.caller_number,
                        agent_id=new.agent_id,
                        team=team_of(session, new.agent_id),
                        started_at=new.started_at or now,
                        channel_map=new.channel_map,
                        pushed_by=pushed_by,
                        recording_key=EMPTY_RECORDING.key,
                        recording_size=EMPTY_RECORDING.size,
                        content_type=None,
                        created_at=now,
                        updated_at=now,
                        progress={},
                        timings={},
                        attempts=0,
                        ticket_state="pending",
                    )
                    session.add(call)
                    session.add(CallEvent(call_id=new.call_id, event="live", detail={}))
                    return call, True
        except IntegrityError:
            pass  # started twice at the same moment: the other connection inserted it
        with self.sessions() as session:
            existing = session.get(Call, new.call_id)
            if existing is None or existing.pushed_by is None or existing.pushed_by != pushed_by:
                raise CallConflictError(f"call id {new.call_id} is already in use")
            if existing.status != "live":
                raise CallConflictError(f"call {new.call_id} has already ended")
            return existing, False

    def save_live_transcript(self, call_id: str, transcript: dict, duration_s: float) -> bool:
        """The live call's transcript so far (all its turns); False once the call is no longer live."""
        now = utcnow()
        with self.sessions.begin() as session:
            call = session.get(Call, call_id)
            if call is None or call.status != "live":
                return False
            call.transcript = transcript
            call.audio_duration_s = duration_s
            call.search_text = search_text(transcript, call.ticket)
            call.updated_at = now
            return True

    def save_live_ticket(self, call_id: str, ticket: Ticket) -> bool:
        """The ticket extracted from the live transcript so far; False once the call is no longer live."""
        with self.sessions.begin() as session:
            call = session.get(Call, call_id)
            if call is None or call.status != "live":
                return False
            call.ticket = ticket
            call.machine_ticket = ticket
            call.review = ticket.review
            call.department = top_department(ticket)
            call.search_text = search_text(call.transcript, ticket)
            call.updated_at = utcnow()
            return True

    def refine_live(
        self, call_id: str, transcript: dict, duration_s: float, machine: Ticket | None
    ) -> Refinement | None:
        """A finished live call's transcript and machine ticket replaced by the full-call pass's (docs/LIVE.md).

        The call's ticket takes the refined values field by field, except where a person decided: a field an
        operator corrected (source `corrected`) and a unit an operator picked (`ticket.department`) stay, and are
        listed in `kept` when the refinement says otherwise; an accepted ticket stays whole. None when the call is
        not done (failed, deleted) or has been refined already."""
        now = utcnow()
        with self.sessions.begin() as session:
            call = session.get(Call, call_id, with_for_update=True)
            if call is None or call.status != "done" or (call.transcript or {}).get("metadata", {}).get("refined"):
                return None
            current, kept, accepted = call.ticket, [], call.ticket_state == "accepted"
            ticket = current
            if machine is not None and current is not None and not accepted:
                ticket = copy.deepcopy(machine)
                for name, field in current.fields.items():
                    if field.source == CORRECTED:
                        if ticket.fields.get(name) is None or ticket.fields[name].value != field.value:
                            kept.append(name)
                        ticket.fields[name] = field
                if current.department is not None:
                    if top_department(machine) != current.department:
                        kept.append("department")
                    ticket.department = current.department
                if kept:
                    review_again(ticket)
            elif machine is not None and current is None:
                ticket = machine
            elif accepted and machine is not None and current is not None:
                kept = [name for name, field in current.fields.items() if machine.value(name) != field.value]
            call.transcript = transcript
            call.audio_duration_s = duration_s
            call.machine_ticket = machine if machine is not None else call.machine_ticket
            if ticket is not current:
                call.ticket = ticket
                call.review = ticket.review if ticket else None
                if ticket is not None and ticket.department is None:
                    call.department = top_department(ticket)
            call.search_text = search_text(transcript, call.ticket)
            call.updated_at = now
            session.add(CallEvent(call_id=call_id, event="refined", detail={"kept": kept, "accepted": accepted}))
            return Refinement(call.ticket, kept, accepted)

    def finish_live(
        self,
        call_id: str,
        recording: StoredRecording,
        content_type: str,
        transcript: dict,
        duration_s: float,
        ticket: Ticket | None,
        timings: dict,
        failure: tuple[str, str] | None = None,
    ) -> list[str]:
        """The live call has ended: its recording, final transcript and ticket stored, done (or failed with
        `failure` = (kind, message), e.g. no speech), the webhook queued in the same transaction. Returns the new
        delivery ids; [] when the call was no longer live (another worker finished it)."""
        now = utcnow()
        status = "failed" if failure else "done"
        with self.sessions.begin() as session:
            call = session.get(Call, call_id)
            if call is None or call.status != "live":
                return []
            values = {
                "status": status,
                "stage": None,
                "progress": {},
                "recording_key": recording.key,
                "recording_size": recording.size,
                "content_type": content_type,
                "transcript": transcript,
                "audio_duration_s": duration_s,
                "timings": {**(call.timings or {}), **timings},
                "search_text": search_text(transcript, ticket),
                "finished_at": now,
                "updated_at": now,
            }
            if failure:
                values.update(error_kind=failure[0], error=failure[1])
            else:
                values.update(
                    ticket=ticket,
                    machine_ticket=ticket,
                    review=ticket.review if ticket else None,
                    department=top_department(ticket),
                )
            done = session.execute(update(Call).where(Call.id == call_id, Call.status == "live").values(**values))
            if not done.rowcount:
                return []
            session.add(CallEvent(call_id=call_id, event="transcribed", detail={"live": True}))
            detail = {"kind": failure[0]} if failure else {}
            session.add(CallEvent(call_id=call_id, event=status, detail=detail))
            return self._queue_webhook(session, call, status)
