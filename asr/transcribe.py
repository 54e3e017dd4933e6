"""Mandarin transcription with faster-whisper over VAD speech spans.

Speech spans of one channel are packed into windows of up to `chunk_s` seconds (Whisper's
encoder always costs a full 30 s window, so packing keeps it busy) and transcribed in batches
with word timestamps. Output text is converted to simplified characters.
"""

import bisect
import functools
import logging
from dataclasses import dataclass

import numpy as np

from asr.chinese import to_simplified
from asr.guards import has_repetition_loop
from models import ModelLoadError, Segment, SpeechSpan, Word

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TranscribeOptions:
    """Decoding knobs for calls; defaults measured on the DEV calls (docs/BENCHMARKS.md).

    language: calls are Mandarin; fixing it avoids misdetection on short or noisy audio.
    initial_prompt: none by default: the popular "以下是普通话的句子。" adds punctuation but costs
        CER on calls and makes Whisper end windows early (docs/BENCHMARKS.md); OpenCC already
        gives simplified characters.
    hotwords: place and department names of the deployment, passed to Whisper as a prompt prefix.
    chunk_s: speech spans are packed into windows up to this long.
    batch_size: windows decoded together; 1 decodes sequentially.
    condition_on_previous_text: off, because carrying text across windows feeds repetition loops.
    """

    language: str = "zh"
    initial_prompt: str | None = None
    hotwords: tuple[str, ...] = ()
    beam_size: int = 5
    chunk_s: float = 30.0
    batch_size: int = 8
    temperature: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    condition_on_previous_text: bool = False
    compression_ratio_threshold: float = 2.4
    log_prob_threshold: float = -1.0
    no_speech_threshold: float = 0.6


@dataclass(frozen=True)
class WhisperConfig:
    """Which model to load and where to run it."""

    model_path: str
    device: str = "auto"
    compute_type: str = "default"
    cpu_threads: int = 0
    download_root: str | None = None


@functools.lru_cache(maxsize=2)
def load_whisper(config: WhisperConfig):
    """Load a faster-whisper model once per process."""
    try:
        from faster_whisper import WhisperModel
    except ImportError as error:  # pragma: no cover - faster-whisper is a core dependency
        raise ModelLoadError("faster-whisper is not installed: pip install faster-whisper") from error
    compute_type = config.compute_type
    if compute_type == "default":
        compute_type = "int8" if _resolved_device(config.device) == "cpu" else "float16"
    try:
        return WhisperModel(
            config.model_path,
            device=config.device,
            compute_type=compute_type,
            cpu_threads=config.cpu_threads,
            download_root=config.download_root,
        )
    except Exception as error:  # CTranslate2/huggingface raise many unrelated types
        raise ModelLoadError(f"cannot load Whisper model {config.model_path!r}: {error}") from error


class FasterWhisperTranscriber:
    """`Transcriber` backed by faster-whisper."""

    def __init__(self, config: WhisperConfig, options: TranscribeOptions | None = None):
        self.config = config
        self.options = options or TranscribeOptions()

    @property
    def model_name(self) -> str:
        return self.config.model_path

    def transcribe(self, samples: np.ndarray, spans: list[SpeechSpan], channel: int = 0) -> list[Segment]:
        """Segments of one channel's 16 kHz samples, restricted to the given speech spans."""
        if not spans:
            return []
        model = load_whisper(self.config)
        opts = self.options
        speech, timeline = pack_speech(samples, spans, opts.chunk_s)
        common = dict(
            language=opts.language,
            beam_size=opts.beam_size,
            temperature=list(opts.temperature),
            condition_on_previous_text=opts.condition_on_previous_text,
            compression_ratio_threshold=opts.compression_ratio_threshold,
            log_prob_threshold=opts.log_prob_threshold,
            no_speech_threshold=opts.no_speech_threshold,
            initial_prompt=opts.initial_prompt or None,
            hotwords=" ".join(opts.hotwords) or None,
            word_timestamps=True,
            vad_filter=False,
        )
        windows = timeline.windows
        if opts.batch_size == 1:
            raw, _ = model.transcribe(speech, clip_timestamps=[t for window in windows for t in window], **common)
            return [_convert(segment, channel, timeline) for segment in raw]

        from faster_whisper import BatchedInferencePipeline

        raw, _ = BatchedInferencePipeline(model).transcribe(
            speech,
            clip_timestamps=[{"start": start, "end": end} for start, end in windows],
            batch_size=opts.batch_size,
            **common,
        )
        by_window: list[list] = [[] for _ in windows]
        for segment in raw:
            # by the midpoint: a segment's start is rounded to Whisper's 20 ms timestamp grid and
            # can fall just before its own window
            by_window[_window_index(windows, (segment.start + segment.end) / 2)].append(segment)
        segments = []
        for index, (start, end) in enumerate(windows):
            found = by_window[index]
            if _window_failed(found, start, end, opts.compression_ratio_threshold):
                # A batched window is decoded once, without Whisper's temperature fallback: a
                # repetition loop eats its token budget and the rest of the window is lost.
                # Decode it again sequentially, with fallback.
                logger.info("re-decoding window %.1f-%.1f s of channel %d sequentially", start, end, channel)
                found, _ = model.transcribe(speech, clip_timestamps=[start, end], **common)
                found = list(found)
            segments.extend(_convert(segment, channel, timeline) for segment in found)
        return segments


def _window_index(windows: list[tuple[float, float]], t: float) -> int:
    starts = [start for start, _ in windows]
    return max(0, bisect.bisect_right(starts, t) - 1)


def _window_failed(segments: list, start: float, end: float, max_compression: float) -> bool:
    """A window whose decoding looped or stopped early (its words cover too little of it)."""
    if end - start < 2.0:
        return False
    if not segments:
        return True
    if any(segment.compression_ratio > max_compression or has_repetition_loop(segment.text) for segment in segments):
        return True
    words = [word for segment in segments for word in (segment.words or [])]
    last = max((word.end for word in words), default=start)
    return last < end - max(3.0, 0.2 * (end - start))


@dataclass
class SpeechTimeline:
    """Maps times in the packed speech signal back to times in the recording.

    `pieces` are (packed_start, original_start, length) in seconds; `windows` are the packed
    (start, end) windows handed to Whisper, each at most `chunk_s` long.
    """

    pieces: list[tuple[float, float, float]]
    windows: list[tuple[float, float]]

    def to_original(self, start: float, end: float) -> tuple[float, float]:
        """Original (start, end) of a packed interval, kept inside the piece that holds its middle.

        A word never straddles two pieces: whatever lies between them in the recording (the
        other party's turn, a hold) was not in the packed audio.
        """
        starts = [piece[0] for piece in self.pieces]
        index = max(0, bisect.bisect_right(starts, (start + end) / 2) - 1)
        packed_start, original_start, length = self.pieces[index]
        return (
            original_start + min(max(start - packed_start, 0.0), length),
            original_start + min(max(end - packed_start, 0.0), length),
        )

    def to_original_bounds(self, start: float, end: float) -> tuple[float, float]:
        """Original (start, end) of a packed interval that may cover several pieces (a segment)."""
        starts = [piece[0] for piece in self.pieces]
        first = max(0, bisect.bisect_right(starts, start) - 1)
        last = max(first, bisect.bisect_left(starts, end) - 1)
        return (
            self.pieces[first][1] + min(max(start - self.pieces[first][0], 0.0), self.pieces[first][2]),
            self.pieces[last][1] + min(max(end - self.pieces[last][0], 0.0), self.pieces[last][2]),
        )


def pack_speech(
    samples: np.ndarray, spans: list[SpeechSpan], chunk_s: float, sample_rate: int = 16000
) -> tuple[np.ndarray, SpeechTimeline]:
    """Concatenate the speech spans of one channel, dropping what lies between them.

    On a dual-channel call each channel is silent about half the time (the other party is
    talking); Whisper's encoder costs a full 30 s window however little speech it holds, so
    packing speech only halves the work. Windows break between spans, never inside one.
    """
    parts: list[np.ndarray] = []
    pieces: list[tuple[float, float, float]] = []
    windows: list[tuple[float, float]] = []
    packed = 0.0
    for span in sorted(spans, key=lambda s: s.start):
        audio = samples[int(span.start * sample_rate) : int(span.end * sample_rate)]
        length = len(audio) / sample_rate
        if length <= 0:
            continue
        if windows and packed + length - windows[-1][0] <= chunk_s:
            windows[-1] = (windows[-1][0], packed + length)
        else:
            windows.append((packed, packed + length))
        parts.append(audio)
        pieces.append((packed, span.start, length))
        packed += length
    speech = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return speech.astype(np.float32, copy=False), SpeechTimeline(pieces, windows)


def _convert(segment, channel: int, timeline: SpeechTimeline) -> Segment:
    words = []
    for word in segment.words or []:
        if word.word.strip():
            start, end = timeline.to_original(word.start, word.end)
            words.append(
                Word(
                    round(start, 3), round(end, 3), to_simplified(word.word.strip()), round(float(word.probability), 4)
                )
            )
    start, end = timeline.to_original_bounds(segment.start, segment.end)
    return Segment(
        start=round(start, 3),
        end=round(end, 3),
        text=to_simplified(segment.text.strip()),
        words=words,
        channel=channel,
        avg_logprob=float(segment.avg_logprob),
        no_speech_prob=float(segment.no_speech_prob),
        compression_ratio=float(segment.compression_ratio),
    )


def _resolved_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import ctranslate2

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:
        return "cpu"
