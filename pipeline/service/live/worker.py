"""The live worker (`hotline live-worker`): takes live calls from Redis, transcribes each utterance as it ends, and
finishes each call like a batch call when it ends.

Ownership. Calls come from the `hotline:live:calls` stream through the `live-workers` consumer group: a worker
reads a new entry (XREADGROUP) and owns it until the call is finalised, then XACKs it. While it works it refreshes
its claims (XCLAIM … JUSTID) every third of the live lease; an entry idle longer than the lease belongs to a worker
that died, and the next worker with a free slot takes it (XAUTOCLAIM) and continues from the checkpoint.

One call (`_CallRun`): the LiveTranscriber resumes from the checkpoint's `committed_sample` with the state it
saved; the audio stream is read from the start and every sample before that point is skipped, so it is fed the
audio after the last saved turn, exactly once. Each turn it emits is published as an event, then saved in the
call's row (turns keyed by (channel, start sample): a turn emitted again after a takeover replaces itself), then
the checkpoint is written. A caller's turn asks for the ticket to be extracted again, on a thread of the call's own,
latest transcript only, so decoding never waits for extraction. At the end entry: `finish()`, the final ticket,
the recording assembled from the stream (WAV, the channels as received) stored like a pushed one, and the call
finished in one transaction (done, or failed when no speech was recognised, with the webhook outbox row). A call
that was abandoned (no frame for `abandon_after_s`, no resume: this worker writes the end entry itself) is
finalised from what arrived and marked partial: a `partial_call` warning on the transcript and on the ticket, where
it is a review reason the operator sees.

Events are at least once (a turn published just before a worker died is published again by the next one, with
the same id); the stored transcript holds each utterance once. A worker stalled past the lease (not dead) finds at
its next ownership check (every lease) that another worker has the call and stops; until then both may work on it,
which writes nothing twice: turns are saved by identity and `finish_live` lets one finalisation through.
"""

import json
import logging
import os
import socket
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import redis

from models import CallMeta, CallTranscript, PipelineWarning, Ticket, TicketFlag, Turn
from pipeline.service.live import wire
from pipeline.service.recordings import RecordingStore
from pipeline.service.repository import CallRepository

if TYPE_CHECKING:
    from pipeline.run import Extractor
    from pipeline.service.jobs import JobQueue

logger = logging.getLogger(__name__)

PARTIAL = "partial_call"
"""The code of the warning (transcript) and review reason (ticket) of a call whose client vanished."""
PARTIAL_MESSAGE = "the call's audio stopped before hang-up: transcript and ticket are made from what arrived"


class LiveTranscriber(Protocol):
    """One call's live transcription (real adapter: `pipeline.live.LiveTranscriber`)."""

    def feed(self, pcm: np.ndarray) -> list[Turn]:
        """int16 audio, (n,) mono or (n, channels); the turns this chunk closed."""

    def finish(self) -> list[Turn]:
        """Hang-up: the turns still open."""

    @property
    def committed_sample(self) -> int:
        """Every sample before it is in an emitted turn or silence."""

    def checkpoint(self) -> dict:
        """JSON-serialisable state to resume from (with `committed_sample`)."""

    def transcript(self, earlier: list[Turn] | None = None) -> CallTranscript:
        """The turns so far and `earlier` ones (saved before a takeover; a turn in both counts once), roles read
        again from all of them, in the batch transcript's schema."""


OpenTranscriber = Callable[[wire.AudioFormat, CallMeta, int, dict | None], LiveTranscriber]
"""(format, meta, start sample, checkpoint or None) → a transcriber resuming at that sample."""

Refine = Callable[[Path, CallMeta], tuple[CallTranscript, "Ticket | None"]]
"""The full-call pass: (the assembled recording, the call's meta with its channel map) → the batch pipeline's
transcript and ticket of it (real adapter: `pipeline.service.live.cli.full_call_pass`)."""


@dataclass(frozen=True)
class LiveWorkerOptions:
    """lease_s: a worker that has not refreshed its claim on a call this long has lost it (XAUTOCLAIM's idle time).
    concurrency: calls at a time (one thread each; the model is shared). abandon_after_s: a call with no frame this
    long is ended as abandoned. keep_s: a finished call's streams expire after this. block_s: the longest a read
    waits for new audio. extract_every_s: a live re-extraction starts at most this often per call (a caller turn
    that lands sooner waits, only the latest one). Deployment settings: `pipeline.settings.LiveSettings`."""

    lease_s: float = 10.0
    concurrency: int = 4
    abandon_after_s: float = 30.0
    keep_s: float = 3600.0
    block_s: float = 0.5
    extract_every_s: float = 3.0


def turn_id(turn: Turn, sample_rate: int) -> str:
    """A turn's identity: its channel and first sample, stable across a takeover."""
    return f"{turn.channel or 0}:{round(turn.start * sample_rate)}"


def project_role(role: str) -> str:
    """The hotline says "operator"; the project's transcripts, pages and checks say "agent"."""
    return "agent" if role == "operator" else role


class LiveWorker:
    """Consumes live calls until `stop` is set; see the module's docstring."""

    def __init__(
        self,
        client: redis.Redis,
        repository: CallRepository,
        store: RecordingStore,
        queue: "JobQueue",
        open_transcriber: OpenTranscriber,
        extractor: "Extractor | None",
        options: LiveWorkerOptions | None = None,
        name: str | None = None,
        refine: Refine | None = None,
    ):
        self.redis = client
        self.repository = repository
        self.store = store
        self.queue = queue
        self.open_transcriber = open_transcriber
        self.extractor = extractor
        self.options = options or LiveWorkerOptions()
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.refine = refine
        # one full-call pass at a time per worker: calls that end together do not starve the live ones of the cores;
        # a call in (or waiting for) its pass holds no slot of `concurrency`, so new calls are still taken at once
        self._refining = threading.Lock()
        self._in_pass: set[str] = set()  # entry ids of calls past their final event
        self._active: dict[str, threading.Thread] = {}  # stream entry id → the call's thread
        self._end = client.register_script(wire.END)

    def run(self, stop: threading.Event) -> None:
        self._ensure_group()
        logger.info("live worker %s: taking calls (%d at a time)", self.name, self.options.concurrency)
        refreshed = 0.0
        while not stop.is_set():
            self._reap()
            # membership tests only: call threads add to `_in_pass` while this runs
            free = self.options.concurrency - sum(entry not in self._in_pass for entry in list(self._active))
            if free > 0:
                for entry_id, call_id in self._take(free):
                    self._start(entry_id, call_id)
            else:
                stop.wait(self.options.block_s)
            if time.monotonic() - refreshed >= self.options.lease_s / 3:
                self._refresh()
                refreshed = time.monotonic()
        logger.info("live worker %s: stopping; its calls go to other workers after the lease", self.name)

    def _ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(wire.CALLS, wire.GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def _take(self, count: int) -> list[tuple[str, str]]:
        """Calls to work on: first those of dead workers (idle past the lease), then new ones."""
        lease_ms = int(self.options.lease_s * 1000)
        _, claimed, *_ = self.redis.xautoclaim(wire.CALLS, wire.GROUP, self.name, lease_ms, "0-0", count=count)
        entries = [entry for entry in claimed if entry and entry[1]]
        for entry_id, _ in entries:
            logger.info("live worker %s: took over entry %s", self.name, wire.as_text(entry_id))
        if len(entries) < count:
            block = int(self.options.block_s * 1000)
            for _, new in self.redis.xreadgroup(
                wire.GROUP, self.name, {wire.CALLS: ">"}, count=count - len(entries), block=block
            ):
                entries.extend(new)
        return [(wire.as_text(entry_id), wire.as_text(fields[b"call_id"])) for entry_id, fields in entries]

    def _start(self, entry_id: str, call_id: str) -> None:
        thread = threading.Thread(target=self._run_call, args=(entry_id, call_id), name=f"live-{call_id}", daemon=True)
        self._active[entry_id] = thread
        thread.start()

    def _run_call(self, entry_id: str, call_id: str) -> None:
        try:
            if _CallRun(self, entry_id, call_id).run():
                self.redis.xack(wire.CALLS, wire.GROUP, entry_id)
        except Exception:
            # left pending: after the lease another worker (or this one) takes the call from its checkpoint
            logger.exception("live call %s failed in worker %s", call_id, self.name)

    def _reap(self) -> None:
        for entry_id in [entry for entry, thread in self._active.items() if not thread.is_alive()]:
            del self._active[entry_id]
            self._in_pass.discard(entry_id)

    def _refresh(self) -> None:
        if self._active:
            self.redis.xclaim(wire.CALLS, wire.GROUP, self.name, 0, list(self._active), justid=True)

    def end_if_idle(self, call_id: str) -> bool:
        """Write the abandoned end entry when nothing came for the call in `abandon_after_s`."""
        keys = [wire.meta_key(call_id), wire.audio_key(call_id)]
        return bool(self._end(keys=keys, args=["abandoned", self.options.abandon_after_s]))


class _CallRun:
    """One call, from its checkpoint to its end. `run` returns True when the call is finalised (or was already)."""

    def __init__(self, worker: LiveWorker, entry_id: str, call_id: str):
        self.worker = worker
        self.entry_id = entry_id
        self.redis = worker.redis
        self.repository = worker.repository
        self.call_id = call_id
        self.turns: dict[str, Turn] = {}
        self.extract_seconds: list[float] = []
        self._ticket_lock = threading.Lock()

    def run(self) -> bool:
        fields = self.redis.hgetall(wire.meta_key(self.call_id))
        if not fields:
            logger.warning("live call %s: no stream in Redis (expired?); dropped", self.call_id)
            return True
        call = self.repository.get(self.call_id)
        self.format = wire.AudioFormat.from_json(fields[b"format"])
        self.meta = wire.meta_from_json(fields[b"meta"])
        if call.status != "live":  # finalised by a worker that died before its XACK (perhaps in the full-call pass)
            refining = self._refinement_due(call.status, call.transcript)
            self._publish("final", {"status": call.status, "call_id": self.call_id, "refining": refining})
            if refining:
                self._refine(call.recording_key, _partial(call.transcript))
            return True
        saved = self.redis.get(wire.checkpoint_key(self.call_id))
        checkpoint = json.loads(saved) if saved else None
        start_sample = int(checkpoint["committed_sample"]) if checkpoint else 0
        rate = self.format.sample_rate
        for turn in CallTranscript.from_dict(call.transcript).turns if call.transcript else []:
            self.turns[turn_id(turn, rate)] = turn
        self.transcriber = self.worker.open_transcriber(self.format, self.meta, start_sample, checkpoint)
        self.fed = start_sample
        self.extraction = _LatestOnly(self._extract_live, self.worker.options.extract_every_s)
        logger.info("live call %s: transcribing from %.2f s", self.call_id, start_sample / rate)
        return self._follow(start_sample)

    def _follow(self, start_sample: int) -> bool:
        last, channels = "0-0", self.format.channels
        block = int(self.worker.options.block_s * 1000)
        checked = time.monotonic()
        while True:
            if time.monotonic() - checked >= self.worker.options.lease_s:
                if not self._still_owned():
                    return False
                checked = time.monotonic()
            found = self.redis.xread({wire.audio_key(self.call_id): last}, count=500, block=block)
            if not found:
                self.worker.end_if_idle(self.call_id)  # the end entry, if written, is read next
                continue
            pieces = []
            for entry_id, fields in found[0][1]:
                last = entry_id
                if fields.get(b"kind") == b"end":
                    self._feed(pieces)
                    self._finalise(wire.as_text(fields[b"reason"]))
                    return True
                sample = int(fields[b"sample"])
                pcm = np.frombuffer(fields[b"pcm"], dtype="<i2").reshape(-1, channels)
                if sample + len(pcm) <= start_sample:
                    continue  # before the checkpoint: already in a saved turn or silence
                pieces.append(pcm[max(0, start_sample - sample) :])
            self._feed(pieces)

    def _still_owned(self) -> bool:
        """Whether the call's entry is still this worker's: a worker stalled past the lease (a machine swapping)
        finds another has taken it, and stops instead of working on beside it."""
        pending = self.redis.xpending_range(wire.CALLS, wire.GROUP, self.entry_id, self.entry_id, 1)
        owner = wire.as_text(pending[0]["consumer"]) if pending else None
        if owner != self.worker.name:
            logger.warning("live call %s: taken over by %s; this worker stops on it", self.call_id, owner)
            return False
        return True

    def _feed(self, pieces: list[np.ndarray]) -> None:
        if not pieces:
            return
        pcm = np.concatenate(pieces).astype(np.int16)
        self.fed += len(pcm)
        self._land(self.transcriber.feed(pcm if self.format.channels > 1 else pcm[:, 0]))

    def _land(self, new: list[Turn]) -> None:
        """Publish, save, then checkpoint: a turn is in the database before the checkpoint moves past it. The event
        goes first, so the page does not wait for the database's write; a worker that dies between the two has
        not moved the checkpoint, and the next one decodes, publishes (events are at least once) and saves it."""
        if not new:
            return
        new = [replace(turn, role=project_role(turn.role)) for turn in new]
        transcript = self._transcript(new)
        rate = self.format.sample_rate
        for turn in new:
            self._publish("turn", {"id": turn_id(turn, rate), **asdict(turn)})
        document = transcript.to_dict()
        document.pop("ticket", None)
        self.repository.save_live_transcript(self.call_id, document, transcript.duration)
        checkpoint = json.dumps(self.transcriber.checkpoint())
        self.redis.set(wire.checkpoint_key(self.call_id), checkpoint)
        if any(turn.role == "caller" for turn in new):
            self.extraction.request(transcript)

    def _transcript(self, new: list[Turn]) -> CallTranscript:
        """Every turn of the call, in time order: those saved before a takeover and the transcriber's own, roles
        read again from all of them by the transcriber."""
        rate = self.format.sample_rate
        for turn in new:
            self.turns[turn_id(turn, rate)] = turn
        current = self.transcriber.transcript(earlier=list(self.turns.values()))
        turns = [replace(turn, role=project_role(turn.role)) for turn in current.turns]
        self.turns = {turn_id(turn, rate): turn for turn in turns}
        duration = round(self.fed / rate, 3)
        return replace(current, call_id=self.call_id, turns=turns, duration=duration, warnings=list(current.warnings))

    def _extract_live(self, transcript: CallTranscript) -> None:
        ticket = self._extract(transcript)
        if ticket is not None and self.repository.save_live_ticket(self.call_id, ticket):
            self._publish("ticket", ticket.to_dict())

    def _extract(self, transcript: CallTranscript) -> Ticket | None:
        if self.worker.extractor is None or not transcript.turns:
            return None
        with self._ticket_lock:  # one extraction at a time per call: the final one waits for a running one
            started = time.perf_counter()
            ticket = self.worker.extractor.extract(transcript, self.meta)
            self.extract_seconds.append(time.perf_counter() - started)
        return ticket

    def _finalise(self, reason: str) -> None:
        started = time.perf_counter()
        self._land(self.transcriber.finish())
        self.extraction.close()  # the final extraction below reads the whole call: a waiting one is moot
        partial = reason != "hangup"
        transcript = self._transcript([])
        if partial:
            transcript.warnings.append(PipelineWarning(PARTIAL, PARTIAL_MESSAGE))
        ticket = self._extract(transcript)
        if ticket is not None and partial:
            mark_partial(ticket)
        recording = self._store_recording()
        failure = None if transcript.turns else ("NoSpeechError", "no speech was recognised in the live call")
        # seconds per stage, as a batch call's: extraction during and at the end of the call, and the finalisation
        timings = {
            "live_extract": round(sum(self.extract_seconds), 3),
            "live_finalise": round(time.perf_counter() - started, 3),
        }
        document = transcript.to_dict()
        document.pop("ticket", None)
        deliveries = self.repository.finish_live(
            self.call_id, recording, "audio/wav", document, transcript.duration, ticket, timings, failure
        )
        for delivery_id in deliveries:
            try:
                self.worker.queue.enqueue_webhook(delivery_id)
            except Exception:  # the outbox row is committed: the sweeper sends it
                logger.warning("live call %s: webhook not enqueued now; the sweeper will", self.call_id)
        status = "failed" if failure else "done"
        if ticket is not None:
            self._publish("ticket", ticket.to_dict())
        refining = self._refinement_due(status, document)
        final = {"status": status, "call_id": self.call_id, "reason": reason, "partial": partial, "refining": refining}
        self._publish("final", final)
        for key in wire.call_keys(self.call_id):
            self.redis.expire(key, int(self.worker.options.keep_s))
        logger.info(
            "live call %s: %s (%s, %d turns; %d extractions, the longest %.2f s)",
            self.call_id,
            status,
            reason,
            len(transcript.turns),
            len(self.extract_seconds),
            max(self.extract_seconds, default=0.0),
        )
        if refining:
            self._refine(recording.key, partial)

    def _refinement_due(self, status: str, transcript: dict | None) -> bool:
        return (
            self.worker.refine is not None
            and status == "done"
            and not (transcript or {}).get("metadata", {}).get("refined")
        )

    def _refine(self, recording_key: str, partial: bool) -> None:
        """The full-call pass after the final event: the batch pipeline over the assembled recording, its transcript
        and ticket stored (`CallRepository.refine_live`: never over a person's correction), then a `refined`
        event. A worker that dies meanwhile has not XACKed the call: the next one runs the pass again."""
        started = time.perf_counter()
        self.worker._in_pass.add(self.entry_id)
        channel_map = {channel: project_role(role) for channel, role in self.format.channel_map.items()}
        meta = replace(self.meta, channel_map=channel_map)
        with self.worker._refining, self.worker.store.local_copy(recording_key) as path:
            try:
                transcript, ticket = self.worker.refine(path, meta)
            except Exception:
                logger.exception("live call %s: the full-call pass failed; the live transcript stays", self.call_id)
                self._publish("refined", {"call_id": self.call_id, "refined": False})
                return
        transcript = replace(transcript, call_id=self.call_id)
        transcript.metadata = {**transcript.metadata, "live": True, "refined": True}
        if partial:  # the recording is what arrived: still partial
            transcript.warnings.append(PipelineWarning(PARTIAL, PARTIAL_MESSAGE))
            if ticket is not None:
                mark_partial(ticket)
        document = transcript.to_dict()
        document.pop("ticket", None)
        result = self.repository.refine_live(self.call_id, document, transcript.duration, ticket)
        if result is None:
            return
        logger.info(
            "live call %s: refined by the full-call pass in %.1f s (%d human values kept)",
            self.call_id,
            time.perf_counter() - started,
            len(result.kept),
        )
        data = {"call_id": self.call_id, "refined": True, "kept": result.kept, "accepted": result.accepted}
        self._publish("refined", data)

    def _store_recording(self):
        """The call's audio as received (int16, its rate and channels) in a WAV file, stored like a pushed one."""
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
            with wave.open(spool, "wb") as out:
                out.setnchannels(self.format.channels)
                out.setsampwidth(2)
                out.setframerate(self.format.sample_rate)
                last = "-"
                while entries := self.redis.xrange(wire.audio_key(self.call_id), min=last, count=1000):
                    for _, fields in entries:
                        if b"pcm" in fields:
                            out.writeframesraw(fields[b"pcm"])
                    last = "(" + wire.as_text(entries[-1][0])
            spool.seek(0)
            return self.worker.store.put(spool)

    def _publish(self, kind: str, data: dict) -> None:
        payload = json.dumps(data, ensure_ascii=False, default=str)
        # `at`: when it was published (Unix seconds), so a client can tell the workers' delay from the network's
        self.redis.xadd(wire.events_key(self.call_id), {"type": kind, "data": payload, "at": f"{time.time():.3f}"})


def _partial(transcript: dict | None) -> bool:
    return any(warning.get("code") == PARTIAL for warning in (transcript or {}).get("warnings") or [])


def mark_partial(ticket: Ticket) -> None:
    """The ticket of a call whose audio stopped before hang-up: a warning that stays a review reason (no correction
    settles it), and never pre-accepted."""
    flag = TicketFlag(PARTIAL, message=PARTIAL_MESSAGE)
    ticket.warnings.append(flag)
    ticket.review_reasons.append(flag)
    if ticket.review == "auto":
        ticket.review = "check"


class _LatestOnly:
    """Runs `work` on a thread of its own for the latest value requested, starting at most every `every_s`: a
    request made while it runs or waits replaces any waiting one, so a burst of caller turns costs one extraction
    after the running one, never a backlog, and extraction takes a bounded share of the cores decoding needs."""

    def __init__(self, work: Callable[[CallTranscript], None], every_s: float = 0.0):
        self.work = work
        self.every_s = every_s
        self._changed = threading.Condition()
        self._waiting: CallTranscript | None = None
        self._thread: threading.Thread | None = None
        self._last_start = float("-inf")
        self._closed = False

    def request(self, value: CallTranscript) -> None:
        with self._changed:
            if self._closed:
                return
            self._waiting = value
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="live-extract", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._closed and (delay := self._last_start + self.every_s - time.monotonic()) > 0:
                    self._changed.wait(delay)
                value, self._waiting = (None if self._closed else self._waiting), None
                if value is None:
                    self._thread = None
                    return
                self._last_start = time.monotonic()
            try:
                self.work(value)
            except Exception:
                logger.exception("live ticket extraction failed")

    def close(self) -> None:
        """No more extractions: a waiting one is dropped, a running one is waited for."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
