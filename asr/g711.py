"""G.711 µ-law and A-law (the telephone network's 8-bit codecs) to and from 16-bit PCM, with numpy lookup tables.

The live endpoint turns each µ-law/A-law frame into int16 samples as it arrives (a table lookup, no model, no
resampling); `hotline live-push` encodes a recording the way a telephony system sends it. The tables follow the
ITU-T G.711 reference (Sun's g711.c, as CPython's `audioop` did before it was removed from the standard library),
so a byte decodes to the same sample as every PBX decodes it.
"""

from functools import cache
from typing import Literal

import numpy as np

Encoding = Literal["pcm16", "mulaw", "alaw"]
ENCODINGS: tuple[Encoding, ...] = ("pcm16", "mulaw", "alaw")

BYTES_PER_SAMPLE = {"pcm16": 2, "mulaw": 1, "alaw": 1}

_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


@cache
def _mulaw_to_linear() -> np.ndarray:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return np.where(code & 0x80, -magnitude, magnitude).astype(np.int16)


@cache
def _alaw_to_linear() -> np.ndarray:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    exponent = (code >> 4) & 0x07
    mantissa = (code & 0x0F) << 4
    magnitude = np.where(exponent == 0, mantissa + 8, (mantissa + 0x108) << np.maximum(exponent - 1, 0))
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


@cache
def _linear_to_mulaw() -> np.ndarray:
    """Index: sample + 32768."""
    value = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(value < 0, 0x7F, 0xFF)
    value = np.minimum(np.abs(value), 8159) + (0x84 >> 2)
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, value)  # first segment whose end is >= value
    code = (np.minimum(segment, 7) << 4) | ((value >> (np.minimum(segment, 7) + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


@cache
def _linear_to_alaw() -> np.ndarray:
    """Index: sample + 32768."""
    value = np.arange(-32768, 32768, dtype=np.int32) >> 3
    mask = np.where(value >= 0, 0xD5, 0x55)
    value = np.where(value >= 0, value, -value - 1)
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, value)
    shift = np.where(segment < 2, 1, np.minimum(segment, 7))
    code = (np.minimum(segment, 7) << 4) | ((value >> shift) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def decode(audio: bytes, encoding: Encoding) -> np.ndarray:
    """int16 samples (interleaved as they came) of `audio`: pcm16 is little-endian signed 16-bit; mulaw and alaw one
    byte per sample. ValueError for an unknown encoding or a pcm16 buffer of odd length."""
    if encoding == "pcm16":
        if len(audio) % 2:
            raise ValueError("pcm16 audio has an even number of bytes")
        return np.frombuffer(audio, dtype="<i2").astype(np.int16)
    if encoding == "mulaw":
        return _mulaw_to_linear()[np.frombuffer(audio, dtype=np.uint8)]
    if encoding == "alaw":
        return _alaw_to_linear()[np.frombuffer(audio, dtype=np.uint8)]
    raise ValueError(f"unknown encoding {encoding!r}; one of {', '.join(ENCODINGS)}")


def encode(samples: np.ndarray, encoding: Encoding) -> bytes:
    """`samples` (int16) in `encoding`: the inverse of `decode`, up to the codec's quantisation."""
    samples = np.asarray(samples, dtype=np.int16).ravel()
    if encoding == "pcm16":
        return samples.astype("<i2").tobytes()
    if encoding == "mulaw":
        return _linear_to_mulaw()[samples.astype(np.int32) + 32768].tobytes()
    if encoding == "alaw":
        return _linear_to_alaw()[samples.astype(np.int32) + 32768].tobytes()
    raise ValueError(f"unknown encoding {encoding!r}; one of {', '.join(ENCODINGS)}")
