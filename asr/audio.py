"""Decode any recording PyAV/FFmpeg understands into separate 16 kHz float32 channels.

Covers what telephony recorders produce: WAV PCM, G.711 µ-law/A-law WAV, MP3, and anything else
FFmpeg decodes; mono or stereo; any sample rate. Bad input raises `AudioDecodeError` or
`AudioTooLongError` with a one-line message.
"""

import io
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from models import Audio, AudioDecodeError, AudioTooLongError

logger = logging.getLogger(__name__)

TARGET_SAMPLE_RATE = 16000
_HEADER_BYTES = 1 << 16


@dataclass(frozen=True)
class DecodeOptions:
    """Limits applied while decoding.

    max_duration_s: longer recordings are refused (a stuck recorder can push hours of silence).
    min_duration_s: shorter ones are refused as empty.
    truncation_tolerance: a file whose decoded length falls short of its header's length by more
        than this fraction (and more than `truncation_min_s`) is reported as truncated.
    max_channels: more channels than this are refused (recorders give mono or stereo).
    """

    max_duration_s: float = 4 * 3600.0
    min_duration_s: float = 0.1
    truncation_tolerance: float = 0.02
    truncation_min_s: float = 0.5
    max_channels: int = 2


@dataclass(frozen=True)
class AudioInfo:
    """What `probe_audio` learns about a recording without keeping its samples."""

    duration: float
    sample_rate: int
    channels: int
    codec: str


def load_audio(source: str | Path | bytes | BinaryIO, options: DecodeOptions | None = None) -> Audio:
    """Decode `source` (a path, the file's bytes, or a binary file object) to 16 kHz float32 channels."""
    options = options or DecodeOptions()
    with _open_audio(source, options) as (container, stream, head, declared):
        codec = stream.codec_context.name
        source_rate = stream.codec_context.sample_rate or stream.rate
        source_channels = stream.codec_context.channels
        channels = _decode(container, stream, source_channels, options)
    duration = channels.shape[1] / TARGET_SAMPLE_RATE
    _check_length(head, codec, declared, duration, options)
    logger.debug("decoded %s: %d ch, %d Hz, %.1f s", codec, source_channels, source_rate, duration)
    return Audio(
        channels=[np.ascontiguousarray(channel) for channel in channels],
        sample_rate=TARGET_SAMPLE_RATE,
        source_sample_rate=int(source_rate),
        source_channels=int(source_channels),
        codec=codec,
    )


def probe_audio(source: str | Path | bytes | BinaryIO, options: DecodeOptions | None = None) -> AudioInfo:
    """Check that a recording decodes whole, within the limits, keeping no samples (memory stays flat):
    what the service does before it acknowledges a push. Raises what `load_audio` raises."""
    options = options or DecodeOptions()
    with _open_audio(source, options) as (container, stream, head, declared):
        codec = stream.codec_context.name
        rate = stream.codec_context.sample_rate or stream.rate
        samples = 0
        try:
            for frame in container.decode(stream):
                samples += frame.samples
                if samples > options.max_duration_s * rate:
                    raise AudioTooLongError(f"recording is longer than the limit of {options.max_duration_s:.0f} s")
        except av.error.FFmpegError as error:
            if not samples:
                raise AudioDecodeError(f"not a decodable audio file ({_reason(error)})") from None
            raise AudioDecodeError(f"the file is truncated or corrupt ({_reason(error)})") from None
        info = AudioInfo(samples / rate, int(rate), int(stream.codec_context.channels), codec)
    _check_length(head, codec, declared, info.duration, options)
    return info


@contextmanager
def _open_audio(source: str | Path | bytes | BinaryIO, options: DecodeOptions):
    """The container and its first audio stream, checked: (container, stream, first bytes, declared length)."""
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
        source_rate = stream.codec_context.sample_rate or stream.rate
        source_channels = stream.codec_context.channels
        if not source_rate or not source_channels:
            raise AudioDecodeError("the audio stream has no sample rate or channel count")
        if source_channels > options.max_channels:
            raise AudioDecodeError(f"{source_channels} channels; at most {options.max_channels} are supported")
        declared = _declared_duration(container, stream)
        if declared is not None and declared > options.max_duration_s:
            raise AudioTooLongError(f"recording is {declared:.0f} s long; the limit is {options.max_duration_s:.0f} s")
        yield container, stream, head, declared


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


def _decode(container, stream, source_channels: int, options: DecodeOptions) -> np.ndarray:
    layout = "mono" if source_channels == 1 else "stereo"
    resampler = av.AudioResampler(format="fltp", layout=layout, rate=TARGET_SAMPLE_RATE)
    max_samples = int(options.max_duration_s * TARGET_SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        for frame in container.decode(stream):
            frame.pts = None  # let the resampler count samples itself; recorder timestamps can jump
            for resampled in resampler.resample(frame):
                array = resampled.to_ndarray()
                chunks.append(array)
                total += array.shape[1]
            if total > max_samples:
                raise AudioTooLongError(f"recording is longer than the limit of {options.max_duration_s:.0f} s")
        for resampled in resampler.resample(None):
            chunks.append(resampled.to_ndarray())
    except av.error.FFmpegError as error:
        if not chunks:
            raise AudioDecodeError(f"not a decodable audio file ({_reason(error)})") from None
        raise AudioDecodeError(f"the file is truncated or corrupt ({_reason(error)})") from None
    if not chunks:
        return np.zeros((source_channels, 0), dtype=np.float32)
    return np.concatenate(chunks, axis=1).astype(np.float32, copy=False)


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
