"""load_audio on recordings encoded here with PyAV (every codec telephony recorders produce) and on
the demo call; each error path raises the documented exception with a readable message."""

import io
import wave

import numpy as np
import pytest
from conftest import tone, write_audio

from asr.audio import (
    BYTES_PER_SECOND,
    GROWTH_S,
    TARGET_SAMPLE_RATE,
    DecodeOptions,
    load_audio,
    media_type,
    probe_audio,
)
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


# --- one check for the API and the worker; streamed decoding -------------------------------------


def flac_of_silence(path, seconds: float, channels: int = 1, sample_rate: int = 8000, announce: float | None = None):
    """A FLAC of digital silence (a few kB a minute). `announce`: the length its STREAMINFO claims instead
    (0 = none), as a recorder that lies or streams would write."""
    import struct

    import av

    layout = "mono" if channels == 1 else "stereo"
    total = int(seconds * sample_rate)
    with av.open(str(path), mode="w") as out:
        stream = out.add_stream("flac", rate=sample_rate, layout=layout)
        for start in range(0, total, 4608):
            block = np.zeros((1, min(4608, total - start) * channels), dtype=np.int16)
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout=layout)
            frame.sample_rate = sample_rate
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    if announce is not None:
        data = bytearray(path.read_bytes())
        assert data[:4] == b"fLaC"
        # STREAMINFO: the 36-bit total sample count ends the 8 bytes after the block's first 10
        word = struct.unpack(">Q", data[18:26])[0]
        total = int(announce * sample_rate)
        data[18:26] = struct.pack(">Q", (word & ~((1 << 36) - 1)) | total)
        path.write_bytes(bytes(data))
    return path


def outcome(call, *args):
    try:
        result = call(*args)
    except (AudioDecodeError, AudioTooLongError) as error:
        return type(error).__name__, str(error)
    return "ok", round(result.duration, 3)


def edge_recordings(tmp_path):
    """Recordings on either side of every rule, and the ones that made the API and the worker disagree."""
    rate_1hz = write_audio(tmp_path / "1hz.wav", np.full((1, 10), 0.3, dtype=np.float32), 1)
    wav = write_audio(tmp_path / "ok.wav", tone(2.0, 8000)[None], 8000)
    data = wav.read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 3])
    return {
        "10 samples at 1 Hz": rate_1hz,
        "4 kHz": write_audio(tmp_path / "4k.wav", tone(1.0, 4000)[None], 4000),
        "8 kHz": wav,
        "192 kHz": write_audio(tmp_path / "192k.wav", tone(0.5, 192000)[None], 192000),
        "truncated": tmp_path / "cut.wav",
        "too short": write_audio(tmp_path / "blip.wav", tone(0.05, 8000)[None], 8000),
        "3 s, limit 2 s, header says 1 s": flac_of_silence(tmp_path / "lie.flac", 3.0, announce=1.0),
        "3 s, limit 2 s, no length in the header": flac_of_silence(tmp_path / "none.flac", 3.0, announce=0),
        "2 s of mp3": write_audio(tmp_path / "ok.mp3", tone(2.0, 16000)[None], 16000, "libmp3lame"),
    }


def test_probe_and_load_agree_on_every_edge_case(tmp_path):
    options = DecodeOptions(max_duration_s=2.5)
    for name, path in edge_recordings(tmp_path).items():
        probed, loaded = outcome(probe_audio, path, options), outcome(load_audio, path, options)
        assert probed[0] == loaded[0], (name, probed, loaded)
        if probed[0] != "ok":
            assert probed == loaded, name


def test_sample_rates_outside_the_telephone_to_studio_range_are_refused(tmp_path):
    recordings = edge_recordings(tmp_path)
    for name in ("10 samples at 1 Hz", "4 kHz"):
        with pytest.raises(AudioDecodeError, match=r"sample rate \d+ Hz; 8000 to 192000 Hz are supported"):
            probe_audio(recordings[name])
    assert load_audio(recordings["192 kHz"]).duration == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("announce", [1.0, 0])
def test_the_limit_holds_when_the_header_lies_or_says_nothing(tmp_path, announce):
    path = flac_of_silence(tmp_path / "long.flac", 3.0, announce=announce)
    for check in (probe_audio, load_audio):
        with pytest.raises(AudioTooLongError, match="longer than the limit of 2 s"):
            check(path, DecodeOptions(max_duration_s=2.0))
        assert check(path, DecodeOptions(max_duration_s=3.0)).duration == pytest.approx(3.0, abs=0.01)


def test_the_default_limit_is_an_hour():
    assert DecodeOptions().max_duration_s == 3600


def test_probe_reports_the_container_and_its_media_type(tmp_path):
    cases = {
        "call.wav": ("pcm_mulaw", None, "audio/wav"),
        "call.mp3": ("libmp3lame", None, "audio/mpeg"),
        "call.flac": ("flac", None, "audio/flac"),
        "call.ogg": ("libopus", None, "audio/ogg"),
        "call.m4a": ("aac", "mp4", "audio/mp4"),
        "call.amr": ("libopencore_amrnb", None, "audio/amr"),
        "call.au": ("pcm_mulaw", None, "audio/basic"),
        "call.w64": ("pcm_s16le", None, "application/octet-stream"),
    }
    for name, (codec, container, expected) in cases.items():
        rate = 48000 if codec == "libopus" else 8000
        path = write_audio(tmp_path / name, tone(1.0, rate)[None], rate, codec, container)
        assert probe_audio(path).media_type == expected, name


@pytest.mark.parametrize(
    ("stored", "served"),
    [
        ("audio/wav", "audio/wav"),
        ("audio/x-wav", "audio/wav"),
        ("Audio/MPEG; charset=x", "audio/mpeg"),
        ("audio/flac", "audio/flac"),
        ("audio/x-evil", "application/octet-stream"),
        ("text/html", "application/octet-stream"),
        ("application/octet-stream", "application/octet-stream"),
        (None, "application/octet-stream"),
    ],
)
def test_only_known_audio_types_are_served(stored, served):
    assert media_type(stored) == served


@pytest.mark.parametrize("announce", [None, 60.0])
def test_decoding_is_streamed_into_one_array_per_channel(tmp_path, announce):
    """10 minutes of stereo: the decoder holds the 16 kHz float32 output and little else, whether the header
    tells the length (preallocated) or claims a minute (grown in place), never a second full-length copy."""
    import tracemalloc

    path = flac_of_silence(tmp_path / "long.flac", 600.0, channels=2, announce=announce)
    output = 600 * 2 * BYTES_PER_SECOND
    tracemalloc.start()
    try:
        audio = load_audio(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert audio.duration == pytest.approx(600.0, abs=0.01)
    assert all(channel.dtype == np.float32 and channel.flags.c_contiguous for channel in audio.channels)
    growth = 2 * GROWTH_S * BYTES_PER_SECOND
    assert peak < output + growth + (4 << 20), f"peak {peak / 1e6:.0f} MB for {output / 1e6:.0f} MB of output"
