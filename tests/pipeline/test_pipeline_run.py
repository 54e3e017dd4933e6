"""run_pipeline with fakes at the ports: orchestration, merging, roles, warnings, errors."""

from dataclasses import replace

import numpy as np
import pytest
from conftest import write_audio
from pyannote.core import Annotation
from pyannote.core import Segment as Span

from asr.diarize.base import DiarizationResult
from asr.diarize.channel import ChannelDiarizer
from models import CallMeta, NoSpeechError, Segment, SpeechSpan, Ticket, TicketField, Word
from pipeline.run import Engines, run_pipeline


class FakeDetector:
    def __init__(self, spans: list[SpeechSpan]):
        self.spans = spans

    def detect(self, audio):
        return [s for s in self.spans if s.channel < len(audio.channels)]


class FakeTranscriber:
    """Returns canned segments per channel and records what it was asked to transcribe."""

    model_name = "fake"

    def __init__(self, segments_by_channel: dict[int, list[Segment]]):
        self.segments_by_channel = segments_by_channel
        self.calls: list[tuple[int, int]] = []

    def transcribe(self, samples, spans, channel=0):
        self.calls.append((channel, len(spans)))
        return [replace(s, channel=channel) for s in self.segments_by_channel.get(channel, [])]


class FakeDiarizer:
    name = "fake"

    def __init__(self, turns: list[tuple[float, float, str]], embeddings=None):
        self.turns = turns
        self.embeddings = embeddings or {}

    def diarize(self, audio, speech):
        annotation = Annotation()
        for index, (start, end, label) in enumerate(self.turns):
            annotation[Span(start, end), index] = label
        return DiarizationResult(annotation, self.name, embeddings=self.embeddings)


def words(start: float, text: str, step: float = 0.3, probability: float = 0.9) -> list[Word]:
    return [
        Word(round(start + i * step, 3), round(start + (i + 1) * step, 3), char, probability)
        for i, char in enumerate(text)
    ]


def segment(start: float, text: str, channel: int = 0, **kwargs) -> Segment:
    w = words(start, text)
    return Segment(start, w[-1].end, text, w, channel=channel, **kwargs)


@pytest.fixture
def stereo_wav(tmp_path):
    noise = np.random.default_rng(0).normal(0, 0.01, (2, 16000 * 10)).astype(np.float32)
    return write_audio(tmp_path / "call.wav", noise, 16000)


@pytest.fixture
def mono_wav(tmp_path):
    noise = np.random.default_rng(1).normal(0, 0.01, (1, 16000 * 10)).astype(np.float32)
    return write_audio(tmp_path / "mono.wav", noise, 16000)


def stereo_engines(segments):
    spans = [SpeechSpan(0.0, 4.0, 0), SpeechSpan(4.5, 9.0, 1)]
    return Engines(FakeDetector(spans), FakeTranscriber(segments), FakeDiarizer([]), ChannelDiarizer())


def test_stereo_turns_follow_channels_and_greeting_finds_the_agent(stereo_wav):
    # the caller's channel (0 here) speaks first; the greeting on channel 1 marks the agent
    segments = {
        0: [segment(0.5, "喂你好我要反映")],
        1: [segment(4.6, "您好很高兴为您服务")],
    }
    stages = []
    result = run_pipeline(
        stereo_wav,
        CallMeta("c1"),
        stereo_engines(segments),
        hook=lambda stage, **kw: stages.append(stage),
    )
    assert [t.role for t in result.turns] == ["caller", "agent"]
    assert [t.channel for t in result.turns] == [0, 1]
    assert result.turns[1].text == "您好很高兴为您服务"
    assert result.diarization["role_method"] == "greeting"
    assert result.diarization["backend"] == "channel"
    assert result.channels == 2 and result.sample_rate == 16000
    assert abs(result.duration - 10.0) < 0.01
    assert set(result.timings) >= {"decode", "vad", "transcribe", "diarize", "roles", "total"}
    assert stages[0] == "decode" and stages[-1] == "roles"
    assert [s for s in dict.fromkeys(stages)] == ["decode", "vad", "transcribe", "diarize", "roles"]


def test_channel_map_from_the_telephony_wins_over_the_greeting(stereo_wav):
    segments = {0: [segment(0.5, "喂你好")], 1: [segment(4.6, "您好很高兴为您服务")]}
    meta = CallMeta("c1", channel_map={"0": "agent", "1": "caller"})
    result = run_pipeline(stereo_wav, meta, stereo_engines(segments))
    assert [t.role for t in result.turns] == ["agent", "caller"]
    assert result.diarization["role_method"] == "channel_map"


def test_mono_words_are_split_into_turns_at_speaker_changes(mono_wav):
    # one ASR segment spans both speakers; the diarizer says who spoke when
    text = "您好热线请讲我家停水了"
    seg = Segment(0.0, 3.3, text, words(0.0, text), channel=0)
    diarizer = FakeDiarizer([(0.0, 1.5, "SPEAKER_00"), (1.5, 3.5, "SPEAKER_01")])
    engines = Engines(FakeDetector([SpeechSpan(0.0, 3.5)]), FakeTranscriber({0: [seg]}), diarizer, ChannelDiarizer())
    result = run_pipeline(mono_wav, CallMeta("m1"), engines)
    assert [t.text for t in result.turns] == ["您好热线请", "讲我家停水了"]
    assert [t.role for t in result.turns] == ["agent", "caller"]
    assert all(t.channel is None for t in result.turns)
    assert result.turns[0].confidence == pytest.approx(0.9, abs=1e-3)


def test_voiceprint_identifies_the_agent_when_nobody_greets(mono_wav):
    a, b = np.eye(4, dtype=np.float32)[:2]
    seg1, seg2 = segment(0.0, "喂喂"), segment(2.0, "在的请说")
    diarizer = FakeDiarizer([(0.0, 1.0, "SPEAKER_00"), (2.0, 3.5, "SPEAKER_01")], {"SPEAKER_00": a, "SPEAKER_01": b})
    engines = Engines(
        FakeDetector([SpeechSpan(0.0, 3.5)]),
        FakeTranscriber({0: [seg1, seg2]}),
        diarizer,
        ChannelDiarizer(),
        voiceprints=lambda agent_id: b if agent_id == "7" else None,
    )
    result = run_pipeline(mono_wav, CallMeta("m2", agent_id="7"), engines)
    assert [t.role for t in result.turns] == ["caller", "agent"]
    assert result.diarization["role_method"] == "voiceprint"


def test_hallucinations_are_dropped_and_reported(stereo_wav):
    segments = {
        0: [segment(0.5, "您好很高兴为您服务"), segment(2.5, "字幕由Amara.org社区提供")],
        1: [segment(4.6, "我要投诉")],
    }
    result = run_pipeline(stereo_wav, CallMeta("c2"), stereo_engines(segments))
    assert "Amara" not in "".join(t.text for t in result.turns)
    # and channel 1's speech after its last word (5.8 s, the span ends at 9.0 s) is reported
    assert [w.code for w in result.warnings] == ["hallucination", "untranscribed"]


def test_speech_left_without_words_is_reported_as_untranscribed(mono_wav):
    # the VAD hears speech at 4.0-9.5 s; the only text there is a subtitle hallucination the guards drop
    spans = [SpeechSpan(0.0, 2.0), SpeechSpan(4.0, 9.5)]
    segments = {0: [segment(0.2, "您好请讲"), segment(5.0, "字幕由Amara.org社区提供")]}
    diarizer = FakeDiarizer([(0.0, 10.0, "SPEAKER_00")])
    engines = Engines(FakeDetector(spans), FakeTranscriber(segments), diarizer, ChannelDiarizer())
    result = run_pipeline(mono_wav, CallMeta("m3"), engines)
    missing = [w for w in result.warnings if w.code == "untranscribed"]
    assert [(w.start, w.end) for w in missing] == [(4.0, 9.5)]
    assert "5.5 s of speech" in missing[0].message


def test_a_single_speaker_call_warns_about_the_missing_role(stereo_wav):
    segments = {0: [segment(0.5, "您好很高兴为您服务")]}
    result = run_pipeline(stereo_wav, CallMeta("c3"), stereo_engines(segments))
    assert {t.role for t in result.turns} == {"agent"}
    assert any(w.code == "missing_role" and "caller" in w.message for w in result.warnings)


def test_no_speech_raises(stereo_wav):
    engines = Engines(FakeDetector([]), FakeTranscriber({}), FakeDiarizer([]), ChannelDiarizer())
    with pytest.raises(NoSpeechError):
        run_pipeline(stereo_wav, CallMeta("c4"), engines)


def test_each_channel_is_transcribed_with_its_own_spans(stereo_wav):
    transcriber = FakeTranscriber({})
    spans = [SpeechSpan(0.0, 1.0, 0), SpeechSpan(2.0, 3.0, 0), SpeechSpan(1.0, 2.0, 1)]
    engines = Engines(FakeDetector(spans), transcriber, FakeDiarizer([]), ChannelDiarizer())
    run_pipeline(stereo_wav, CallMeta("c5"), engines)
    assert transcriber.calls == [(0, 2), (1, 1)]


class FakeExtractor:
    """Records what it was given and returns a ticket with the caller's first words as summary."""

    def __init__(self):
        self.calls = []

    def extract(self, transcript, meta):
        self.calls.append((transcript.call_id, meta.caller_number))
        ticket = Ticket.empty()
        caller = [turn.text for turn in transcript.turns if turn.role == "caller"]
        ticket.fields["summary"] = TicketField(caller[0], 0.5)
        return ticket


def test_the_extractor_fills_the_ticket_after_roles(stereo_wav):
    segments = {0: [segment(0.5, "喂你好我要反映")], 1: [segment(4.6, "您好很高兴为您服务")]}
    extractor = FakeExtractor()
    engines = replace(stereo_engines(segments), extractor=extractor)
    stages = []
    result = run_pipeline(
        stereo_wav, CallMeta("c1", caller_number="13800000000"), engines, hook=lambda stage, **kw: stages.append(stage)
    )
    assert extractor.calls == [("c1", "13800000000")]
    assert result.ticket.value("summary") == "喂你好我要反映"
    assert stages[-1] == "extract" and "extract" in result.timings
    assert result.to_dict()["ticket"]["fields"]["summary"]["value"] == "喂你好我要反映"


def test_the_reviser_repairs_turns_before_roles_and_keeps_what_was_heard(stereo_wav):
    from extract.lexicon import Lexicon, LexiconEntry
    from extract.repair import LexiconReviser

    lexicon = Lexicon((LexiconEntry(term="城西路", kind="road", weight=1.0),))
    heard = words(4.6, "在成绩路", probability=0.5)  # unsure: Whisper did not know the name
    segments = {0: [segment(0.5, "您好很高兴为您服务")], 1: [Segment(4.6, heard[-1].end, "在成绩路", heard)]}
    engines = replace(stereo_engines(segments), reviser=LexiconReviser(lexicon))
    stages = []
    result = run_pipeline(stereo_wav, CallMeta("c1"), engines, hook=lambda stage, **kw: stages.append(stage))

    caller = result.turns[1]
    assert caller.text == "在城西路"
    assert [(word.text, word.raw) for word in caller.words] == [("在", None), ("城", "成"), ("西", "绩"), ("路", None)]
    repaired = [warning for warning in result.warnings if warning.code == "repaired"]
    assert len(repaired) == 1 and repaired[0].start == caller.words[1].start
    assert stages.index("repair") == stages.index("roles") - 1
    assert result.to_dict()["turns"][1]["words"][1]["raw"] == "成"
