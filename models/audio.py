"""Decoded audio and speech spans."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Audio:
    """A decoded recording: one float32 array per channel, all at `sample_rate`.

    Channels are kept apart because dual-channel recorders put the operator and the caller on
    separate channels, which makes diarization exact.
    """

    channels: list[np.ndarray]
    sample_rate: int
    source_sample_rate: int
    source_channels: int
    codec: str

    @property
    def duration(self) -> float:
        return len(self.channels[0]) / self.sample_rate if self.channels else 0.0

    @property
    def is_stereo(self) -> bool:
        return len(self.channels) > 1

    def mono(self) -> np.ndarray:
        """Average of the channels, for models that take one signal."""
        if len(self.channels) == 1:
            return self.channels[0]
        return np.mean(np.stack(self.channels), axis=0).astype(np.float32)


@dataclass(frozen=True)
class SpeechSpan:
    """A stretch of speech found by the VAD, in seconds from the start of the file."""

    start: float
    end: float
    channel: int = 0

    @property
    def duration(self) -> float:
        return self.end - self.start
