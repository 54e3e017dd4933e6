"""Calls in the database: registration, the processing state machine, results, reviews and audits.

State machine (one row per call id):

    queued ──claim(transcribe)──► processing ──save_transcript──► processing (transcript saved)
                                      │                                 │
                                      │                       claim(extract) ──finish──► done
                                      └──────────── fail ─────────────────────────────► failed

A claim is a conditional UPDATE that also takes a lease (`lease_until`); a second copy of a task finds
the lease held, or the phase already done, and does nothing. A worker that dies leaves an expired lease:
the redelivered task (or the sweeper's re-enqueue) claims again. `finish` and `fail` only move a call
out of `processing`, so a result is written once whatever the number of deliveries.

Every read the API makes for a caller goes through a `CallScope` (`visible`, `search`, `agent_summary`):
a call outside it is not found, exactly like a call that does not exist. The scope of each role is decided
in `pipeline.service.keys.Principal.scope`; a call's `team` is fixed when it is registered (`register`).
"""

import copy
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer, sessionmaker

from models import CallConflictError, CallNotFoundError
from pipeline.service.database import (
    ApiKey,
    Audit,
    Call,
    CallEvent,
    TicketChange,
    WebhookAttempt,
    WebhookDelivery,
    utcnow,
)
from pipeline.service.recordings import StoredRecording

logger = logging.getLogger(__name__)

PHASES = ("transcribe", "extract")
WEBHOOK_FALLBACK_S = 120.0


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


@dataclass(frozen=True)
class CallQuery:
    """Search filters for `CallRepository.search`; every filter is optional."""

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


@dataclass(frozen=True)
class CallScope:
    """The calls one caller may see: every call, or those pushed by `pushed_by`, taken under `agent_id` or of
    `team` (any of these). With none of them, no call at all: a scope never widens by omission."""

    everything: bool = False
    pushed_by: int | None = None
    agent_id: str | None = None
    team: str | None = None

    def clause(self) -> ColumnElement[bool]:
        if self.everything:
            return true()
        owners = [
            column == value
            for column, value in (
                (Call.pushed_by, self.pushed_by),
                (Call.agent_id, self.agent_id),
                (Call.team, self.team),
            )
            if value is not None
        ]
        return or_(*owners) if owners else false()


class CallRepository:
    """All database access of the service, one short transaction per method."""

    def __init__(self, sessions: sessionmaker):
        self.sessions = sessions

    # --- intake ------------------------------------------------------------------------------------

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
                    team = (
                        session.scalar(
                            select(ApiKey.team)
                            .where(
                                ApiKey.role == "operator",
                                ApiKey.agent_id == new.agent_id,
                                ApiKey.team.is_not(None),
                                ApiKey.revoked_at.is_(None),
                            )
                            .order_by(ApiKey.id.desc())
                            .limit(1)
                        )
                        if new.agent_id
                        else None
                    )
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

    # --- processing --------------------------------------------------------------------------------

    def claim(self, call_id: str, phase: str, lease_s: float, worker: str = "") -> Call | None:
        """Take the call for `phase` under a lease; None when it is not this phase's turn or is held."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        now = utcnow()
        lease_free = or_(Call.lease_until.is_(None), Call.lease_until < now)
        if phase == "transcribe":
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
                    stage="extract",
                    lease_until=None,
                    enqueued_at=now,
                    search_text=search_text(transcript, None),
                    updated_at=now,
                )
            ).rowcount
            if saved:
                session.add(CallEvent(call_id=call_id, event="transcribed", detail={}))
            return bool(saved)

    def finish(self, call_id: str, ticket: dict | None, timings: dict) -> list[str]:
        """The call is done: ticket stored, webhook deliveries queued in the same transaction (outbox).
        Returns the new delivery ids; [] when the call was already finished by another delivery."""
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
                    ticket=ticket,
                    machine_ticket=ticket,
                    review=(ticket or {}).get("review"),
                    department=_top_department(ticket),
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

    def stale(self, older_than_s: float, now: datetime | None = None) -> list[tuple[str, str, str]]:
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
                phase = "extract" if call.transcript is not None else "transcribe"
                call.enqueued_at = now
                session.add(CallEvent(call_id=call.id, event="requeued", detail={"phase": phase}))
                found.append((call.id, phase, call.priority))
        return found

    # --- people ------------------------------------------------------------------------------------

    def update_ticket(self, call_id: str, actor: str, changes: dict, accept: bool) -> Call:
        """Apply an operator's corrections (field → new value; `department` picks the unit) and/or accept.
        Each change is stored with who and when; the machine's ticket is kept unchanged."""
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
                        ticket["department"] = value
                        recorded[name] = {"old": old, "new": value}
                    continue
                field = ticket.setdefault("fields", {}).get(name) or {}
                old = field.get("value")
                if old == value:
                    continue
                ticket["fields"][name] = {
                    **field,
                    "value": value,
                    "confidence": 1.0,
                    "source": "corrected",  # by the operator, after the machine (not "operator": said by them)
                    "evidence": field.get("evidence", []) if value is not None else [],
                }
                recorded[name] = {"old": old, "new": value}
            now = utcnow()
            if recorded:
                call.ticket = ticket
                session.add(TicketChange(call_id=call_id, actor=actor, at=now, action="correct", changes=recorded))
            if accept and call.ticket_state != "accepted":
                call.ticket_state = "accepted"
                call.accepted_by = actor
                call.accepted_at = now
                session.add(TicketChange(call_id=call_id, actor=actor, at=now, action="accept", changes={}))
            call.search_text = search_text(call.transcript, call.ticket)
            call.updated_at = now
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

    def add_audit(
        self, call_id: str, actor: str, score: float, rubric: dict, checks: dict, marks: list, comment: str | None
    ) -> Audit:
        with self.sessions.begin() as session:
            call = session.get(Call, call_id)
            if call is None:
                raise CallNotFoundError(f"no call {call_id}")
            if call.transcript is None:
                raise CallConflictError(f"call {call_id} has no transcript to audit yet")
            audit = Audit(
                call_id=call_id, actor=actor, score=score, rubric=rubric, checks=checks, marks=marks, comment=comment
            )
            session.add(audit)
            session.flush()
            call.audit_score, call.audited_at = score, audit.at
            return audit

    def audits(self, call_id: str) -> list[Audit]:
        with self.sessions() as session:
            return list(session.scalars(select(Audit).where(Audit.call_id == call_id).order_by(Audit.id)))

    def agent_summary(
        self, scope: CallScope, since: datetime | None = None, until: datetime | None = None
    ) -> list[dict]:
        """Per operator (agent id), over the calls in `scope` finished in [since, until): how many, how many
        audited, the scores of their latest audits (kept on the call) and those audits' turn marks by kind.
        For the QA page's table."""
        window = [Call.status == "done", Call.agent_id.is_not(None), scope.clause()]
        if since is not None:
            window.append(Call.created_at >= since)
        if until is not None:
            window.append(Call.created_at < until)
        totals = select(
            Call.agent_id,
            func.count(Call.id),
            func.count(Call.audited_at),
            func.avg(Call.audit_score),
            func.min(Call.audit_score),
        )
        latest = select(func.max(Audit.id)).join(Call, Call.id == Audit.call_id).where(*window).group_by(Audit.call_id)
        with self.sessions() as session:
            summary = {
                agent: {
                    "agent_id": agent,
                    "calls": calls,
                    "audited": audited,
                    "mean_score": round(mean, 1) if mean is not None else None,
                    "min_score": low,
                    "marks": {},
                }
                for agent, calls, audited, mean, low in session.execute(
                    totals.where(*window).group_by(Call.agent_id).order_by(Call.agent_id)
                )
            }
            marks = select(Call.agent_id, Audit.marks).join(Call, Call.id == Audit.call_id).where(Audit.id.in_(latest))
            for agent, audit_marks in session.execute(marks):
                counts = summary[agent]["marks"]
                for mark in audit_marks or []:
                    kind = mark.get("kind", "other")
                    counts[kind] = counts.get(kind, 0) + 1
        return list(summary.values())

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

    def release_all(self) -> int:
        """Drop every lease: for the in-process mode at start-up, where no other process can hold one."""
        with self.sessions.begin() as session:
            return session.execute(
                update(Call).where(Call.lease_until.is_not(None)).values(lease_until=None, enqueued_at=utcnow())
            ).rowcount

    def processing_stats(self, last: int = 500) -> dict:
        """Mean stage durations and real-time factor (processing s / audio s) over the last finished calls."""
        with self.sessions() as session:
            rows = session.execute(
                select(Call.timings, Call.audio_duration_s)
                .where(Call.status == "done")
                .order_by(Call.finished_at.desc())
                .limit(last)
            ).all()
        totals: dict[str, float] = {}
        busy = audio = 0.0
        for timings, duration in rows:
            for stage, seconds in (timings or {}).items():
                if isinstance(seconds, (int, float)):
                    totals[stage] = totals.get(stage, 0.0) + seconds
            if duration:
                busy += sum(v for k, v in (timings or {}).items() if k != "total" and isinstance(v, (int, float)))
                audio += duration
        return {
            "stages": {stage: total / len(rows) for stage, total in totals.items()} if rows else {},
            "real_time_factor": busy / audio if audio else 0.0,
        }

    def counts_by_status(self) -> dict[str, int]:
        with self.sessions() as session:
            return dict(session.execute(select(Call.status, func.count()).group_by(Call.status)).all())

    # --- webhooks ----------------------------------------------------------------------------------

    def _queue_webhook(self, session: Session, call: Call, status: str) -> list[str]:
        if call.pushed_by is None:
            return []
        key = session.get(ApiKey, call.pushed_by)
        if key is None or not key.webhook_url:
            return []
        delivery = WebhookDelivery(
            id=str(uuid.uuid4()),
            call_id=call.id,
            key_id=key.id,
            event=f"call.{status}",
            url=key.webhook_url,
            state="pending",
            attempts=0,
            # sent at once by the finishing job; if that message is lost, the sweeper sends it from then on
            next_attempt_at=utcnow() + timedelta(seconds=WEBHOOK_FALLBACK_S),
        )
        session.add(delivery)
        return [delivery.id]

    def delivery(self, delivery_id: str) -> tuple[WebhookDelivery, str | None] | None:
        """A delivery and its client's signing secret."""
        with self.sessions() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return None
            key = session.get(ApiKey, delivery.key_id)
            return delivery, key.webhook_secret if key else None

    def record_attempt(self, delivery_id: str, attempt, next_attempt_at: datetime | None, give_up: bool) -> None:
        """Log one attempt (`pipeline.service.webhooks.DeliveryAttempt`) and move the delivery on."""
        with self.sessions.begin() as session:
            delivery = session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return
            session.add(
                WebhookAttempt(
                    delivery_id=delivery_id,
                    attempt=attempt.attempt,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    duration_s=attempt.duration_s,
                    delivered=attempt.delivered,
                )
            )
            delivery.attempts = attempt.attempt
            delivery.last_status_code = attempt.status_code
            delivery.last_error = attempt.error
            if attempt.delivered:
                delivery.state, delivery.delivered_at, delivery.next_attempt_at = "delivered", utcnow(), None
            elif give_up:
                delivery.state, delivery.next_attempt_at = "failed", None
            else:
                delivery.next_attempt_at = next_attempt_at

    def due_deliveries(self, now: datetime | None = None) -> list[str]:
        with self.sessions() as session:
            return list(
                session.scalars(
                    select(WebhookDelivery.id).where(
                        WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= (now or utcnow())
                    )
                )
            )

    def webhook_log(self, call_id: str) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
        with self.sessions() as session:
            deliveries = session.scalars(select(WebhookDelivery).where(WebhookDelivery.call_id == call_id)).all()
            return [
                (
                    delivery,
                    list(
                        session.scalars(
                            select(WebhookAttempt)
                            .where(WebhookAttempt.delivery_id == delivery.id)
                            .order_by(WebhookAttempt.attempt)
                        )
                    ),
                )
                for delivery in deliveries
            ]

    # --- retention ---------------------------------------------------------------------------------

    def recordings_to_delete(self, older_than: datetime) -> Iterator[tuple[str, str]]:
        """(call id, recording key) of finished calls older than the retention cut-off, audio not yet deleted."""
        with self.sessions() as session:
            yield from session.execute(
                select(Call.id, Call.recording_key).where(
                    Call.status.in_(("done", "failed")), Call.created_at < older_than, Call.audio_deleted_at.is_(None)
                )
            ).all()

    def mark_audio_deleted(self, call_id: str) -> None:
        with self.sessions.begin() as session:
            session.execute(update(Call).where(Call.id == call_id).values(audio_deleted_at=utcnow()))

    def recording_in_use(self, key: str) -> bool:
        """Whether a call whose audio is kept still points at this recording (same content pushed twice)."""
        with self.sessions() as session:
            return bool(
                session.scalar(
                    select(func.count(Call.id)).where(Call.recording_key == key, Call.audio_deleted_at.is_(None))
                )
            )


def search_text(transcript: dict | None, ticket: dict | None) -> str:
    """What text search looks through: the turns, the summary and the chosen department."""
    parts = [turn.get("text", "") for turn in (transcript or {}).get("turns", [])]
    fields = (ticket or {}).get("fields", {})
    summary = (fields.get("summary") or {}).get("value")
    if summary:
        parts.append(str(summary))
    department = (ticket or {}).get("department") or _top_department(ticket)
    if department:
        parts.append(department)
    return "\n".join(parts)


def _top_department(ticket: dict | None) -> str | None:
    suggestions = (ticket or {}).get("department_suggestions") or []
    return suggestions[0].get("department") if suggestions else None


def _filtered(statement: Select, query: CallQuery) -> Select:
    if query.text:
        escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(Call.search_text.like(f"%{escaped}%", escape="\\"))
    if query.since is not None:
        statement = statement.where(Call.created_at >= query.since)
    if query.until is not None:
        statement = statement.where(Call.created_at < query.until)
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
