"""Decode any recording PyAV/FFmpeg understands into separate 16 kHz float32 channels, streamed.

Covers what telephony recorders produce: WAV PCM, G.711 µ-law/A-law WAV, MP3, FLAC, Ogg/Opus, MP4/M4A, AMR
and anything else FFmpeg decodes; mono or stereo; 8 to 192 kHz. Bad input raises `AudioDecodeError` or
`AudioTooLongError` with a one-line message.

One check, two callers. `probe_audio` (the API, before it acknowledges a push) and `load_audio` (the worker)
run the same decoding loop under the same `DecodeOptions`: the same sample-rate and channel limits, the
container's announced length, every frame decoded to the end in one unchanging format (rate, layout, sample
format: all the resampler needs to accept every frame), the same minimum and maximum length counted on the
decoded samples (a header that lies or says nothing changes nothing). Only the worker resamples and keeps
the samples; the rules read nothing the resampler produces, so a recording the API accepts is one the
worker decodes, and the API's check costs no more than decoding (20 ms for a one-minute call).

Memory. Frames are decoded, resampled and copied one at a time into one float32 array per channel at
16 kHz, allocated from the length the header announces (capped at the limit) and grown in place in steps
of `GROWTH_S` when the header lies or says nothing; nothing is kept at the source rate or in float64. So
`load_audio` holds at most

    64,000 bytes per second of audio per channel (16,000 float32 samples) + one growth step + a constant

(the constant: FFmpeg's demuxer, decoder and resampler state and one frame at a time, about 5 MB measured).
A call of the default maximum length, one hour in stereo, is 3600 s × 2 × 64,000 B = 461 MB
(`bench/decode_memory.py`, docs/BENCHMARKS.md); `probe_audio` keeps no samples and its memory does not grow
with the recording.
"""

import io
import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from models import Audio, AudioDecodeError, AudioTooLongError

logger = logging.getLogger(__name__)

TARGET_SAMPLE_RATE = 16000
BYTES_PER_SECOND = TARGET_SAMPLE_RATE * np.dtype(np.float32).itemsize
"""Decoded audio per second per channel, the unit of `load_audio`'s memory bound."""
GROWTH_S = 60.0
"""Seconds of audio the decoded output grows by when the header announced less (or nothing)."""
UNKNOWN_MEDIA_TYPE = "application/octet-stream"

_HEADER_BYTES = 1 << 16
# FFmpeg demuxer name → the media type a recording in that container is served with.
_CONTAINER_TYPES = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "mov,mp4,m4a,3gp,3g2,mj2": "audio/mp4",
    "aac": "audio/aac",
    "amr": "audio/amr",
    "matroska,webm": "audio/webm",
    "aiff": "audio/aiff",
    "au": "audio/basic",
}
MEDIA_TYPES = frozenset([*_CONTAINER_TYPES.values(), "audio/amr-wb"])
"""Every media type a recording is stored and served with, besides `UNKNOWN_MEDIA_TYPE`."""
# Names uploads used for the same types before the type was taken from the decoded container.
_MEDIA_ALIASES = {
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-pn-wav": "audio/wav",
    "audio/x-flac": "audio/flac",
    "audio/mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/x-mpeg": "audio/mpeg",
    "audio/opus": "audio/ogg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/x-aiff": "audio/aiff",
    "audio/x-aac": "audio/aac",
}


@dataclass(frozen=True)
class DecodeOptions:
    """The rules a recording must meet, the same for the API's check at push time and the worker's decode.

    max_duration_s: longer recordings are refused, counted on the decoded samples whatever the header
        says. A hotline call lasts minutes; an hour leaves room for the longest while refusing what a stuck
        recorder pushes (hours of silence), and bounds the worker's memory (module docstring).
    min_duration_s: shorter ones are refused as empty.
    min_sample_rate, max_sample_rate: telephone audio is 8 kHz (G.711, AMR-NB, G.729), studio audio at
        most 192 kHz; outside that range a file is not a call recording (1 Hz "audio" resamples to nothing).
    truncation_tolerance: a file whose decoded length falls short of its header's length by more
        than this fraction (and more than `truncation_min_s`) is reported as truncated.
    max_channels: more channels than this are refused (recorders give mono or stereo).
    """

    max_duration_s: float = 3600.0
    min_duration_s: float = 0.1
    min_sample_rate: int = 8000
    max_sample_rate: int = 192_000
    truncation_tolerance: float = 0.02
    truncation_min_s: float = 0.5
    max_channels: int = 2


@dataclass(frozen=True)
class AudioInfo:
    """What `probe_audio` learns about a recording without keeping its samples.

    duration: seconds decoded, the length every rule reads. media_type: from the container FFmpeg found
    (`MEDIA_TYPES`), `UNKNOWN_MEDIA_TYPE` for the others; never what the uploader claimed.
    """

    duration: float
    sample_rate: int
    channels: int
    codec: str
    container: str
    media_type: str


def load_audio(source: str | Path | bytes | BinaryIO, options: DecodeOptions | None = None) -> Audio:
    """Decode `source` (a path, the file's bytes, or a binary file object) to 16 kHz float32 channels."""
    info, channels = _decode_checked(source, options or DecodeOptions(), keep=True)
    logger.debug("decoded %s: %d ch, %d Hz, %.1f s", info.codec, info.channels, info.sample_rate, info.duration)
    return Audio(
        channels=channels,
        sample_rate=TARGET_SAMPLE_RATE,
        source_sample_rate=info.sample_rate,
        source_channels=info.channels,
        codec=info.codec,
    )


def probe_audio(source: str | Path | bytes | BinaryIO, options: DecodeOptions | None = None) -> AudioInfo:
    """Check a recording exactly as `load_audio` decodes it, keeping no samples (memory stays flat): what
    the service does before it acknowledges a push. Raises what `load_audio` raises, for the same files."""
    info, _ = _decode_checked(source, options or DecodeOptions(), keep=False)
    return info


def resample_pcm16(pcm: np.ndarray, sample_rate: int) -> np.ndarray:
    """One stretch of int16 mono samples as the models take it: 16 kHz float32, with the resampler `load_audio`
    uses (a live call's utterances are resampled one at a time, so a stretch's result does not depend on
    what came before it)."""
    if pcm.dtype != np.int16 or pcm.ndim != 1:
        raise ValueError(f"expected int16 samples shaped (n,), got {pcm.dtype} {pcm.shape}")
    if len(pcm) == 0:
        return np.zeros(0, dtype=np.float32)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm).reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = sample_rate
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=TARGET_SAMPLE_RATE)
    blocks = [resampled.to_ndarray()[0] for resampled in [*resampler.resample(frame), *resampler.resample(None)]]
    return np.concatenate(blocks).astype(np.float32, copy=False)


def media_type(stored: str | None) -> str:
    """The media type to serve a recording with, given the one stored with it: one of `MEDIA_TYPES` (older
    rows' aliases such as audio/x-wav normalised), else `UNKNOWN_MEDIA_TYPE`; never an uploader's own type."""
    value = (stored or "").split(";", 1)[0].strip().lower()
    value = _MEDIA_ALIASES.get(value, value)
    return value if value in MEDIA_TYPES else UNKNOWN_MEDIA_TYPE


@dataclass(frozen=True)
class _Source:
    """An opened recording, its first audio stream checked against the options."""

    container: av.container.InputContainer
    stream: av.AudioStream
    head: bytes
    declared: float | None
    sample_rate: int
    channels: int
    codec: str

    @property
    def media_type(self) -> str:
        if self.container.format.name == "amr" and "wb" in self.codec:
            return "audio/amr-wb"
        return _CONTAINER_TYPES.get(self.container.format.name, UNKNOWN_MEDIA_TYPE)


def _decode_checked(
    source: str | Path | bytes | BinaryIO, options: DecodeOptions, keep: bool
) -> tuple[AudioInfo, list[np.ndarray]]:
    """The one decode check: open, decode every frame, check the length. With `keep`, the channels
    resampled to 16 kHz too (else an empty list)."""
    with _open_audio(source, options) as opened:
        output = _Output(opened.channels, opened.declared, options) if keep else None
        duration = _decode(opened, options, output)
        info = AudioInfo(
            duration=duration,
            sample_rate=opened.sample_rate,
            channels=opened.channels,
            codec=opened.codec,
            container=opened.container.format.name,
            media_type=opened.media_type,
        )
    _check_length(opened.head, info.codec, opened.declared, info.duration, options)
    return info, output.finish() if output is not None else []


@contextmanager
def _open_audio(source: str | Path | bytes | BinaryIO, options: DecodeOptions) -> Iterator[_Source]:
    """The container and its first audio stream, checked against the options."""
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise AudioDecodeError(f"no such file: {path.name}")
        if path.stat().st_size == 0:
            raise AudioDecodeError("the file is empty")
        with path.open("rb") as file:
            head = file.read(_HEADER_BYTES)
    else:
        head = _peek(source, _HEADER_BYTES)
        if not head:
            raise AudioDecodeError("the file is empty")

    try:
        container = av.open(source if not isinstance(source, Path) else str(source), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise AudioDecodeError(f"not a decodable audio file ({_reason(error)})") from None
    with container:
        if not container.streams.audio:
            raise AudioDecodeError("the file has no audio stream")
        stream = container.streams.audio[0]
        if stream.codec_context is None:  # a header FFmpeg parses but opens no decoder for (e.g. 0 bits per sample)
            raise AudioDecodeError("the audio stream cannot be decoded (no decoder for its format)")
        rate = stream.codec_context.sample_rate or stream.rate
        channels = stream.codec_context.channels
        if not rate or not channels:
            raise AudioDecodeError("the audio stream has no sample rate or channel count")
        _check_rate(rate, options)
        if channels > options.max_channels:
            raise AudioDecodeError(f"{channels} channels; at most {options.max_channels} are supported")
        declared = _declared_duration(container, stream)
        if declared is not None and declared > options.max_duration_s:
            raise AudioTooLongError(f"recording is {declared:.0f} s long; the limit is {options.max_duration_s:.0f} s")
        yield _Source(container, stream, head, declared, int(rate), int(channels), stream.codec_context.name)


def _check_length(head: bytes, codec: str, declared: float | None, duration: float, options: DecodeOptions) -> None:
    # FFmpeg clips a seekable WAV's data size to the file's size, which hides truncation
    announced = _wav_declared_duration(head) or declared
    if (
        announced is not None
        and codec.startswith(("pcm_", "mp3"))
        and announced - duration > max(options.truncation_min_s, options.truncation_tolerance * announced)
    ):
        raise AudioDecodeError(
            f"the file is truncated: its header announces {announced:.1f} s, only {duration:.1f} s decode"
        )
    if duration < options.min_duration_s:
        raise AudioDecodeError(f"the recording holds no audio ({duration:.2f} s decoded)")


class _Output:
    """The decoded channels at 16 kHz: one float32 array each, filled frame by frame and grown in place.

    The arrays start at the length the header announces (capped at the limit) or `GROWTH_S`, and grow by
    `GROWTH_S` with `ndarray.resize`, which reallocates in place (a large block is remapped, not copied),
    so a lying header costs at most one growth step, never a second copy of the audio.
    """

    def __init__(self, channels: int, declared: float | None, options: DecodeOptions) -> None:
        # a resampler hands out a few samples more than its input's length: one second of headroom
        self._limit = math.ceil(options.max_duration_s * TARGET_SAMPLE_RATE) + TARGET_SAMPLE_RATE
        self._step = int(GROWTH_S * TARGET_SAMPLE_RATE)
        wanted = math.ceil(declared * TARGET_SAMPLE_RATE) + TARGET_SAMPLE_RATE if declared and declared > 0 else 0
        self._max_duration_s = options.max_duration_s
        self.arrays = [np.empty(min(max(wanted, self._step), self._limit), dtype=np.float32) for _ in range(channels)]
        self.length = 0

    def append(self, block: np.ndarray) -> None:
        """Copy `block` (channels × samples, float32) after what is there."""
        end = self.length + block.shape[1]
        capacity = len(self.arrays[0])
        if end > capacity:
            if capacity >= self._limit:
                raise AudioTooLongError(f"recording is longer than the limit of {self._max_duration_s:.0f} s")
            grown = min(max(end, capacity + self._step), self._limit)
            for array in self.arrays:
                array.resize(grown, refcheck=False)  # no views of the arrays exist while decoding
        for array, samples in zip(self.arrays, block, strict=True):
            array[self.length : end] = samples
        self.length = end

    def finish(self) -> list[np.ndarray]:
        """The channels, trimmed in place to the decoded length."""
        for array in self.arrays:
            array.resize(self.length, refcheck=False)
        return self.arrays


def _decode(opened: _Source, options: DecodeOptions, output: _Output | None) -> float:
    """Decode every frame, checking that its format stays that of the first and counting its samples against
    the limit; with `output`, resample it to 16 kHz float32 there. Returns the seconds decoded."""
    layout = "mono" if opened.channels == 1 else "stereo"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=TARGET_SAMPLE_RATE)  # set up on first use
    first = None
    samples = 0
    try:
        for frame in opened.container.decode(opened.stream):
            shape = (frame.sample_rate, frame.layout.name, frame.format.name)
            if first is None:
                first = shape
                _check_rate(frame.sample_rate, options)
            elif shape != first:  # the resampler would refuse the frame
                raise AudioDecodeError(f"the audio format changes mid-stream ({first} to {shape})")
            samples += frame.samples
            if samples > options.max_duration_s * frame.sample_rate:
                raise AudioTooLongError(f"recording is longer than the limit of {options.max_duration_s:.0f} s")
            if output is not None:
                frame.pts = None  # let the resampler count samples itself; recorder timestamps can jump
                for resampled in resampler.resample(frame):
                    output.append(resampled.to_ndarray())
        if output is not None:
            for resampled in resampler.resample(None):
                output.append(resampled.to_ndarray())
    except av.error.FFmpegError as error:
        if not samples:
            raise AudioDecodeError(f"not a decodable audio file ({_reason(error)})") from None
        raise AudioDecodeError(f"the file is truncated or corrupt ({_reason(error)})") from None
    return samples / first[0] if first else 0.0


def _check_rate(rate: int, options: DecodeOptions) -> None:
    if not options.min_sample_rate <= rate <= options.max_sample_rate:
        raise AudioDecodeError(
            f"sample rate {rate} Hz; {options.min_sample_rate} to {options.max_sample_rate} Hz are supported"
        )


def _declared_duration(container, stream) -> float | None:
    """Length the container's header announces, if it announces one."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _wav_declared_duration(head: bytes) -> float | None:
    """Length a RIFF/WAVE header's data chunk announces; None if not a WAV or the size is unknown."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    offset = 12
    byte_rate = 0
    while offset + 8 <= len(head):
        chunk_id = head[offset : offset + 4]
        size = int.from_bytes(head[offset + 4 : offset + 8], "little")
        if chunk_id == b"fmt " and offset + 20 <= len(head):
            byte_rate = int.from_bytes(head[offset + 16 : offset + 20], "little")
        elif chunk_id == b"data":
            # 0 and 0xFFFFFFFF are what streaming recorders and RF64 files write: no length announced
            if not byte_rate or size in (0, 0xFFFFFFFF):
                return None
            return size / byte_rate
        offset += 8 + size + (size & 1)
    return None


def _peek(stream: BinaryIO, size: int) -> bytes:
    position = stream.tell()
    head = stream.read(size)
    stream.seek(position)
    return head


def _reason(error: Exception) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return text.splitlines()[0][:120]
