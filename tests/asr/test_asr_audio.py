"""load_audio on recordings encoded here with PyAV (every codec telephony recorders produce) and on
the demo call; each error path raises the documented exception with a readable message."""

import io
import wave

import numpy as np
import pytest
from conftest import tone, write_audio

from asr.audio import TARGET_SAMPLE_RATE, DecodeOptions, load_audio
from models import AudioDecodeError, AudioTooLongError

LEFT_HZ = 440.0
RIGHT_HZ = 1000.0


def dominant_frequency(samples: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * sample_rate / len(samples))


def stereo_tones(seconds: float, sample_rate: int) -> np.ndarray:
    return np.stack([tone(seconds, sample_rate, LEFT_HZ), tone(seconds, sample_rate, RIGHT_HZ)])


class NonSeekable:
    """A pipe-like reader: FFmpeg cannot seek it, so it learns no duration from the container."""

    def __init__(self, data: bytes):
        self._buffer = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._buffer.read(size)

    def tell(self) -> int:
        return self._buffer.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._buffer.seek(offset, whence)

    def seekable(self) -> bool:
        return False


@pytest.fixture
def wav_2s(tmp_path):
    return write_audio(tmp_path / "tone.wav", tone(2.0, 8000)[None], 8000)


@pytest.mark.parametrize("sample_rate", [8000, 16000, 44100])
def test_pcm16_mono_wav_becomes_16khz_float32(tmp_path, sample_rate):
    path = write_audio(tmp_path / "mono.wav", tone(2.0, sample_rate, LEFT_HZ)[None], sample_rate)

    audio = load_audio(path)

    assert audio.sample_rate == TARGET_SAMPLE_RATE
    assert audio.source_sample_rate == sample_rate
    assert audio.source_channels == 1
    assert audio.codec == "pcm_s16le"
    assert len(audio.channels) == 1
    assert not audio.is_stereo
    samples = audio.channels[0]
    assert samples.dtype == np.float32
    assert samples.ndim == 1
    assert audio.duration == pytest.approx(2.0, abs=0.03)
    assert dominant_frequency(samples, TARGET_SAMPLE_RATE) == pytest.approx(LEFT_HZ, abs=2)
    # a 0.3-amplitude sine has an RMS of 0.3/√2; resampling must not change the level
    assert np.sqrt(np.mean(samples[1000:-1000] ** 2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.05)


@pytest.mark.parametrize(
    ("name", "codec", "sample_rate"),
    [
        ("mulaw.wav", "pcm_mulaw", 8000),
        ("alaw.wav", "pcm_alaw", 8000),
        ("pcm.wav", "pcm_s16le", 16000),
        ("call.mp3", "libmp3lame", 44100),
    ],
)
def test_stereo_channels_stay_apart(tmp_path, name, codec, sample_rate):
    path = write_audio(tmp_path / name, stereo_tones(2.0, sample_rate), sample_rate, codec)

    audio = load_audio(path)

    assert audio.is_stereo
    assert len(audio.channels) == 2
    assert audio.source_channels == 2
    assert audio.source_sample_rate == sample_rate
    assert audio.duration == pytest.approx(2.0, abs=0.03)
    assert all(channel.dtype == np.float32 for channel in audio.channels)
    assert len(audio.channels[0]) == len(audio.channels[1])
    assert dominant_frequency(audio.channels[0], TARGET_SAMPLE_RATE) == pytest.approx(LEFT_HZ, abs=3)
    assert dominant_frequency(audio.channels[1], TARGET_SAMPLE_RATE) == pytest.approx(RIGHT_HZ, abs=3)
    mono = audio.mono()
    assert mono.dtype == np.float32
    np.testing.assert_allclose(mono, (audio.channels[0] + audio.channels[1]) / 2, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "codec", "expected"),
    [("mulaw.wav", "pcm_mulaw", "pcm_mulaw"), ("alaw.wav", "pcm_alaw", "pcm_alaw"), ("call.mp3", "libmp3lame", "mp3")],
)
def test_codec_is_reported(tmp_path, name, codec, expected):
    path = write_audio(tmp_path / name, tone(1.0, 8000)[None], 8000, codec)
    assert load_audio(path).codec.startswith(expected)


def test_bytes_file_object_and_path_decode_alike(tmp_path):
    path = write_audio(tmp_path / "call.wav", stereo_tones(1.5, 8000), 8000, "pcm_mulaw")
    data = path.read_bytes()

    from_path = load_audio(path)
    from_str = load_audio(str(path))
    from_bytes = load_audio(data)
    with path.open("rb") as file:
        from_file = load_audio(file)
    from_buffer = load_audio(io.BytesIO(data))

    for other in (from_str, from_bytes, from_file, from_buffer):
        assert other.codec == from_path.codec == "pcm_mulaw"
        assert len(other.channels) == 2
        for mine, theirs in zip(from_path.channels, other.channels, strict=True):
            np.testing.assert_array_equal(mine, theirs)


def test_non_seekable_stream_decodes(tmp_path):
    path = write_audio(tmp_path / "call.mp3", tone(2.0, 16000)[None], 16000, "libmp3lame")
    audio = load_audio(NonSeekable(path.read_bytes()))
    assert audio.codec.startswith("mp3")
    assert audio.duration == pytest.approx(2.0, abs=0.05)


def test_demo_call_decodes_to_two_channels(demo_stereo, demo_gold):
    audio = load_audio(demo_stereo)

    assert audio.codec == "pcm_mulaw"
    assert audio.source_sample_rate == 8000
    assert audio.source_channels == 2
    assert len(audio.channels) == 2
    assert audio.sample_rate == TARGET_SAMPLE_RATE
    assert audio.duration == pytest.approx(demo_gold["duration_s"], abs=0.03)
    assert audio.duration == pytest.approx(59.9, abs=0.05)
    # the operator opens the call on channel 0 while the caller's channel holds only line noise
    opening = slice(int(1.0 * TARGET_SAMPLE_RATE), int(7.0 * TARGET_SAMPLE_RATE))
    agent_rms = np.sqrt(np.mean(audio.channels[0][opening] ** 2))
    caller_rms = np.sqrt(np.mean(audio.channels[1][opening] ** 2))
    assert agent_rms > 10 * caller_rms


# --- errors -------------------------------------------------------------------------------------


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioDecodeError, match="empty"):
        load_audio(path)


@pytest.mark.parametrize("source", [b"", io.BytesIO(b"")])
def test_empty_bytes_and_stream(source):
    with pytest.raises(AudioDecodeError, match="empty"):
        load_audio(source)


def test_missing_file(tmp_path):
    with pytest.raises(AudioDecodeError, match=r"no such file: missing\.wav"):
        load_audio(tmp_path / "missing.wav")


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(AudioDecodeError, match="no such file"):
        load_audio(tmp_path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.wav"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(AudioDecodeError, match="not a decodable audio file"):
        load_audio(path)


def test_text_file(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is a note, not a recording\n" * 50, encoding="utf-8")
    with pytest.raises(AudioDecodeError, match=r"not a decodable audio file|no audio stream"):
        load_audio(path)


@pytest.mark.parametrize("as_stream", [False, True])
def test_truncated_wav(tmp_path, wav_2s, as_stream):
    data = wav_2s.read_bytes()
    cut = data[: len(data) // 10]
    source = NonSeekable(cut) if as_stream else tmp_path / "cut.wav"
    if not as_stream:
        source.write_bytes(cut)
    with pytest.raises(AudioDecodeError, match=r"truncated: its header announces 2\.0 s, only 0\.2 s decode"):
        load_audio(source)


def test_truncated_mp3(tmp_path):
    path = write_audio(tmp_path / "call.mp3", stereo_tones(4.0, 44100), 44100, "libmp3lame")
    data = path.read_bytes()
    with pytest.raises(AudioDecodeError, match="truncated"):
        load_audio(data[: len(data) // 2])


def test_slightly_short_wav_is_tolerated(wav_2s):
    data = wav_2s.read_bytes()
    # 0.1 s missing: under truncation_min_s, the kind of tail a recorder loses when a call is cut
    audio = load_audio(data[: len(data) - 1600])
    assert audio.duration == pytest.approx(1.9, abs=0.01)


def test_wav_header_only(tmp_path):
    path = tmp_path / "header.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(b"")
    assert path.stat().st_size == 44
    with pytest.raises(AudioDecodeError, match="holds no audio"):
        load_audio(path)


def test_header_fragment(wav_2s):
    with pytest.raises(AudioDecodeError, match="not a decodable audio file"):
        load_audio(wav_2s.read_bytes()[:20])


def test_too_short(tmp_path):
    path = write_audio(tmp_path / "blip.wav", tone(0.05, 8000)[None], 8000)
    with pytest.raises(AudioDecodeError, match="holds no audio"):
        load_audio(path)


def test_three_channels_refused(tmp_path):
    path = tmp_path / "three.wav"
    samples = (np.stack([tone(1.0, 8000, freq) for freq in (300, 600, 900)]).T * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(3)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(samples.tobytes())
    with pytest.raises(AudioDecodeError, match="3 channels; at most 2 are supported"):
        load_audio(path)


def test_too_long_by_header(wav_2s):
    with pytest.raises(AudioTooLongError, match="recording is 2 s long; the limit is 1 s"):
        load_audio(wav_2s, DecodeOptions(max_duration_s=1.0))
    assert load_audio(wav_2s, DecodeOptions(max_duration_s=3.0)).duration == pytest.approx(2.0, abs=0.01)


@pytest.mark.parametrize(("name", "codec"), [("call.mp3", "libmp3lame"), ("call.wav", "pcm_s16le")])
def test_too_long_by_decoded_length(tmp_path, name, codec):
    path = write_audio(tmp_path / name, tone(3.0, 16000)[None], 16000, codec)
    with pytest.raises(AudioTooLongError, match="longer than the limit of 1 s"):
        load_audio(NonSeekable(path.read_bytes()), DecodeOptions(max_duration_s=1.0))
