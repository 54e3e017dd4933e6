"""Streaming speech segmentation: one channel's PCM chunks in, finished utterances out, as the call goes on.

The batch detector (`asr.vad`) sees the whole recording; a live call needs each utterance as soon as its
speaker stops. The same webrtcvad frames, level floor and hysteresis window decide speech frame by frame;
an utterance is open from the first frame that triggers the window and closes once `end_silence_ms` has
passed without speech (bridging the shorter pauses the batch detector bridges), padded like a batch span,
then short blips and hold or beep tones are dropped (`spectral_tonality`, as in batch). One that runs
longer than `max_utterance_s` is closed at once if the speaker is pausing, else cut at its quietest frame.

Determinism, which live restarts rely on. Frames lie on a fixed grid from the call's first sample, and the
result is a function of the audio only: chunk sizes change nothing. webrtcvad adapts to the line as it
goes, so its state is part of the result; it is restarted (with an empty hysteresis window) whenever an
utterance closes and after `idle_reset_s` of silence. A `ChannelSegmenter` built from a `ChannelPosition`
taken after a restart point therefore makes the very same decisions as the one that kept running, from
audio it is fed from `ChannelPosition.resume_sample` on; utterances it finds again that were already handed
out (the pieces of a long one cut before the restart point) are recognised by `emitted_until` and skipped.
"""

import logging
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import webrtcvad

from asr.vad import VadOptions, spectral_tonality

logger = logging.getLogger(__name__)

WEBRTC_RATES = (8000, 16000, 32000, 48000)


@dataclass(frozen=True)
class StreamVadOptions:
    """Knobs of live segmentation; the frame-level ones come from the batch `VadOptions`.

    vad: webrtcvad mode, frame length, hysteresis window, minimum speech, padding, tone rejection and
        level floor, as in batch (its `min_silence_ms` and `max_span_s` are replaced by the two below).
    end_silence_ms: an utterance closes after this much silence. The time between a speaker stopping
        and their words reaching the screen starts with it; shorter cuts phrases apart (a comma's pause
        is 200-300 ms), and a phrase decoded alone loses context (docs/BENCHMARKS.md).
    max_utterance_s: an utterance this long is closed at once if the speaker is pausing, else cut at its
        quietest frame in its second half, so a monologue still reaches the screen in pieces.
    idle_reset_s: after this much silence with nothing open the detector is restarted, so a restart point
        (`ChannelPosition`) exists during a long hold as well as after each utterance.
    """

    vad: VadOptions = field(default_factory=VadOptions)
    end_silence_ms: int = 600
    max_utterance_s: float = 20.0
    idle_reset_s: float = 10.0


@dataclass(frozen=True)
class Utterance:
    """One channel's finished stretch of speech; sample offsets count from the call's first sample.

    `start`/`end` bound the padded audio in `samples` (int16 at the stream's rate); `speech_end` is the end
    of its last speech frame (what a listener hears as the speaker stopping); `decided_at` is the end of
    the frame that closed it (`decided_at - speech_end` is the segmenter's own delay) and `closed_at` how
    much of the channel had been fed by then (the rest of the chunk that held that frame); `cut` is true
    for a piece of a longer utterance cut at `max_utterance_s`.
    """

    channel: int
    start: int
    end: int
    speech_end: int
    decided_at: int
    closed_at: int
    samples: np.ndarray
    cut: bool = False


@dataclass(frozen=True)
class ChannelPosition:
    """Where a channel's segmentation can be taken up again (JSON-friendly ints).

    reset_sample: the detector restarted here (on the frame grid). resume_sample: every sample before it is
    in a handed-out utterance or silence; the segmenter needs audio from here on. emitted_until: the end of
    the last utterance handed out; one found again that ends there or before is not handed out twice.
    """

    reset_sample: int
    resume_sample: int
    emitted_until: int

    @classmethod
    def at(cls, sample: int, frame_len: int) -> "ChannelPosition":
        """A fresh start at `sample`: the detector starts at the next frame boundary."""
        return cls(-(-sample // frame_len) * frame_len, sample, sample)


class ChannelSegmenter:
    """Closes one channel's utterances as int16 PCM is fed to it; see the module docstring."""

    def __init__(
        self,
        sample_rate: int,
        options: StreamVadOptions | None = None,
        channel: int = 0,
        position: ChannelPosition | None = None,
    ):
        if sample_rate not in WEBRTC_RATES:
            raise ValueError(f"live segmentation needs 8/16/32/48 kHz audio, got {sample_rate} Hz")
        self.options = options or StreamVadOptions()
        self.sample_rate = sample_rate
        self.channel = channel
        vad = self.options.vad
        self.frame_len = sample_rate * vad.frame_ms // 1000
        self._pad = sample_rate * vad.speech_pad_ms // 1000
        self._end_silence_frames = -(-self.options.end_silence_ms // vad.frame_ms)
        self._max_samples = int(self.options.max_utterance_s * sample_rate)
        self._idle_frames = int(self.options.idle_reset_s * 1000 / vad.frame_ms)
        self._min_speech = sample_rate * vad.min_speech_ms // 1000
        position = position or ChannelPosition.at(0, self.frame_len)
        if position.reset_sample % self.frame_len:
            raise ValueError(f"reset_sample {position.reset_sample} is not on the {vad.frame_ms} ms frame grid")
        self._emitted_until = position.emitted_until
        # audio kept from `_buffer_start` to `fed` (the samples fed so far, counted from the call's start)
        self._buffer = np.zeros(0, dtype=np.int16)
        self._buffer_start = position.resume_sample
        self.fed = position.resume_sample
        self._next_frame = position.reset_sample // self.frame_len
        self._restart(position.reset_sample // self.frame_len, position.resume_sample)

    @property
    def position(self) -> ChannelPosition:
        """Where a new segmenter takes over with the same results (see the module docstring)."""
        return ChannelPosition(self._reset_frame * self.frame_len, self._resume, self._emitted_until)

    def feed(self, pcm: np.ndarray) -> list[Utterance]:
        """Take the next samples of this channel (int16, shape (n,)); the utterances they close."""
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"a channel is fed int16 samples shaped (n,), got {pcm.dtype} {pcm.shape}")
        self._buffer = np.concatenate([self._buffer, pcm])
        self.fed += len(pcm)
        closed: list[Utterance] = []
        while (self._next_frame + 1) * self.frame_len <= self.fed:
            closed.extend(self._frame(self._next_frame))
            self._next_frame += 1
        self._trim()
        return closed

    def finish(self) -> list[Utterance]:
        """The call ended: the open utterance, if any, closes with the audio there is."""
        if self._open_start is None:
            return []
        speech_end = (self._next_frame if self._triggered else self._last_voiced_end) * self.frame_len
        return self._close(speech_end, min(speech_end + self._pad, self.fed), restart_at=self._next_frame)

    # the frame machine

    def _restart(self, frame: int, floor: int) -> None:
        """A fresh detector from `frame` on; no utterance may start before sample `floor`."""
        self._vad = webrtcvad.Vad(self.options.vad.aggressiveness)
        self._window: deque[bool] = deque(maxlen=self.options.vad.window_frames)
        self._triggered = False
        self._reset_frame = frame
        self._resume = floor
        self._floor = floor
        self._open_start: int | None = None  # first sample of the open utterance (padded)
        self._open_first_frame = 0
        self._last_voiced_end = frame  # frame index after the last speech frame
        self._levels: list[float] = []  # per frame since the open utterance's first frame

    def _frame(self, index: int) -> list[Utterance]:
        vad = self.options.vad
        start = index * self.frame_len
        frame = self._samples(start, start + self.frame_len)
        level = 10 * np.log10(np.mean((frame / 32768.0) ** 2) + 1e-12)
        voiced = bool(level > vad.min_level_dbfs and self._vad.is_speech(frame.tobytes(), self.sample_rate))
        self._window.append(voiced)
        ratio = sum(self._window) / vad.window_frames
        first_in_window = index - len(self._window) + 1
        if not self._triggered and ratio >= vad.on_ratio:
            self._triggered = True
            if self._open_start is None:
                # the utterance began at the first voiced frame of the window that triggered it
                first = first_in_window + list(self._window).index(True)
                self._open_first_frame = first
                self._open_start = max(self._floor, first * self.frame_len - self._pad)
                self._levels = self._levels_since(first, index)
        elif self._triggered and ratio < vad.off_ratio:
            self._triggered = False
            last = max((i for i, v in enumerate(self._window) if v), default=0)
            self._last_voiced_end = first_in_window + last + 1
        if self._open_start is None:
            if index + 1 - self._reset_frame >= self._idle_frames and not any(self._window):
                self._restart(index + 1, (index + 1) * self.frame_len)
            return []
        self._levels.append(level)

        end_of_frame = (index + 1) * self.frame_len
        if not self._triggered:
            speech_end = self._last_voiced_end * self.frame_len
            silent = index + 1 - self._last_voiced_end >= self._end_silence_frames
            if silent or end_of_frame - self._open_start >= self._max_samples:
                return self._close(speech_end, min(speech_end + self._pad, end_of_frame), restart_at=index + 1)
        elif end_of_frame - self._open_start >= self._max_samples:
            return self._cut(index)
        return []

    def _levels_since(self, first: int, index: int) -> list[float]:
        """Frame levels of frames first..index-1, recomputed from the buffer (they came before the trigger)."""
        levels = []
        for frame_index in range(first, index):
            frame = self._samples(frame_index * self.frame_len, (frame_index + 1) * self.frame_len)
            levels.append(10 * np.log10(np.mean((frame / 32768.0) ** 2) + 1e-12))
        return levels

    def _close(self, speech_end: int, end: int, restart_at: int) -> list[Utterance]:
        start, speech_start = self._open_start, self._open_first_frame * self.frame_len
        self._restart(restart_at, end)
        if speech_end - speech_start < self._min_speech:
            return []  # a click or a breath
        return self._hand_out(start, end, speech_end, cut=False)

    def _cut(self, index: int) -> list[Utterance]:
        """A long utterance still in speech: hand out up to its quietest frame in the second half."""
        first = self._open_first_frame
        half = len(self._levels) // 2
        quietest = half + int(np.argmin(self._levels[half:]))
        cut_frame = first + quietest
        cut = cut_frame * self.frame_len
        start = self._open_start
        self._open_start, self._open_first_frame = cut, cut_frame
        self._levels = self._levels[quietest:]
        return self._hand_out(start, cut, cut, cut=True)

    def _hand_out(self, start: int, end: int, speech_end: int, cut: bool) -> list[Utterance]:
        if end <= self._emitted_until:
            return []  # handed out before a restart (a piece of a long utterance)
        if end <= start:
            return []
        samples = self._samples(start, end)
        tonality = spectral_tonality(samples.astype(np.float32) / 32768.0, self.sample_rate)
        if tonality > self.options.vad.max_tonality:
            logger.debug("rejected tonal utterance on channel %d (tonality %.2f)", self.channel, tonality)
            return []
        self._emitted_until = end
        decided_at = min(self._next_frame + 1, self.fed // self.frame_len) * self.frame_len
        return [Utterance(self.channel, start, end, speech_end, decided_at, self.fed, samples.copy(), cut)]

    def _samples(self, start: int, end: int) -> np.ndarray:
        return self._buffer[start - self._buffer_start : end - self._buffer_start]

    def _trim(self) -> None:
        """Drop audio no utterance can reach any more: before the open one, or before the pad and window."""
        keep_from = self._open_start
        if keep_from is None:
            lookback = self._pad + self.options.vad.window_frames * self.frame_len
            keep_from = max(self._floor, self._next_frame * self.frame_len - lookback)
        # copy only when a second or more can go, so feeding stays linear in the audio
        if keep_from - self._buffer_start >= self.sample_rate:
            self._buffer = self._buffer[keep_from - self._buffer_start :].copy()
            self._buffer_start = keep_from
