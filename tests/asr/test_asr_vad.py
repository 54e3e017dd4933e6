"""webrtcvad segmentation on the demo call against its gold turns, and on the non-speech a hotline
line carries (silence, hold and beep tones, line noise)."""

import itertools

import numpy as np
import pytest
from conftest import tone
from scipy.signal import resample_poly

from asr.audio import load_audio
from asr.vad import VadOptions, WebrtcSpeechDetector, detect_speech, spectral_tonality
from models import Audio, SpeechSpan

SR = 16000
ROLES = ("agent", "caller")  # channel 0, channel 1 of demo-call.wav
GOLD_PAD_S = 0.3


def total(intervals) -> float:
    return sum(end - start for start, end in intervals)


def overlap(a, b) -> float:
    return sum(max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in a for s2, e2 in b)


def gold_turns(gold: dict, role: str) -> list[tuple[float, float]]:
    return [(turn["start"], turn["end"]) for turn in gold["turns"] if turn["speaker"] == role]


def assert_well_formed(spans: list[SpeechSpan], duration: float, options: VadOptions) -> None:
    for channel in {span.channel for span in spans}:
        own = [span for span in spans if span.channel == channel]
        for span in own:
            assert 0.0 <= span.start < span.end <= duration + 1e-6
            assert span.duration >= options.min_speech_ms / 1000
        for before, after in itertools.pairwise(own):
            assert before.end <= after.start
    starts = [span.start for span in spans]
    assert starts == sorted(starts)


@pytest.fixture(scope="module")
def demo_audio(demo_stereo) -> Audio:
    return load_audio(demo_stereo)


@pytest.fixture(scope="module")
def demo_spans(demo_audio) -> list[SpeechSpan]:
    return WebrtcSpeechDetector().detect(demo_audio)


def test_demo_spans_are_well_formed(demo_audio, demo_spans):
    assert {span.channel for span in demo_spans} == {0, 1}
    assert_well_formed(demo_spans, demo_audio.duration, VadOptions())


@pytest.mark.parametrize("channel", [0, 1])
def test_demo_speech_is_covered(demo_spans, demo_gold, channel):
    gold = gold_turns(demo_gold, ROLES[channel])
    found = [(span.start, span.end) for span in demo_spans if span.channel == channel]
    assert overlap(found, gold) / total(gold) >= 0.90
    # every gold turn is found, not just most of the speech time
    for turn in gold:
        assert overlap(found, [turn]) / total([turn]) >= 0.8, turn


@pytest.mark.parametrize("channel", [0, 1])
def test_demo_spans_fall_in_the_channels_own_turns(demo_spans, demo_gold, channel):
    own = [(start - GOLD_PAD_S, end + GOLD_PAD_S) for start, end in gold_turns(demo_gold, ROLES[channel])]
    found = [(span.start, span.end) for span in demo_spans if span.channel == channel]
    assert found
    assert overlap(found, own) / total(found) >= 0.85


def test_spans_from_one_channel_only_when_one_channel_speaks(demo_audio, demo_gold):
    agent_only = detect_speech(demo_audio.channels[0], SR, VadOptions(), channel=0)
    assert all(span.channel == 0 for span in agent_only)
    first_caller_turn = gold_turns(demo_gold, "caller")[0]
    caller = detect_speech(demo_audio.channels[1], SR, VadOptions(), channel=1)
    # the caller's line is silent (line noise only) while the operator greets
    assert caller[0].start >= first_caller_turn[0] - GOLD_PAD_S


@pytest.mark.parametrize("channel", [0, 1])
def test_8khz_input_finds_the_same_speech(demo_audio, demo_gold, channel):
    narrow = resample_poly(demo_audio.channels[channel], 1, 2).astype(np.float32)
    spans = detect_speech(narrow, 8000, VadOptions(), channel=channel)

    assert spans
    assert all(span.channel == channel for span in spans)
    assert_well_formed(spans, len(narrow) / 8000, VadOptions())
    gold = gold_turns(demo_gold, ROLES[channel])
    found = [(span.start, span.end) for span in spans]
    assert overlap(found, gold) / total(gold) >= 0.90
    wide = [(span.start, span.end) for span in detect_speech(demo_audio.channels[channel], SR, VadOptions())]
    assert total(found) == pytest.approx(total(wide), rel=0.1)


def test_speech_is_not_tonal(demo_audio, demo_gold):
    limit = VadOptions().max_tonality
    for channel, role in enumerate(ROLES):
        for start, end in gold_turns(demo_gold, role):
            segment = demo_audio.channels[channel][int(start * SR) : int(end * SR)]
            assert spectral_tonality(segment, SR) < limit, (role, start)


def test_silence_has_no_speech():
    assert detect_speech(np.zeros(5 * SR, np.float32), SR, VadOptions()) == []
    assert spectral_tonality(np.zeros(SR, np.float32), SR) == 0.0


def test_too_short_input_has_no_speech():
    assert detect_speech(np.zeros(100, np.float32), SR, VadOptions()) == []


def beep_pattern() -> np.ndarray:
    """Hold/queue beeps: 1 s of 440 Hz, 1 s off, six times."""
    return np.concatenate([np.concatenate([tone(1.0, SR, 440), np.zeros(SR, np.float32)]) for _ in range(6)])


def ding_dong() -> np.ndarray:
    """A two-tone chime (440 → 350 Hz), three times with short pauses."""
    chime = np.concatenate([tone(1.0, SR, 440), tone(1.0, SR, 350), np.zeros(SR // 2, np.float32)])
    return np.concatenate([chime] * 3)


@pytest.mark.parametrize("make", [beep_pattern, ding_dong])
def test_tones_are_rejected_as_tonal(make):
    signal = make()
    assert spectral_tonality(signal, SR) > VadOptions().max_tonality
    # webrtcvad alone calls these tones speech; the tonality check is what drops them
    assert detect_speech(signal, SR, VadOptions(max_tonality=1.0))
    assert detect_speech(signal, SR, VadOptions()) == []


def test_tone_on_a_speech_channel_is_dropped_but_speech_kept(demo_audio, demo_gold):
    agent = demo_audio.channels[0].copy()
    # a hold beep on the operator's channel while the caller talks (10-11 s)
    agent[10 * SR : 11 * SR] += tone(1.0, SR, 440)
    spans = detect_speech(agent, SR, VadOptions())
    assert not any(span.start < 11.0 and span.end > 10.0 for span in spans)
    gold = gold_turns(demo_gold, "agent")
    assert overlap([(s.start, s.end) for s in spans], gold) / total(gold) >= 0.9


def test_low_noise_has_no_speech():
    noise = (10 ** (-50 / 20) * np.random.default_rng(0).standard_normal(5 * SR)).astype(np.float32)
    assert detect_speech(noise, SR, VadOptions()) == []


@pytest.mark.parametrize("sample_rate", [22050, 44100, 11025])
def test_unsupported_sample_rate(sample_rate):
    with pytest.raises(ValueError, match=f"8/16/32/48 kHz audio, got {sample_rate}"):
        detect_speech(np.zeros(sample_rate, np.float32), sample_rate, VadOptions())


def test_long_spans_are_split(demo_audio):
    options = VadOptions(max_span_s=3.0)
    default = detect_speech(demo_audio.channels[0], SR, VadOptions())
    split = detect_speech(demo_audio.channels[0], SR, options)

    assert max(span.duration for span in default) > 3.0
    # the limit holds for the padded spans Whisper receives, not just for the raw speech
    assert max(span.duration for span in split) <= options.max_span_s + 1e-6
    assert len(split) > len(default)
    assert_well_formed(split, demo_audio.duration, options)
    # splitting moves no speech in or out
    assert total([(s.start, s.end) for s in split]) == pytest.approx(
        total([(s.start, s.end) for s in default]), abs=0.1
    )


def test_detector_merges_channels_sorted(demo_audio):
    spans = WebrtcSpeechDetector(VadOptions()).detect(demo_audio)
    per_channel = [detect_speech(samples, SR, VadOptions(), channel=i) for i, samples in enumerate(demo_audio.channels)]
    assert sorted(spans, key=lambda s: (s.start, s.channel)) == spans
    assert len(spans) == sum(len(spans_) for spans_ in per_channel)
    assert set(spans) == set(per_channel[0]) | set(per_channel[1])
