"""An operator's voiceprint from recordings: only their speech (one channel of stereo calls if asked) is embedded,
one embedding per recording, and the mean kept at unit length; a store keeps it per agent id."""

import numpy as np
import pytest
from conftest import write_audio

from asr.audio import load_audio
from asr.voiceprints import VoiceprintStore, voiceprint_from_recordings
from models import AudioDecodeError, MetadataError, NoSpeechError, SpeechSpan

SR = 16000


class SpansDetector:
    """Finds the given spans in every recording."""

    def __init__(self, spans: list[SpeechSpan]):
        self.spans = spans

    def detect(self, audio) -> list[SpeechSpan]:
        return list(self.spans)


class RecordingEncoder:
    """Keeps what it was asked to embed; the embedding is (number of samples, their energy)."""

    def __init__(self):
        self.seen: list[tuple[np.ndarray, int]] = []

    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        self.seen.append((samples, sample_rate))
        return np.array([len(samples), float(np.sum(samples**2))])


@pytest.fixture
def stereo_call(tmp_path):
    """Operator on channel 0 in the first second, caller on channel 1 in the second."""
    t = np.arange(2 * SR) / SR
    operator = np.where(t < 1, 0.5 * np.sin(2 * np.pi * 200 * t), 0.0)
    caller = np.where(t >= 1, 0.3 * np.sin(2 * np.pi * 500 * t), 0.0)
    return write_audio(tmp_path / "call.wav", np.stack([operator, caller]), SR)


def test_only_the_chosen_channel_and_its_speech_are_embedded(stereo_call):
    encoder = RecordingEncoder()
    spans = [SpeechSpan(0.0, 1.0, 0), SpeechSpan(1.0, 2.0, 1)]
    voiceprint = voiceprint_from_recordings([stereo_call], encoder, SpansDetector(spans), channel=1)
    [(samples, rate)] = encoder.seen
    assert rate == SR and len(samples) == SR
    np.testing.assert_array_equal(samples, load_audio(stereo_call).channels[1][SR : 2 * SR])
    assert np.linalg.norm(voiceprint) == pytest.approx(1.0)


def test_without_a_channel_every_span_of_the_mixed_recording_counts(stereo_call):
    encoder = RecordingEncoder()
    spans = [SpeechSpan(0.0, 1.0, 0), SpeechSpan(1.0, 2.0, 1)]
    voiceprint_from_recordings([stereo_call], encoder, SpansDetector(spans))
    [(samples, _)] = encoder.seen
    np.testing.assert_array_equal(samples, load_audio(stereo_call).mono())


def test_the_voiceprint_is_the_unit_mean_of_one_embedding_per_recording(stereo_call):
    class TwoVoices:
        vectors = iter([np.array([1.0, 0.0]), np.array([0.0, 1.0])])

        def embed(self, samples, sample_rate):
            return next(self.vectors)

    detector = SpansDetector([SpeechSpan(0.0, 1.0, 0)])
    voiceprint = voiceprint_from_recordings([stereo_call, stereo_call], TwoVoices(), detector, channel=0)
    np.testing.assert_allclose(voiceprint, [np.sqrt(0.5), np.sqrt(0.5)])


def test_a_missing_channel_or_no_speech_on_it_is_an_error(stereo_call):
    detector = SpansDetector([SpeechSpan(0.0, 1.0, 0)])
    with pytest.raises(AudioDecodeError, match="no channel 2"):
        voiceprint_from_recordings([stereo_call], RecordingEncoder(), detector, channel=2)
    with pytest.raises(NoSpeechError, match=r"no speech in call\.wav"):
        voiceprint_from_recordings([stereo_call], RecordingEncoder(), detector, channel=1)


def test_the_store_keeps_one_voiceprint_per_valid_agent_id(tmp_path):
    store = VoiceprintStore(tmp_path / "voiceprints")
    assert store.load("1001") is None
    store.save("1001", np.array([3.0, 4.0]), ["call.wav"])
    np.testing.assert_allclose(store.load("1001"), [0.6, 0.8])
    with pytest.raises(MetadataError):
        store.load("../etc")
