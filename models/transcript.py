"""Transcript types: what the ASR emits and what a call's transcript document holds.

The JSON document written by `hotline process` is `CallTranscript.to_dict()`; its schema is
documented in docs/TRANSCRIPT_SCHEMA.md and versioned by SCHEMA_VERSION.
"""

from dataclasses import asdict, dataclass, field
from typing import Any

from models.errors import TranscriptFormatError
from models.pipeline_warning import PipelineWarning
from models.ticket import Ticket

SCHEMA_VERSION = "1.3"
"""1.3 makes the ticket's `review_reasons` and `warnings` flags ({code, field, value, threshold, message}; the
reasons were strings, now each string is its `message`); 1.2 adds `words[].raw` (what was heard where a repair
changed a word); 1.1 adds `ticket`; 1.0 to 1.2 documents read as before."""


@dataclass
class Word:
    """One recognised word (for Chinese: usually one to a few characters) with its timing."""

    start: float
    end: float
    text: str
    probability: float
    raw: str | None = None
    """What the ASR wrote, where a repair changed `text` (extract.repair); None when unchanged."""


@dataclass
class Segment:
    """One ASR segment of one channel, times in seconds from the start of the file."""

    start: float
    end: float
    text: str
    words: list[Word]
    channel: int = 0
    avg_logprob: float = 0.0
    no_speech_prob: float = 0.0
    compression_ratio: float = 1.0


@dataclass
class Turn:
    """A stretch of speech by one speaker, with its role in the call."""

    role: str
    speaker: str
    channel: int | None
    start: float
    end: float
    text: str
    confidence: float
    words: list[Word]


@dataclass
class CallTranscript:
    """A call's speaker-attributed transcript, the output of the core pipeline."""

    call_id: str
    duration: float
    sample_rate: int
    channels: int
    language: str
    model: str
    turns: list[Turn]
    diarization: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[PipelineWarning] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    ticket: Ticket | None = None
    schema_version: str = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["ticket"] = None if self.ticket is None else self.ticket.to_dict()  # the ticket's own JSON form
        return document

    @classmethod
    def from_dict(cls, data: Any) -> "CallTranscript":
        """Read a transcript document back (any 1.x schema). Its ticket is not read: extraction makes a new one.

        Raises TranscriptFormatError naming the first problem.
        """
        if not isinstance(data, dict):
            raise TranscriptFormatError("a transcript document is a JSON object")
        version = str(data.get("schema_version", SCHEMA_VERSION))
        if not version.startswith("1."):
            raise TranscriptFormatError(f"unsupported transcript schema_version {version!r}")
        turns_data = data.get("turns")
        if not isinstance(turns_data, list):
            raise TranscriptFormatError("'turns' must be a list")
        turns = []
        for index, item in enumerate(turns_data):
            try:
                words = [
                    Word(
                        float(w["start"]),
                        float(w["end"]),
                        str(w["text"]),
                        float(w.get("probability", 1.0)),
                        None if w.get("raw") is None else str(w["raw"]),
                    )
                    for w in item.get("words") or []
                ]
                turns.append(
                    Turn(
                        role=str(item["role"]),
                        speaker=str(item.get("speaker", item["role"])),
                        channel=item.get("channel"),
                        start=float(item["start"]),
                        end=float(item["end"]),
                        text=str(item.get("text") or ""),
                        confidence=float(item.get("confidence", 1.0)),
                        words=words,
                    )
                )
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                raise TranscriptFormatError(f"turn {index}: {type(error).__name__} {error}") from None
        try:
            return cls(
                call_id=str(data.get("call_id") or "call"),
                duration=float(data.get("duration") or (turns[-1].end if turns else 0.0)),
                sample_rate=int(data.get("sample_rate") or 0),
                channels=int(data.get("channels") or 0),
                language=str(data.get("language") or "zh"),
                model=str(data.get("model") or ""),
                turns=turns,
                diarization=dict(data.get("diarization") or {}),
                timings=dict(data.get("timings") or {}),
                warnings=[PipelineWarning(**w) for w in data.get("warnings") or []],
                metadata=dict(data.get("metadata") or {}),
            )
        except (TypeError, ValueError) as error:
            raise TranscriptFormatError(f"{type(error).__name__} {error}") from None

    @property
    def text(self) -> str:
        return "".join(turn.text for turn in self.turns)
