"""A call's way through the service: registration and the processing state machine (claims, leases, results).

State machine (one row per call id):

    queued ──claim(transcribe)──► processing ──save_transcript──► processing (transcript saved)
                                      │                                 │
                                      │                       claim(extract) ──finish──► done
                                      └──────────── fail ─────────────────────────────► failed

A claim is a conditional UPDATE that also takes a lease (`lease_until`) and counts an attempt of the phase
(`attempts`, back to 0 when the transcript is saved: the tries of the current phase, 1 when it ran first time);
a second copy of a task finds the lease held, or the phase already done, and does nothing. A worker that dies
leaves an expired lease: the redelivered task (or the sweeper's re-enqueue) claims again. `finish` and `fail`
only move a call out of `processing`, so a result is written once whatever the number of deliveries.

Every read the API makes for a caller goes through a `CallScope` (`visible`, `search`, `agent_summary`):
a call outside it is not found, exactly like a call that does not exist. The scope of each role is decided
in `pipeline.service.keys.Principal.scope`; a call's `team` is fixed when it is registered (`register`).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from models import CallConflictError, CallMeta, CallNotFoundError, Ticket, top_department
from models.ticket_record import TicketRecord
from pipeline.service.database import (
    ApiKey,
    Call,
    CallEvent,
    utcnow,
)
from pipeline.service.recordings import StoredRecording
from pipeline.service.repository.scope import CallScope
from pipeline.service.repository.search import search_text


def call_meta(call: Call) -> CallMeta:
    """What the telephony system said about a stored call, as the pipeline and the ticket records take it."""
    return CallMeta(
        call_id=call.id,
        caller_number=call.caller_number,
        agent_id=call.agent_id,
        started_at=call.started_at,
        channel_map=dict(call.channel_map or {}),
    )


class Phase(StrEnum):
    """A call's two processing phases, in order. The value is what the `stage` column, the call events and the
    queues' messages say; a plain string with that value is the same phase."""

    TRANSCRIBE = "transcribe"
    EXTRACT = "extract"


@dataclass(frozen=True)
class NewCall:
    """What the telephony system pushed with a recording (already validated)."""

    call_id: str
    caller_number: str | None
    agent_id: str | None
    started_at: datetime | None
    channel_map: dict[str, str]
    priority: str  # live | backlog
    content_type: str | None


def team_of(session: Session, agent_id: str | None) -> str | None:
    """The team of the active operator key with this agent id (the newest such key): a call's team, fixed when it
    is registered."""
    if not agent_id:
        return None
    return session.scalar(
        select(ApiKey.team)
        .where(
            ApiKey.role == "operator",
            ApiKey.agent_id == agent_id,
            ApiKey.team.is_not(None),
            ApiKey.revoked_at.is_(None),
        )
        .order_by(ApiKey.id.desc())
        .limit(1)
    )


class CallLifecycle:
    """Registration, claims and leases, results, failures (`CallRepository`'s part for the workers)."""

    sessions: sessionmaker

    def register(self, new: NewCall, recording: StoredRecording, pushed_by: int | None) -> tuple[Call, bool]:
        """Insert a queued call; (call, True). The same id with the same recording from the same key: (existing,
        False). The same id with another recording, or pushed by another key: CallConflictError, which says
        nothing of the other call (whether its recording is the same, its status): a client never attaches to
        or learns about another client's call. The call's team is the team of the active operator key with
        its agent id (the newest such key), fixed from now on."""
        try:
            with self.sessions.begin() as session:
                existing = session.get(Call, new.call_id)
                if existing is None:
                    now = utcnow()
                    team = team_of(session, new.agent_id)
                    call = Call(
                        id=new.call_id,
                        status="queued",
                        priority=new.priority,
                        caller_number=new.caller_number,
                        agent_id=new.agent_id,
                        team=team,
                        started_at=new.started_at,
                        channel_map=new.channel_map,
                        pushed_by=pushed_by,
                        recording_key=recording.key,
                        recording_size=recording.size,
                        content_type=new.content_type,
                        created_at=now,
                        updated_at=now,
                        enqueued_at=now,
                        progress={},
                        timings={},
                        attempts=0,
                        ticket_state="pending",
                    )
                    session.add(call)
                    session.add(CallEvent(call_id=new.call_id, event="queued", detail={"priority": new.priority}))
                    return call, True
        except IntegrityError:
            pass  # pushed twice at the same moment: the other request inserted it
        with self.sessions.begin() as session:
            existing = session.get(Call, new.call_id)
            if existing is None:
                raise CallConflictError("the call could not be registered; retry")
            if existing.pushed_by is None or existing.pushed_by != pushed_by:
                raise CallConflictError(f"call id {new.call_id} is already in use")
            if existing.recording_key != recording.key:
                raise CallConflictError(f"call {new.call_id} was already pushed with a different recording")
            return existing, False

    def get(self, call_id: str) -> Call:
        with self.sessions() as session:
            call = session.get(Call, call_id)
            if call is None:
                raise CallNotFoundError(f"no call {call_id}")
            return call

    def visible(self, call_id: str, scope: CallScope) -> Call:
        """The call, for a caller whose `scope` covers it; CallNotFoundError otherwise, the same error as for a
        call that does not exist, so a caller cannot tell another's call from none. Every API route that takes
        a call id loads the call here."""
        with self.sessions() as session:
            call = session.scalars(select(Call).where(Call.id == call_id, scope.clause())).first()
            if call is None:
                raise CallNotFoundError(f"no call {call_id}")
            return call

    def events(self, call_id: str) -> list[CallEvent]:
        with self.sessions() as session:
            return list(session.scalars(select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.id)))

    def claim(self, call_id: str, phase: Phase, lease_s: float, worker: str = "") -> Call | None:
        """Take the call for `phase` under a lease; None when it is not this phase's turn or is held."""
        if phase not in tuple(Phase):
            raise ValueError(f"unknown phase {phase!r}")
        now = utcnow()
        lease_free = or_(Call.lease_until.is_(None), Call.lease_until < now)
        if phase == Phase.TRANSCRIBE:
            ready = or_(Call.status == "queued", and_(Call.status == "processing", Call.transcript.is_(None)))
        else:
            ready = and_(Call.status == "processing", Call.transcript.is_not(None), Call.ticket.is_(None))
        with self.sessions.begin() as session:
            claimed = session.execute(
                update(Call)
                .where(Call.id == call_id, ready, lease_free)
                .values(
                    status="processing",
                    stage=phase,
                    attempts=Call.attempts + 1,
                    lease_until=now + timedelta(seconds=lease_s),
                    processing_started_at=func.coalesce(Call.processing_started_at, now),
                    updated_at=now,
                )
            ).rowcount
            if not claimed:
                return None
            session.add(CallEvent(call_id=call_id, event=f"claimed:{phase}", detail={"worker": worker}))
            return session.get(Call, call_id)

    def heartbeat(self, call_id: str, stage: str, progress: dict, lease_s: float) -> None:
        """Progress of the running phase; extends the lease so a long call is not taken over."""
        now = utcnow()
        with self.sessions.begin() as session:
            session.execute(
                update(Call)
                .where(Call.id == call_id, Call.status == "processing")
                .values(stage=stage, progress=progress, lease_until=now + timedelta(seconds=lease_s), updated_at=now)
            )

    def save_transcript(self, call_id: str, transcript: dict, timings: dict, duration_s: float | None) -> bool:
        """End of the transcribe phase: transcript stored, lease released, ready for extraction."""
        now = utcnow()
        with self.sessions.begin() as session:
            saved = session.execute(
                update(Call)
                .where(Call.id == call_id, Call.status == "processing", Call.transcript.is_(None))
                .values(
                    transcript=transcript,
                    timings=timings,
                    audio_duration_s=duration_s,
                    stage=Phase.EXTRACT.value,
                    # attempts count the tries of one phase: extraction starts with none, so a call that went
                    # through first time says 1, not one claim per phase added up
                    attempts=0,
                    lease_until=None,
                    enqueued_at=now,
                    search_text=search_text(transcript, None),
                    updated_at=now,
                )
            ).rowcount
            if saved:
                session.add(CallEvent(call_id=call_id, event="transcribed", detail={}))
            return bool(saved)

    def finish(
        self, call_id: str, ticket: Ticket | None, timings: dict, record: TicketRecord | None = None
    ) -> list[str]:
        """The call is done: ticket stored, its `record` added to the ticket index (related-ticket search) and
        webhook deliveries queued, all in one transaction (outbox). Returns the new delivery ids; [] when the call
        was already finished by another delivery."""
        now = utcnow()
        with self.sessions.begin() as session:
            call = session.get(Call, call_id)
            if call is None or call.status != "processing":
                return []
            done = session.execute(
                update(Call)
                .where(Call.id == call_id, Call.status == "processing")
                .values(
                    status="done",
                    stage=None,
                    progress={},  # a finished call has no stage in progress
                    ticket=ticket,
                    machine_ticket=ticket,
                    review=ticket.review if ticket else None,
                    department=top_department(ticket),
                    timings={**(call.timings or {}), **timings},
                    search_text=search_text(call.transcript, ticket),
                    lease_until=None,
                    finished_at=now,
                    updated_at=now,
                )
            ).rowcount
            if not done:
                return []
            session.add(CallEvent(call_id=call_id, event="done", detail={}))
            if record is not None:
                self._store_records(session, [record])
            return self._queue_webhook(session, call, "done")

    def fail(self, call_id: str, kind: str, message: str) -> list[str]:
        """The call cannot be processed (bad audio, no speech…): failed, with the reason; webhook queued."""
        now = utcnow()
        with self.sessions.begin() as session:
            call = session.get(Call, call_id)
            if call is None or call.status in ("done", "failed"):
                return []
            session.execute(
                update(Call)
                .where(Call.id == call_id)
                .values(
                    status="failed", error=message, error_kind=kind, lease_until=None, finished_at=now, updated_at=now
                )
            )
            session.add(CallEvent(call_id=call_id, event="failed", detail={"kind": kind}))
            return self._queue_webhook(session, call, "failed")

    def release(self, call_id: str) -> None:
        """Give the lease back (a transient error: the task retries later)."""
        with self.sessions.begin() as session:
            session.execute(update(Call).where(Call.id == call_id).values(lease_until=None, updated_at=utcnow()))

    def stale(self, older_than_s: float, now: datetime | None = None) -> list[tuple[str, Phase, str]]:
        """Calls whose task may have been lost (Redis restarted, worker died): (call id, phase, priority) of
        calls waiting longer than `older_than_s` since they were queued, or holding an expired lease.
        Their `enqueued_at` is reset so the next sweep waits again."""
        now = now or utcnow()
        cutoff = now - timedelta(seconds=older_than_s)
        waiting = and_(Call.lease_until.is_(None), Call.enqueued_at < cutoff)
        expired = and_(Call.lease_until.is_not(None), Call.lease_until < now)
        found = []
        with self.sessions.begin() as session:
            rows = session.scalars(
                select(Call).where(Call.status.in_(("queued", "processing")), or_(waiting, expired)).limit(1000)
            ).all()
            for call in rows:
                phase = Phase.EXTRACT if call.transcript is not None else Phase.TRANSCRIBE
                call.enqueued_at = now
                session.add(CallEvent(call_id=call.id, event="requeued", detail={"phase": phase.value}))
                found.append((call.id, phase, call.priority))
        return found

    def release_all(self) -> int:
        """Drop every lease: for the in-process mode at start-up, where no other process can hold one."""
        with self.sessions.begin() as session:
            return session.execute(
                update(Call).where(Call.lease_until.is_not(None)).values(lease_until=None, enqueued_at=utcnow())
            ).rowcount
