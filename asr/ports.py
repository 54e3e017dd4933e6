"""The ports the pipeline drives; each has a real adapter in asr/ and a fake in the tests."""

from typing import Protocol

import numpy as np

from asr.diarize.base import DiarizationResult
from models import Audio, Segment, SpeechSpan


class SpeechDetector(Protocol):
    def detect(self, audio: Audio) -> list[SpeechSpan]:
        """Speech spans of every channel of `audio`, sorted by start."""


class Transcriber(Protocol):
    @property
    def model_name(self) -> str:
        """The Whisper model in use (a path or a name), recorded in the transcript."""

    def transcribe(self, samples: np.ndarray, spans: list[SpeechSpan], channel: int = 0) -> list[Segment]:
        """ASR segments with word timings for one channel, restricted to `spans`."""


class Diarizer(Protocol):
    name: str

    def diarize(self, audio: Audio, speech: list[SpeechSpan]) -> DiarizationResult:
        """Who spoke when, as a pyannote.core Annotation over the call's timeline."""


class SpeakerEncoder(Protocol):
    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """One L2-normalised voice embedding for a stretch of one speaker's speech."""

    def embed_windows_many(
        self, pieces: list[np.ndarray], sample_rate: int, hop_s: float
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per stretch of audio: embeddings of sliding windows and the windows' centre times."""
