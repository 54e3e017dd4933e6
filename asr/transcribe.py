"""Mandarin transcription with faster-whisper over VAD speech spans.

Speech spans of one channel are packed into windows of up to `chunk_s` seconds (Whisper's
encoder always costs a full 30 s window, so packing keeps it busy) and transcribed in batches
with word timestamps. Output text is converted to simplified characters.

A batched window is decoded once, without temperature fallback: it can loop, or end early and
drop the rest of the window. A window that loops is decoded again whole; then the speech left
without words (`asr.coverage`) is decoded again apart from what was recognised (the gaps packed
together, then one still uncovered alone), both sequentially with a short temperature fallback. Re-decodes share a
budget per channel counted in seconds of audio (`RedecodeOptions`), so a difficult call costs a bounded
multiple of an easy one, and the same recording gets the same transcript however busy the machine is;
what is still uncovered becomes an `untranscribed` warning in `pipeline.run`.
"""

import bisect
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from asr.chinese import to_simplified
from asr.coverage import CoverageOptions, fill_gaps
from asr.guards import has_repetition_loop
from asr.numbers import NumberOptions, redecode_numbers
from models import ModelLoadError, Segment, SpeechSpan, Word

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RedecodeOptions:
    """Second decodes of what the batched pass lost, and their bounds (docs/BENCHMARKS.md).

    gaps: decode speech left without words (asr.coverage) again apart from the recognised
        speech. Off, a window that stops early is decoded again whole instead, as one that loops
        always is (the behaviour before gaps were repaired).
    context_s: audio kept on each side of a gap when it is decoded again, so its first and last
        words are not cut; words recognised in the context are not taken (they exist already).
    temperature: fallback temperatures of a re-decode. Whisper's default tries six, and on a
        window that keeps looping each try costs a full token budget: three bound the worst case.
    tokens_per_s: a re-decode writes at most this many tokens per second of its audio (plus 16).
        Mandarin at five to seven characters a second needs about ten with timestamps; a loop
        stops here instead of at Whisper's 448 tokens.
    budget: re-decodes of a channel start only while what they have cost is less than this share
        of what its batched pass cost, both counted as audio seconds plus `encoder_charge_s` per
        window; one that has started runs to its end (its cost bounded by `tokens_per_s` and
        `temperature`), so a call that needs repairs costs at most its batched pass x about
        (1 + budget) plus one re-decode. 1.0: a window that looped, decoded again whole, still
        leaves room for the gaps another window left (dev-0013: 23.6 s untranscribed at 0.5).
        Counted in audio, not in wall time: on a busy machine a wall-clock budget ran out sooner
        and left more of the same call untranscribed.
    encoder_charge_s: what each re-decode costs on top of its audio: Whisper's encoder always
        runs a full 30 s window, so a short clip costs more than its length.
    """

    gaps: bool = True
    context_s: float = 0.5
    temperature: tuple[float, ...] = (0.0, 0.4, 0.8)
    tokens_per_s: float = 10.0
    budget: float = 1.0
    encoder_charge_s: float = 5.0


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
    redecode: second decodes of looping windows and of speech left without words, and their bounds.
    coverage: what counts as speech left without words.
    numbers: segments holding a misheard phone number are decoded again with a digits prompt
        (asr.numbers); None switches it off.
    encoder_min_s: None: the encoder sees Whisper's full 30 s window, padding included. A number: only the
        window's audio plus `ENCODER_TAIL_S` of its padding, at least this long (a 3 s utterance costs a tenth of
        the encoder time; CTranslate2 takes shorter features). Measured for live utterances (docs/BENCHMARKS.md).
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
    redecode: RedecodeOptions = field(default_factory=RedecodeOptions)
    coverage: CoverageOptions = field(default_factory=CoverageOptions)
    numbers: NumberOptions | None = field(default_factory=NumberOptions)
    encoder_min_s: float | None = None


ENCODER_TAIL_S = 1.0
"""Padding (silence after the audio) the encoder still sees with `encoder_min_s`: Whisper ends a text where the
speech stops and the padding starts; without any it guesses."""


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


@functools.lru_cache(maxsize=4)
def short_window(config: WhisperConfig, min_s: float):
    """The loaded model (`load_whisper`, shared) with an encoder that sees a window's audio, not its 30 s.

    faster-whisper pads every window's features to 30 s with zeros before the encoder, whose cost is that of
    30 s however short the speech. This model cuts the zero padding off again, keeping `ENCODER_TAIL_S` of it
    and at least `min_s` in all; the decoder and the word alignment read the shorter encoder output as they
    read the full one."""
    from faster_whisper import WhisperModel

    base = load_whisper(config)
    frame_s = base.feature_extractor.time_per_frame
    tail, least = round(ENCODER_TAIL_S / frame_s), round(min_s / frame_s)

    class ShortWindowWhisper(WhisperModel):
        def __init__(self):  # the loaded model's state, shared: no second copy of the weights
            self.__dict__.update(base.__dict__)

        def encode(self, features: np.ndarray):
            full = features.shape[-1]
            columns = np.flatnonzero(np.any(features != 0, axis=tuple(range(features.ndim - 1))))
            content = int(columns[-1]) + 1 if len(columns) else 0
            frames = min(full, max(content + tail, least))
            frames += frames % 2  # the encoder's convolution halves the frames
            return super().encode(np.ascontiguousarray(features[..., : min(frames, full)]))

    return ShortWindowWhisper()


class FasterWhisperTranscriber:
    """`Transcriber` backed by faster-whisper."""

    def __init__(self, config: WhisperConfig, options: TranscribeOptions | None = None):
        self.config = config
        self.options = options or TranscribeOptions()

    @property
    def model_name(self) -> str:
        return self.config.model_path

    def with_prompt(self, prompt: str | None) -> "FasterWhisperTranscriber":
        """The same transcriber (and loaded model) decoding with `prompt` as Whisper's previous text: a live
        utterance decoded alone gets the turn before it as the context a batch window has."""
        return FasterWhisperTranscriber(self.config, replace(self.options, initial_prompt=prompt))

    def for_live(self, beam_size: int = 5, encoder_min_s: float | None = 10.0) -> "FasterWhisperTranscriber":
        """The same transcriber (and loaded model) for one live utterance, whose latency should hold one decode and
        nothing else: `beam_size` (greedy at 1), the batched path's single decode of a window (text tokens, no
        temperature fallback), the encoder on the utterance rather than 30 s with `encoder_min_s`, and none of
        the second passes (loop and gap re-decodes, misheard numbers). What they would have repaired is left to
        the full-call pass at hang-up (docs/LIVE.md). Faster-whisper's sequential decoding was measured slower
        and less accurate here (docs/BENCHMARKS.md)."""
        options = replace(
            self.options,
            beam_size=beam_size,
            temperature=(0.0,),
            batch_size=max(2, self.options.batch_size),
            encoder_min_s=encoder_min_s,
            redecode=replace(self.options.redecode, gaps=False, budget=0.0),  # no budget: no window re-decoded
            numbers=None,
        )
        return FasterWhisperTranscriber(self.config, options)

    def transcribe(self, samples: np.ndarray, spans: list[SpeechSpan], channel: int = 0) -> list[Segment]:
        """Segments of one channel's 16 kHz samples, restricted to the given speech spans."""
        if not spans:
            return []
        opts = self.options
        model = (
            load_whisper(self.config) if opts.encoder_min_s is None else short_window(self.config, opts.encoder_min_s)
        )
        speech, timeline = pack_speech(samples, spans, opts.chunk_s)
        common = self._decode_options()
        windows = timeline.windows
        charge = opts.redecode.encoder_charge_s
        batched_cost = sum(span.duration for span in spans) + charge * len(windows)
        budget = _Budget(opts.redecode.budget * batched_cost, charge)
        if opts.batch_size == 1:
            raw, _ = model.transcribe(speech, clip_timestamps=[t for window in windows for t in window], **common)
            segments = [_convert(segment, channel, timeline) for segment in raw]
        else:
            segments = self._batched(model, speech, timeline, channel, common, budget)
        if opts.redecode.gaps:
            segments = fill_gaps(
                segments,
                spans,
                lambda pieces: self._decode_apart(model, samples, pieces, channel, budget),
                budget.allows,
                opts.coverage,
                context_s=opts.redecode.context_s,
                max_window_s=opts.chunk_s,
            )
        if opts.numbers is not None:
            segments, changed = redecode_numbers(
                segments,
                lambda start, end, prompt: self._decode_clip(model, samples, start, end, channel, prompt),
                opts.numbers,
            )
            if changed:
                logger.info("%d misheard numbers of channel %d decoded again with the digits prompt", changed, channel)
        return segments

    def _batched(self, model, speech, timeline, channel, common, budget: "_Budget") -> list[Segment]:
        from faster_whisper import BatchedInferencePipeline

        opts = self.options
        windows = timeline.windows
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
            converted = [_convert(segment, channel, timeline) for segment in found]
            if _window_failed(found, start, end, opts.compression_ratio_threshold, not opts.redecode.gaps):
                converted = self._repair_window(model, speech, timeline, (start, end), channel, converted, budget)
            segments.extend(converted)
        return segments

    def _repair_window(
        self, model, speech, timeline, window: tuple[float, float], channel: int, found: list[Segment], budget
    ) -> list[Segment]:
        """A window that looped (or, without gap repair, stopped early) decoded again whole, sequentially.

        A batched window is decoded once, without Whisper's temperature fallback: a repetition
        loop eats its token budget and the rest of the window is lost. A window that merely
        stopped early is left to the gap repair, which decodes only what is missing.
        """
        start, end = window
        if not budget.allows():
            logger.info("no re-decode budget left for window %.1f-%.1f s of channel %d", start, end, channel)
            return found
        logger.info("re-decoding window %.1f-%.1f s of channel %d", start, end, channel, extra={"redecode": "window"})
        budget.charge(end - start)
        return [_convert(segment, channel, timeline) for segment in self._sequential(model, speech, start, end)]

    def _decode_apart(
        self, model, samples: np.ndarray, pieces: list[tuple[float, float]], channel: int, budget: "_Budget"
    ) -> list[Segment]:
        """Stretches of the recording joined and decoded as one window of their own; times in the recording."""
        logger.info(
            "re-decoding %s of channel %d",
            ", ".join(f"{start:.1f}-{end:.1f} s" for start, end in pieces),
            channel,
            extra={"redecode": "gap"},
        )
        budget.charge(sum(end - start for start, end in pieces))
        # one window: asr.coverage.gap_windows packs no more than a Whisper window into it
        spans = [SpeechSpan(start, end, channel) for start, end in pieces]
        speech, timeline = pack_speech(samples, spans, chunk_s=float("inf"))
        if not timeline.windows:
            return []
        return [
            _convert(segment, channel, timeline) for segment in self._sequential(model, speech, *timeline.windows[0])
        ]

    def _decode_clip(
        self, model, samples: np.ndarray, start: float, end: float, channel: int, prompt: str
    ) -> list[Segment]:
        """One stretch decoded on its own with this prompt, greedy and without fallback (asr.numbers)."""
        piece, timeline = pack_speech(samples, [SpeechSpan(start, end, channel)], self.options.chunk_s)
        if not timeline.windows:
            return []
        start, end = timeline.windows[0]
        max_new_tokens = min(
            int(self.options.redecode.tokens_per_s * (end - start)) + 16,  # a loop stops there
            model.max_length - _prompt_length(model, self.options.hotwords, prompt),
        )
        raw, _ = model.transcribe(
            piece,
            clip_timestamps=[start, end],
            **{**self._decode_options(), "initial_prompt": prompt, "temperature": [0.0]},
            max_new_tokens=max_new_tokens,
        )
        return [_convert(segment, channel, timeline) for segment in raw if not _loops(segment, self.options)]

    def _sequential(self, model, audio: np.ndarray, start: float, end: float) -> list:
        """faster-whisper's sequential decoding of audio[start:end] with the bounded fallback."""
        redecode = self.options.redecode
        max_new_tokens = min(
            int(redecode.tokens_per_s * (end - start)) + 16,
            model.max_length - _prompt_length(model, self.options.hotwords, self.options.initial_prompt),
        )
        raw, _ = model.transcribe(
            audio,
            clip_timestamps=[start, end],
            **{**self._decode_options(), "temperature": list(redecode.temperature)},
            max_new_tokens=max_new_tokens,
        )
        return list(raw)

    def _decode_options(self) -> dict:
        opts = self.options
        return dict(
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


class _Budget:
    """Seconds of audio one channel's re-decodes may still decode again (RedecodeOptions.budget)."""

    def __init__(self, seconds: float, encoder_charge_s: float):
        self.seconds, self.encoder_charge_s, self.spent = seconds, encoder_charge_s, 0.0

    def charge(self, audio_s: float) -> None:
        self.spent += audio_s + self.encoder_charge_s

    def allows(self) -> bool:
        """Whether another re-decode may start."""
        return self.spent < self.seconds


def _prompt_length(model, hotwords: Sequence[str], initial_prompt: str | None) -> int:
    """Tokens faster-whisper puts before the text (its get_prompt), so max_new_tokens fits in 448."""
    length = 5  # start of previous text, start of transcript, language, task, no-timestamps
    for text in (" ".join(hotwords), initial_prompt or ""):
        if text.strip():
            tokens = model.hf_tokenizer.encode(" " + text.strip(), add_special_tokens=False).ids
            length += min(len(tokens), model.max_length // 2 - 1)
    return length


def _loops(segment, options) -> bool:
    return segment.compression_ratio > options.compression_ratio_threshold or has_repetition_loop(segment.text)


def _window_index(windows: list[tuple[float, float]], t: float) -> int:
    starts = [start for start, _ in windows]
    return max(0, bisect.bisect_right(starts, t) - 1)


def _window_failed(segments: list, start: float, end: float, max_compression: float, early_stop: bool = True) -> bool:
    """A window whose decoding looped or, with `early_stop`, stopped early (its words cover too little of it).

    Without `early_stop` a window that stopped early is left to the gap repair (asr.coverage),
    which decodes only what is missing.
    """
    if end - start < 2.0:
        return False
    if not segments:
        return early_stop
    if any(segment.compression_ratio > max_compression or has_repetition_loop(segment.text) for segment in segments):
        return True
    if not early_stop:
        return False
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
