"""Diarization backends: per channel for stereo calls, clustered voice embeddings for mono calls
(a fake encoder at the port, and Resemblyzer for real on the demo call)."""

import json

import numpy as np
import pytest
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

from asr.audio import load_audio
from asr.diarize.channel import ChannelDiarizer
from asr.diarize.embedding import EmbeddingDiarizer, EmbeddingDiarizerOptions, cluster
from asr.vad import WebrtcSpeechDetector
from models import Audio, SpeechSpan

SR = 16000
WINDOW_S = 1.6
VOICE_HZ = {"A": 200.0, "B": 1000.0, "C": 2500.0}


def der(reference: Annotation, hypothesis: Annotation, duration: float, collar: float = 0.0) -> float:
    metric = DiarizationErrorRate(collar=collar)
    return metric(reference, hypothesis, uem=Timeline([Segment(0.0, duration)]))


class FakeEncoder:
    """A `SpeakerEncoder` whose "voices" are pure tones: a window's embedding is the mix of the
    voices' fixed vectors in proportion to each tone's share of the window's energy, plus noise."""

    def __init__(self, voices: dict[str, np.ndarray], noise: float = 0.05, seed: int = 0):
        self.voices = voices
        self.noise = noise
        self.rng = np.random.default_rng(seed)
        self.calls = 0

    def embed_windows(self, samples: np.ndarray, sample_rate: int = SR, hop_s: float = 0.4):
        self.calls += 1
        assert sample_rate == SR
        window, hop = int(WINDOW_S * sample_rate), int(hop_s * sample_rate)
        embeddings, centres = [], []
        for start in range(0, max(1, len(samples) - window + 1), hop):
            piece = samples[start : start + window]
            power = np.abs(np.fft.rfft(piece)) ** 2
            freqs = np.fft.rfftfreq(len(piece), 1 / sample_rate)
            vector = self.noise * self.rng.standard_normal(256)
            for name, voice in self.voices.items():
                near = np.abs(freqs - VOICE_HZ[name]) < 50
                vector += power[near].sum() / power.sum() * voice
            embeddings.append(vector)
            centres.append((start + len(piece) / 2) / sample_rate)
        return np.array(embeddings, dtype=np.float32), np.array(centres)

    def embed_windows_many(self, pieces, sample_rate: int = SR, hop_s: float = 0.4):
        return [self.embed_windows(piece, sample_rate, hop_s) for piece in pieces]


def voices(seed: int = 0, names: str = "AB") -> dict[str, np.ndarray]:
    vectors = np.random.default_rng(seed).standard_normal((len(names), 256))
    return {name: vector / np.linalg.norm(vector) for name, vector in zip(names, vectors, strict=True)}


# who speaks when; the 0-8 s stretch is one speech span holding a change of speaker
TRUTH = [("A", 0.0, 4.0), ("B", 4.0, 8.0), ("A", 8.5, 11.0), ("B", 11.5, 15.0), ("A", 15.5, 19.0)]
SPEECH = [SpeechSpan(0.0, 8.0), SpeechSpan(8.5, 11.0), SpeechSpan(11.5, 15.0), SpeechSpan(15.5, 19.0)]
DURATION = 20.0


def synth_call(truth) -> Audio:
    samples = np.zeros(int(DURATION * SR), np.float32)
    for speaker, start, end in truth:
        t = np.arange(int((end - start) * SR)) / SR
        samples[int(start * SR) : int(start * SR) + len(t)] = 0.3 * np.sin(2 * np.pi * VOICE_HZ[speaker] * t)
    return Audio([samples], SR, SR, 1, "pcm_s16le")


def reference(truth) -> Annotation:
    annotation = Annotation()
    for index, (speaker, start, end) in enumerate(truth):
        annotation[Segment(start, end), index] = speaker
    return annotation


# --- channel backend ----------------------------------------------------------------------------


def test_channel_diarizer_labels_each_channel():
    silent = np.zeros(10 * SR, np.float32)
    audio = Audio([silent, silent], SR, 8000, 2, "pcm_mulaw")
    speech = [SpeechSpan(0.5, 3.0, 0), SpeechSpan(3.2, 6.0, 1), SpeechSpan(6.5, 8.0, 0), SpeechSpan(7.5, 9.0, 1)]

    result = ChannelDiarizer().diarize(audio, speech)

    assert result.backend == "channel"
    assert result.by_channel is True
    assert result.channel_labels == {0: "SPEAKER_00", 1: "SPEAKER_01"}
    assert result.embeddings == {}
    turns = sorted((seg.start, seg.end, label) for seg, _, label in result.annotation.itertracks(yield_label=True))
    assert turns == [
        (0.5, 3.0, "SPEAKER_00"),
        (3.2, 6.0, "SPEAKER_01"),
        (6.5, 8.0, "SPEAKER_00"),
        (7.5, 9.0, "SPEAKER_01"),  # overlapping speech on two channels stays overlapping
    ]


def test_channel_diarizer_on_the_demo_call(demo_stereo, demo_gold):
    audio = load_audio(demo_stereo)
    result = ChannelDiarizer().diarize(audio, WebrtcSpeechDetector().detect(audio))
    gold = Annotation()
    for index, turn in enumerate(demo_gold["turns"]):
        gold[Segment(turn["start"], turn["end"]), index] = turn["speaker"]
    assert sorted(result.annotation.labels()) == ["SPEAKER_00", "SPEAKER_01"]
    assert der(gold, result.annotation, audio.duration, collar=0.5) < 0.05


def test_channel_diarizer_without_speech():
    audio = Audio([np.zeros(SR, np.float32)] * 2, SR, 8000, 2, "pcm_mulaw")
    result = ChannelDiarizer().diarize(audio, [])
    assert len(result.annotation) == 0
    assert result.channel_labels == {0: "SPEAKER_00", 1: "SPEAKER_01"}


# --- embedding backend with a fake encoder ------------------------------------------------------


def test_embedding_diarizer_finds_the_two_voices():
    voice = voices()
    encoder = FakeEncoder(voice)

    result = EmbeddingDiarizer(encoder=encoder).diarize(synth_call(TRUTH), SPEECH)

    assert encoder.calls == len(SPEECH)
    assert result.backend == "embedding"
    assert result.by_channel is False
    assert result.annotation.labels() == ["SPEAKER_00", "SPEAKER_01"]
    assert der(reference(TRUTH), result.annotation, DURATION) < 0.05
    # labels are numbered by first appearance: the call opens with SPEAKER_00
    first = min(result.annotation.itertracks(yield_label=True), key=lambda track: track[0].start)
    assert first[2] == "SPEAKER_00"
    assert result.annotation.argmax(Segment(0.0, 4.0)) == "SPEAKER_00"
    assert result.annotation.argmax(Segment(4.0, 8.0)) == "SPEAKER_01"
    # the annotation covers the speech and nothing else
    covered = result.annotation.get_timeline().support()
    assert covered.duration() == pytest.approx(sum(span.duration for span in SPEECH), abs=1e-6)


def test_embedding_diarizer_embeddings_are_unit_centroids():
    voice = voices()
    result = EmbeddingDiarizer(encoder=FakeEncoder(voice)).diarize(synth_call(TRUTH), SPEECH)
    assert set(result.embeddings) == {"SPEAKER_00", "SPEAKER_01"}
    for vector in result.embeddings.values():
        assert vector.shape == (256,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert float(result.embeddings["SPEAKER_00"] @ voice["A"]) > 0.9
    assert float(result.embeddings["SPEAKER_01"] @ voice["B"]) > 0.9


def test_embedding_diarizer_second_speaker_first():
    truth = [("B" if speaker == "A" else "A", start, end) for speaker, start, end in TRUTH]
    voice = voices(1)
    result = EmbeddingDiarizer(encoder=FakeEncoder(voice)).diarize(synth_call(truth), SPEECH)
    assert der(reference(truth), result.annotation, DURATION) < 0.05
    assert result.annotation.argmax(Segment(0.0, 4.0)) == "SPEAKER_00"
    assert float(result.embeddings["SPEAKER_00"] @ voice["B"]) > 0.9


def test_identical_voices_are_one_speaker():
    same = voices()["A"]
    encoder = FakeEncoder({"A": same, "B": same}, noise=0.01)
    result = EmbeddingDiarizer(encoder=encoder).diarize(synth_call(TRUTH), SPEECH)
    assert result.annotation.labels() == ["SPEAKER_00"]
    assert list(result.embeddings) == ["SPEAKER_00"]
    assert float(result.embeddings["SPEAKER_00"] @ same) > 0.99


def test_three_speakers_when_asked():
    truth = [*TRUTH[:4], ("C", 15.5, 19.0)]
    voice = voices(2, "ABC")
    options = EmbeddingDiarizerOptions(num_speakers=3)
    result = EmbeddingDiarizer(options, encoder=FakeEncoder(voice)).diarize(synth_call(truth), SPEECH)
    assert result.annotation.labels() == ["SPEAKER_00", "SPEAKER_01", "SPEAKER_02"]
    assert der(reference(truth), result.annotation, DURATION) < 0.05
    assert result.annotation.argmax(Segment(15.5, 19.0)) == "SPEAKER_02"
    # two speakers asked for, three heard: the third joins one of the two
    two = EmbeddingDiarizer(encoder=FakeEncoder(voice)).diarize(synth_call(truth), SPEECH)
    assert len(two.annotation.labels()) == 2


def test_short_spans_are_skipped_and_no_speech_gives_an_empty_result():
    encoder = FakeEncoder(voices())
    audio = synth_call(TRUTH)
    result = EmbeddingDiarizer(encoder=encoder).diarize(audio, [SpeechSpan(1.0, 1.2)])
    assert encoder.calls == 0
    assert len(result.annotation) == 0
    assert result.embeddings == {}
    assert len(EmbeddingDiarizer(encoder=encoder).diarize(audio, []).annotation) == 0


def test_cluster_numbers_labels_by_first_appearance():
    vectors = np.array([[0.0, 1.0], [0.0, 0.9], [1.0, 0.0], [0.1, 1.0], [0.95, 0.05]])
    assert cluster(vectors, 2).tolist() == [0, 0, 1, 0, 1]
    assert cluster(vectors, 1).tolist() == [0] * 5
    assert cluster(vectors[:1], 2).tolist() == [0]


# --- embedding backend for real -----------------------------------------------------------------


@pytest.mark.slow
def test_resemblyzer_on_the_demo_call(demo_mono, samples_dir):
    pytest.importorskip("resemblyzer")
    gold = json.loads((samples_dir / "demo-call-mono.json").read_text(encoding="utf-8"))
    audio = load_audio(demo_mono)
    speech = WebrtcSpeechDetector().detect(audio)

    result = EmbeddingDiarizer().diarize(audio, speech)

    assert result.annotation.labels() == ["SPEAKER_00", "SPEAKER_01"]
    truth = [(turn["speaker"], turn["start"], turn["end"]) for turn in gold["turns"]]
    assert der(reference(truth), result.annotation, audio.duration, collar=0.5) < 0.15
    # the operator answers: the first label is the agent
    assert result.annotation.argmax(Segment(0.5, 7.8)) == "SPEAKER_00"
    for vector in result.embeddings.values():
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
