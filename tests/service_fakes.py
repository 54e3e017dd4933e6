"""Fakes at the service's ports, for the job and lease state machine tests: a clock that moves only when told, a
call processor that stands in for the models, and a recording store in memory. The repository under them is
real (SQLite in a temporary directory): it is the unit under test. Not a conftest, like `service_builders`."""

import hashlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from models import CallMeta, CallTranscript, RecordingNotFoundError, Ticket, TicketField, Turn, Word
from pipeline.service import database
from pipeline.service.database import create_db_engine, make_sessions, migrate
from pipeline.service.keys import KeyStore
from pipeline.service.recordings import StoredRecording
from pipeline.service.repository import CallRepository, NewCall

# Far from today on purpose: a time read from the real clock anywhere in a test is off by years, not seconds.
START = datetime(2031, 3, 1, 9, 0, tzinfo=UTC)


class FakeClock:
    """The service's `utcnow`, frozen until `advance`."""

    def __init__(self, start: datetime = START):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> "FakeClock":
        """Put this clock behind every `utcnow` the service's modules imported (`from ... import utcnow` binds
        the name in each module), so leases, queue times and retries all read it."""
        from pipeline.service import jobs, repository  # noqa: F401 (loaded, so that their names are patched)

        patched = [
            name
            for name, module in list(sys.modules.items())
            if name.startswith("pipeline.service") and getattr(module, "utcnow", None) is database.utcnow
        ]
        for name in patched:
            monkeypatch.setattr(sys.modules[name], "utcnow", self)
        assert {"pipeline.service.jobs", "pipeline.service.repository.calls"} <= set(patched), patched
        return self


def open_repository(tmp_path: Path) -> CallRepository:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    migrate(engine)
    return CallRepository(make_sessions(engine))


def webhook_key(repository: CallRepository, url: str | None) -> int:
    """The id of a new telephony key; with `url`, calls it pushes are announced there."""
    row, _ = KeyStore(repository.sessions).create("telephony", "pbx-test", webhook_url=url)
    return row.id


def register(
    repository: CallRepository,
    call_id: str,
    *,
    pushed_by: int | None = None,
    recording: bytes | None = None,
    priority: str = "live",
) -> str:
    """Register a queued call; returns its recording key (the content's sha256, as the real stores make it)."""
    content = recording if recording is not None else call_id.encode()
    key = hashlib.sha256(content).hexdigest()
    new = NewCall(
        call_id=call_id,
        caller_number=None,
        agent_id="A1024",
        started_at=None,
        channel_map={"0": "agent", "1": "caller"},
        priority=priority,
        content_type="audio/wav",
    )
    repository.register(new, StoredRecording(key, len(content)), pushed_by)
    return key


class FakeStore:
    """The recording store port in memory: `local_copy` hands out a temporary file with the stored bytes."""

    def __init__(self):
        self.recordings: dict[str, bytes] = {}
        self.deleted: list[str] = []

    def add(self, content: bytes) -> str:
        key = hashlib.sha256(content).hexdigest()
        self.recordings[key] = content
        return key

    def delete(self, key: str) -> None:
        self.deleted.append(key)
        self.recordings.pop(key, None)

    @contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        if key not in self.recordings:
            raise RecordingNotFoundError("no recording stored under this key")
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "recording.wav"
            path.write_bytes(self.recordings[key])
            yield path


def transcript_for(meta: CallMeta) -> CallTranscript:
    words = [Word(0.5, 1.0, "你好", 0.9), Word(1.0, 1.6, "热线", 0.9)]
    return CallTranscript(
        call_id=meta.call_id,
        duration=12.5,
        sample_rate=8000,
        channels=2,
        language="zh",
        model="fake",
        turns=[Turn("agent", "SPEAKER_00", 0, 0.5, 1.6, "你好热线", 0.9, words)],
        timings={"decode": 0.01, "transcribe": 0.02},
    )


def a_ticket() -> Ticket:
    ticket = Ticket.empty()
    ticket.fields["summary"] = TicketField("路灯不亮", 0.8)
    ticket.review = "check"
    return ticket


class FakeProcessor:
    """The `CallProcessor` port without models. `during_transcription` runs inside the transcribe phase (to look
    at the call while it is claimed); `transcribe_error` / `extract_error` are raised instead of a result;
    `ticket` None is extraction switched off."""

    def __init__(self):
        self.transcribed: list[tuple[str, bytes]] = []
        self.extracted: list[str] = []
        self.during_transcription: Callable[[], None] | None = None
        self.transcribe_error: BaseException | None = None
        self.extract_error: BaseException | None = None
        self.ticket: Ticket | None = a_ticket()

    def transcribe(self, recording: Path, meta: CallMeta, hook) -> CallTranscript:
        self.transcribed.append((meta.call_id, recording.read_bytes()))
        hook("decode")
        hook("transcribe", completed=0, total=2)
        if self.during_transcription is not None:
            self.during_transcription()
        if self.transcribe_error is not None:
            raise self.transcribe_error
        return transcript_for(meta)

    def extract(self, transcript: CallTranscript, meta: CallMeta) -> Ticket | None:
        self.extracted.append(transcript.call_id)
        if self.extract_error is not None:
            raise self.extract_error
        return self.ticket
