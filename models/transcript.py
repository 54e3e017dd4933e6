"""Transcript types: what the ASR emits and what a call's transcript document holds.

The JSON document written by `hotline process` is `CallTranscript.to_dict()`; its schema is
documented in docs/TRANSCRIPT_SCHEMA.md and versioned by SCHEMA_VERSION.
"""

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = "1.0"


@dataclass
class Word:
    """One recognised word (for Chinese: usually one to a few characters) with its timing."""

    start: float
    end: float
    text: str
    probability: float


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
class PipelineWarning:
    """Something the pipeline noticed and acted on (e.g. a dropped hallucination)."""

    code: str
    message: str
    start: float | None = None
    end: float | None = None


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
    schema_version: str = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def text(self) -> str:
        return "".join(turn.text for turn in self.turns)
