"""Speech segmentation with webrtcvad, tuned for telephone turns.

webrtcvad labels 10/20/30 ms frames; a frame decision is noisy, so spans are formed with a
hysteresis window (the py-webrtcvad approach), then short blips are dropped, short pauses bridged,
long spans split at their quietest point, and tonal spans (hold music, dial and beep tones, which
webrtcvad happily calls speech) rejected. Stereo recordings are segmented per channel.
"""

import logging
from dataclasses import dataclass

import numpy as np
import webrtcvad

from models import Audio, SpeechSpan

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VadOptions:
    """Segmentation knobs. Defaults are tuned on 8 kHz telephone calls (docs/BENCHMARKS.md).

    aggressiveness: webrtcvad mode 0-3; 2 keeps soft onsets on noisy lines (3 loses ~1% of
        speech for little gain in precision).
    frame_ms: webrtcvad frame length (10, 20 or 30).
    window_frames / on_ratio / off_ratio: a span opens when `on_ratio` of the last `window_frames`
        frames are voiced and closes when fewer than `off_ratio` are.
    min_speech_ms: spans shorter than this are dropped (clicks, breaths).
    min_silence_ms: pauses shorter than this inside one channel are bridged. Whisper's own
        default (2000 ms) merges a whole exchange; telephone turns change after ~250 ms.
    speech_pad_ms: padding added on both sides so word onsets/offsets are not clipped.
    max_span_s: longer spans are split at the quietest frame (Whisper windows are 30 s).
    max_tonality: spans in which more than this share of frames keep their loudest frequency in
        the same place are hold tones or beeps, not speech, and are rejected.
    """

    aggressiveness: int = 2
    frame_ms: int = 30
    window_frames: int = 8
    on_ratio: float = 0.6
    off_ratio: float = 0.3
    min_speech_ms: int = 200
    min_silence_ms: int = 300
    speech_pad_ms: int = 200
    max_span_s: float = 25.0
    max_tonality: float = 0.9
    min_level_dbfs: float = -55.0


class WebrtcSpeechDetector:
    """`SpeechDetector` backed by webrtcvad; one instance is cheap and reusable."""

    def __init__(self, options: VadOptions | None = None):
        self.options = options or VadOptions()

    def detect(self, audio: Audio) -> list[SpeechSpan]:
        """Speech spans of every channel, sorted by start time."""
        spans: list[SpeechSpan] = []
        for index, samples in enumerate(audio.channels):
            spans.extend(detect_speech(samples, audio.sample_rate, self.options, channel=index))
        return sorted(spans, key=lambda span: (span.start, span.channel))


def detect_speech(samples: np.ndarray, sample_rate: int, options: VadOptions, channel: int = 0) -> list[SpeechSpan]:
    """Speech spans of one channel of float32 samples at 8/16/32/48 kHz."""
    if sample_rate not in (8000, 16000, 32000, 48000):
        raise ValueError(f"webrtcvad needs 8/16/32/48 kHz audio, got {sample_rate}")
    frame_len = sample_rate * options.frame_ms // 1000
    n_frames = len(samples) // frame_len
    if n_frames == 0:
        return []
    frames = samples[: n_frames * frame_len].reshape(n_frames, frame_len)
    pcm = (np.clip(frames, -1.0, 1.0) * 32767).astype("<i2")
    vad = webrtcvad.Vad(options.aggressiveness)
    level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    voiced = np.array(
        [
            lvl > options.min_level_dbfs and vad.is_speech(row.tobytes(), sample_rate)
            for row, lvl in zip(pcm, level, strict=True)
        ]
    )

    frame_s = options.frame_ms / 1000
    raw = _hysteresis(voiced, options)
    spans = [(start * frame_s, end * frame_s) for start, end in raw]
    spans = _bridge(spans, options.min_silence_ms / 1000)
    spans = [(s, e) for s, e in spans if e - s >= options.min_speech_ms / 1000]
    duration = len(samples) / sample_rate
    pad = options.speech_pad_ms / 1000
    padded = [(max(0.0, s - pad), min(duration, e + pad)) for s, e in spans]
    padded = _bridge(padded, 0.0)
    # split after padding: padding the pieces of a split span would make them overlap and re-merge
    padded = [piece for span in padded for piece in _split_long(span, level, frame_s, options.max_span_s)]
    result = []
    for start, end in padded:
        segment = samples[int(start * sample_rate) : int(end * sample_rate)]
        tonality = spectral_tonality(segment, sample_rate)
        if tonality > options.max_tonality:
            logger.debug("rejected tonal span %.2f-%.2f (tonality %.2f)", start, end, tonality)
            continue
        result.append(SpeechSpan(round(start, 3), round(end, 3), channel))
    return result


def spectral_tonality(segment: np.ndarray, sample_rate: int) -> float:
    """Share of a span's loud frames that continue a steady sinusoid (near 1 for hold and beep tones).

    A voiced speech frame spreads its energy over harmonics and formants and its pitch glides
    from frame to frame; a hold tone, beep or ringback puts nearly all its energy into one peak
    that stays in the same frequency bin.
    """
    n_fft = sample_rate * 32 // 1000
    hop = n_fft // 2
    count = (len(segment) - n_fft) // hop + 1
    if count < 4:
        return 0.0
    window = np.hanning(n_fft)
    frames = np.stack([segment[i * hop : i * hop + n_fft] * window for i in range(count)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    energy = power.sum(axis=1)
    if energy.max() <= 0:
        return 0.0
    loud = power[energy >= 0.1 * energy.max()]
    peak = loud.argmax(axis=1)
    padded = np.pad(loud, ((0, 0), (1, 1)))
    rows = np.arange(len(loud))
    around_peak = padded[rows, peak] + padded[rows, peak + 1] + padded[rows, peak + 2]
    sinusoid = around_peak / loud.sum(axis=1) > 0.8
    # speech pitch glides from frame to frame; a tone holds its frequency to the bin
    steady = (peak[1:] == peak[:-1]) & sinusoid[1:] & sinusoid[:-1]
    return float(np.mean(steady)) if len(steady) else 0.0


def _hysteresis(voiced: np.ndarray, options: VadOptions) -> list[tuple[int, int]]:
    """Frame index spans [start, end) from per-frame decisions, with a sliding-window trigger."""
    window = options.window_frames
    spans = []
    triggered = False
    start = 0
    for index in range(len(voiced)):
        lo = max(0, index - window + 1)
        ratio = voiced[lo : index + 1].sum() / window
        if not triggered and ratio >= options.on_ratio:
            triggered = True
            # the span began at the first voiced frame of the window that triggered it
            start = lo + int(np.argmax(voiced[lo : index + 1]))
        elif triggered and ratio < options.off_ratio:
            triggered = False
            last_voiced = lo + int(np.flatnonzero(voiced[lo : index + 1])[-1]) if voiced[lo : index + 1].any() else lo
            spans.append((start, last_voiced + 1))
    if triggered:
        spans.append((start, len(voiced)))
    return spans


def _bridge(spans: list[tuple[float, float]], max_gap: float) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start - merged[-1][1] <= max_gap:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _split_long(
    span: tuple[float, float], level: np.ndarray, frame_s: float, max_s: float
) -> list[tuple[float, float]]:
    start, end = span
    if end - start <= max_s:
        return [span]
    # cut at the quietest frame in the middle half, so neither piece is tiny
    lo = int((start + (end - start) * 0.25) / frame_s)
    hi = int((start + (end - start) * 0.75) / frame_s)
    cut = (lo + int(np.argmin(level[lo:hi]))) * frame_s
    return _split_long((start, cut), level, frame_s, max_s) + _split_long((cut, end), level, frame_s, max_s)
