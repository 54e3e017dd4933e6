"""Shared fixtures: paths to the project's own sample calls and to ../shared/data, audio writers,
and the real engines (Whisper base, Resemblyzer) loaded once per test session."""

import json
import os
from pathlib import Path

import av
import numpy as np
import pytest
from log_guard import pytest_configure, pytest_runtest_logstart, pytest_sessionfinish  # noqa: F401 (hooks)

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def demo_stereo() -> Path:
    return SAMPLES / "demo-call.wav"


@pytest.fixture(scope="session")
def demo_mono() -> Path:
    return SAMPLES / "demo-call-mono.wav"


@pytest.fixture(scope="session")
def demo_gold() -> dict:
    return json.loads((SAMPLES / "demo-call.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not present at {SHARED_DATA}")
    return SHARED_DATA


def write_audio(
    path: Path, channels: np.ndarray, sample_rate: int, codec: str = "pcm_s16le", container: str | None = None
) -> Path:
    """Encode float samples shaped (channels, samples) in [-1, 1] with PyAV (wav/mp3/… by suffix)."""
    channels = np.atleast_2d(np.asarray(channels, dtype=np.float32))
    layout = "mono" if channels.shape[0] == 1 else "stereo"
    with av.open(str(path), mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=sample_rate, layout=layout)
        fmt = stream.codec_context.codec.audio_formats[0].name if stream.codec_context.codec.audio_formats else "s16"
        frame_len = 1152
        resampler = av.AudioResampler(format=fmt, layout=layout, rate=sample_rate)
        for start in range(0, channels.shape[1], frame_len):
            block = channels[:, start : start + frame_len]
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp", layout=layout)
            frame.sample_rate = sample_rate
            for converted in resampler.resample(frame):
                for packet in stream.encode(converted):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def read_pcm16(path: Path) -> np.ndarray:
    """A recording as a telephony system streams it live: int16 at its own rate, shaped (samples, channels)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout=stream.layout.name, rate=stream.rate)
        blocks = [
            out.to_ndarray().reshape(-1, stream.channels)
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
    return np.concatenate(blocks)


def tone(seconds: float, sample_rate: int, freq: float = 440.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="session")
def engines():
    """The real default engines (Whisper base from the installed packages, Resemblyzer), loaded once."""
    from pipeline.factory import build_engines
    from pipeline.settings import Settings

    return build_engines(Settings())
