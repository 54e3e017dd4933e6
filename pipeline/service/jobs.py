"""What a worker does with a call id: the same code behind the Celery tasks and the in-process queue.

Each job is idempotent: it claims the call in the database first (`CallRepository.claim`) and does
nothing when the claim fails, so a redelivered or duplicated message costs a query, not a second run.
"""

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import httpx

from models import (
    AudioDecodeError,
    AudioTooLongError,
    CallMeta,
    CallTranscript,
    HotlineError,
    NoSpeechError,
    ProcessingError,
    RecordingNotFoundError,
    Ticket,
)
from pipeline.service.database import Call, utcnow
from pipeline.service.recordings import RecordingStore
from pipeline.service.repository import CallRepository, Phase, call_meta
from pipeline.service.ticket_records import TicketRecorder
from pipeline.service.webhooks import (
    DeliveryAttempt,
    WebhookOptions,
    call_summary,
    deliver,
    retry_delay,
    validate_webhook_url,
)
from pipeline.settings import Settings, WebhookSettings, WorkerSettings

if TYPE_CHECKING:
    from pipeline.run import StageHook

logger = logging.getLogger(__name__)

# The settings' defaults (plain models: building them reads no environment)
_WORKER_DEFAULTS = WorkerSettings()
_WEBHOOK_DEFAULTS = WebhookSettings()

PERMANENT_ERRORS = (AudioDecodeError, AudioTooLongError, NoSpeechError, RecordingNotFoundError)
"""The call itself is at fault: retrying cannot help, the call fails with the reason."""


class CallProcessor(Protocol):
    """What the two phases run on a call: the models (real adapter: `pipeline.service.processor.PipelineProcessor`,
    which loads them on first use, once per process)."""

    def transcribe(self, recording: Path, meta: CallMeta, hook: "StageHook") -> CallTranscript:
        """The speaker-attributed transcript, without a ticket (the extract phase makes it). Raises the
        pipeline's errors: `PERMANENT_ERRORS` fail the call, anything else is retried."""

    def extract(self, transcript: CallTranscript, meta: CallMeta) -> Ticket | None:
        """The call's ticket; None when ticket extraction is switched off in the settings."""


class JobQueue(Protocol):
    """Hands work to workers (Celery over Redis, or threads in the API process)."""

    def enqueue(self, phase: Phase, call_id: str, priority: str) -> None:
        """Run `Jobs.transcribe` or `Jobs.extract` (phase) for the call, live calls before backlog."""

    def enqueue_webhook(self, delivery_id: str) -> None:
        """Run `Jobs.deliver_webhook` now. Retries are not queued with a delay: the delivery's
        `next_attempt_at` is in the database and `Jobs.sweep` enqueues it when due."""


@dataclass(frozen=True)
class JobOptions:
    """lease_s: how long a claim holds a call without a heartbeat (Redis' visibility timeout matches it).
    requeue_after_s: a call queued this long without being claimed is enqueued again by `sweep`.
    heartbeat_s: least time between two progress writes.
    max_attempts: claims of one phase of a call before the call fails (a recording that crashes workers must
    not loop).
    recorder: makes the ticket record of each finished call for related-ticket search (None: no records).
    All but heartbeat_s and max_attempts are deployment settings (HOTLINE_WORKER__*, HOTLINE_PUBLIC_URL,
    HOTLINE_WEBHOOKS__*): their defaults are `pipeline.settings`', kept there once, and `wiring.job_options`
    builds these options from the settings."""

    lease_s: float = _WORKER_DEFAULTS.lease_s
    requeue_after_s: float = _WORKER_DEFAULTS.requeue_after_s
    heartbeat_s: float = 2.0
    max_attempts: int = 5
    public_url: str = Settings.model_fields["public_url"].default  # Settings() would read the environment
    allow_private_webhooks: bool = _WEBHOOK_DEFAULTS.allow_private
    webhooks: WebhookOptions = field(default_factory=WebhookOptions)
    recorder: TicketRecorder | None = None


@dataclass
class Jobs:
    """A worker's jobs: each takes a call (or delivery) id and moves it through the repository's state machine."""

    repository: CallRepository
    store: RecordingStore
    queue: JobQueue
    processor: CallProcessor
    options: JobOptions = field(default_factory=JobOptions)
    http: httpx.Client | None = None
    worker_name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    def transcribe(self, call_id: str) -> str:
        """Phase 1: audio → transcript. Returns what happened: transcribed | failed | skipped."""
        call, outcome = self._claim(call_id, Phase.TRANSCRIBE)
        if call is None:
            return outcome
        meta = call_meta(call)
        hook = _Heartbeat(self.repository, call_id, self.options)
        try:
            with self.store.local_copy(call.recording_key) as path:
                transcript = self.processor.transcribe(path, meta, hook)
        except PERMANENT_ERRORS as error:
            self._fail(call_id, error)
            return "failed"
        except BaseException:
            self.repository.release(call_id)  # transient or a crash of ours: let a retry claim it at once
            raise
        document = transcript.to_dict()
        document.pop("ticket", None)  # the ticket has a column of its own, written by the extract phase
        if self.repository.save_transcript(call_id, document, dict(transcript.timings), transcript.duration):
            self.queue.enqueue(Phase.EXTRACT, call_id, call.priority)
        return "transcribed"

    def extract(self, call_id: str) -> str:
        """Phase 2: transcript → ticket; the call is done. Returns done | skipped."""
        call, outcome = self._claim(call_id, Phase.EXTRACT)
        if call is None:
            return outcome
        meta = call_meta(call)
        started = time.perf_counter()
        try:
            ticket = self.processor.extract(CallTranscript.from_dict(call.transcript), meta)
        except BaseException:
            self.repository.release(call_id)
            raise
        timings = {"extract": round(time.perf_counter() - started, 3)}
        record = None
        if ticket is not None and self.options.recorder is not None:
            record = self.options.recorder.for_call(
                meta, ticket, CallTranscript.from_dict(call.transcript), call.created_at
            )
        for delivery_id in self.repository.finish(call_id, ticket, timings, record):
            self.queue.enqueue_webhook(delivery_id)
        return "done"

    def deliver_webhook(self, delivery_id: str) -> str:
        """One delivery attempt; schedules the next one with backoff. Returns delivered | retry | failed |
        skipped."""
        found = self.repository.delivery(delivery_id)
        if found is None:
            return "skipped"
        delivery, secret = found
        if delivery.state != "pending" or not secret:
            return "skipped"
        call = self.repository.get(delivery.call_id)
        base = self.options.public_url.rstrip("/")
        links = {
            "status": f"{base}/v1/calls/{call.id}",
            "ticket": f"{base}/v1/calls/{call.id}/ticket",
            "transcript": f"{base}/v1/calls/{call.id}/transcript",
        }
        if delivery.event.startswith("call."):
            payload = call_summary(
                call.id,
                call.status,
                ticket=call.ticket,
                error=call.error,
                error_kind=call.error_kind,
                timings=call.timings,
                links=links,
            )
        else:  # a link decided by an operator: what it was is fixed in the delivery when it was queued
            payload = {
                **delivery.payload,
                "event": delivery.event,
                "links": {**links, "related": f"{links['status']}/related"},
            }
        try:
            # checked again at every delivery: a host name can start resolving to a private address later
            validate_webhook_url(delivery.url, allow_private=self.options.allow_private_webhooks)
        except ValueError as error:
            attempt = DeliveryAttempt(
                delivery.id,
                delivery.url,
                delivery.event,
                delivery.attempts + 1,
                None,
                str(error),
                0.0,
                delivered=False,
                retry=False,
            )
            self.repository.record_attempt(delivery.id, attempt, None, give_up=True)
            return "failed"
        attempt = deliver(
            delivery.url,
            secret,
            delivery.event,
            payload,
            delivery.id,
            delivery.attempts + 1,
            client=self._http(),
            options=self.options.webhooks,
        )
        delay = retry_delay(attempt, self.options.webhooks)
        give_up = not attempt.delivered and delay is None
        self.repository.record_attempt(
            delivery.id, attempt, utcnow() + timedelta(seconds=delay) if delay is not None else None, give_up
        )
        if attempt.delivered:
            return "delivered"
        if give_up:
            logger.warning("webhook %s for call %s given up after %d attempts", delivery.id, call.id, attempt.attempt)
            return "failed"
        return "retry"

    def sweep(self) -> int:
        """Re-enqueue calls whose messages were lost (Redis restarted, a worker died holding one) and due
        webhook deliveries. Duplicates are harmless: the claim lets one through."""
        stale = self.repository.stale(self.options.requeue_after_s)
        for call_id, phase, priority in stale:
            self.queue.enqueue(phase, call_id, priority)
        due = self.repository.due_deliveries(utcnow())
        for delivery_id in due:
            self.queue.enqueue_webhook(delivery_id)
        if stale or due:
            logger.info("sweep: %d calls and %d webhooks re-enqueued", len(stale), len(due))
        return len(stale) + len(due)

    def purge_recordings(self, retention_days: float) -> int:
        """Delete the audio of finished calls older than the retention period (transcripts stay)."""
        cutoff = utcnow() - timedelta(days=retention_days)
        deleted = 0
        for call_id, key in list(self.repository.recordings_to_delete(cutoff)):
            self.repository.mark_audio_deleted(call_id)
            if not self.repository.recording_in_use(key):
                self.store.delete(key)
            deleted += 1
        return deleted

    def _claim(self, call_id: str, phase: Phase) -> tuple[Call, None] | tuple[None, str]:
        """(the claimed call, None), or (None, skipped | failed) when there is nothing to run: another delivery
        holds or finished the phase, or the call used up its attempts."""
        call = self.repository.claim(call_id, phase, self.options.lease_s, self.worker_name)
        if call is None:
            return None, "skipped"
        if call.attempts > self.options.max_attempts:
            self._fail(call_id, ProcessingError(f"gave up after {self.options.max_attempts} attempts"))
            return None, "failed"
        return call, None

    def _fail(self, call_id: str, error: HotlineError) -> None:
        for delivery_id in self.repository.fail(call_id, type(error).__name__, str(error)):
            self.queue.enqueue_webhook(delivery_id)

    def _http(self) -> httpx.Client:
        if self.http is None:
            self.http = httpx.Client(follow_redirects=False)
        return self.http


class _Heartbeat:
    """The pipeline's stage hook: progress into the database, extending the lease. A new stage is written at
    once (the operator's queue shows it); progress within a stage at most every `heartbeat_s`."""

    def __init__(self, repository: CallRepository, call_id: str, options: JobOptions):
        self.repository = repository
        self.call_id = call_id
        self.options = options
        self.progress: dict = {}
        self.last = 0.0
        self.stage: str | None = None

    def __call__(self, stage: str, completed: int | None = None, total: int | None = None) -> None:
        self.progress[stage] = {"completed": completed, "total": total}
        now = time.monotonic()
        if stage != self.stage or now - self.last >= self.options.heartbeat_s:
            self.last, self.stage = now, stage
            self.repository.heartbeat(self.call_id, stage, dict(self.progress), self.options.lease_s)
