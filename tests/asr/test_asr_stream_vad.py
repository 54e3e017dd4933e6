"""Live segmentation (asr.stream_vad): utterances close when the speaker stops, whatever the chunk size,
where the batch detector ends its spans, and the same after a restart from a saved position."""

import itertools

import numpy as np
import pytest
from conftest import read_pcm16, tone

from asr.audio import load_audio
from asr.stream_vad import ChannelPosition, ChannelSegmenter, StreamVadOptions
from asr.vad import WebrtcSpeechDetector

SR = 8000
FRAME = SR * 30 // 1000


def voice(seconds: float, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A speech-like signal: harmonics of a gliding pitch, syllable-rate loudness, a little breath noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    pitch = f0 * (1 + 0.15 * np.sin(2 * np.pi * 1.3 * t + seed))
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    harmonics = sum(np.sin(k * phase) / k for k in range(1, 12))
    syllables = 0.55 + 0.45 * np.sin(2 * np.pi * 4.0 * t) ** 2
    return (0.2 * harmonics * syllables + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SR), dtype=np.float32)


def pcm(*parts: np.ndarray) -> np.ndarray:
    return (np.clip(np.concatenate(parts), -1, 1) * 32767).astype(np.int16)


def run(samples: np.ndarray, chunk_ms: int, options=None, position=None, start: int = 0):
    segmenter = ChannelSegmenter(SR, options, position=position)
    chunk = SR * chunk_ms // 1000
    found = []
    for offset in range(start, len(samples), chunk):
        found += segmenter.feed(samples[offset : offset + chunk])
    return found + segmenter.finish(), segmenter


def keys(utterances) -> list[tuple[int, int, int]]:
    return [(u.channel, u.start, u.end) for u in utterances]


@pytest.fixture(scope="module")
def three_bursts() -> np.ndarray:
    # 2 s, 3 s (with a 0.3 s pause inside, bridged) and 1.5 s of voice, apart by 1.5 s of silence
    return pcm(
        silence(1.0),
        voice(2.0, seed=1),
        silence(1.5),
        voice(1.4, seed=2),
        silence(0.3),
        voice(1.3, seed=3),
        silence(1.5),
        voice(1.5, seed=4),
        silence(1.5),
    )


BURST_ENDS_S = (3.0, 7.5, 10.5)


def test_utterances_close_where_the_speaker_stops(three_bursts):
    utterances, _ = run(three_bursts, 20)
    assert len(utterances) == 3
    options = StreamVadOptions()
    for utterance, end in zip(utterances, BURST_ENDS_S, strict=True):
        assert abs(utterance.speech_end / SR - end) < 0.1
        delay_ms = (utterance.decided_at - utterance.speech_end) * 1000 / SR
        assert options.end_silence_ms <= delay_ms < options.end_silence_ms + 2 * options.vad.frame_ms
        # padded like a batch span, and the audio handed out is exactly that stretch
        assert utterance.end - utterance.speech_end == SR * options.vad.speech_pad_ms // 1000
        assert np.array_equal(utterance.samples, three_bursts[utterance.start : utterance.end])


@pytest.mark.parametrize("chunk_ms", [20, 37, 100, 1000])
def test_chunk_size_changes_nothing(three_bursts, chunk_ms):
    reference, _ = run(three_bursts, 30)
    found, _ = run(three_bursts, chunk_ms)
    assert keys(found) == keys(reference)
    assert [u.decided_at for u in found] == [u.decided_at for u in reference]
    # what a chunk adds is only the wait for the rest of the chunk
    for utterance in found:
        assert 0 <= utterance.closed_at - utterance.decided_at < SR * chunk_ms // 1000 + FRAME


def test_a_long_monologue_is_handed_out_in_pieces():
    options = StreamVadOptions(max_utterance_s=8.0)
    samples = pcm(silence(0.5), *[voice(2.9, seed=s) for s in range(7)], silence(1.0))
    utterances, _ = run(samples, 100, options)
    assert len(utterances) >= 3
    assert all((u.end - u.start) / SR <= options.max_utterance_s + 0.05 for u in utterances)
    assert all(u.cut for u in utterances[:-1]) and not utterances[-1].cut
    for before, after in itertools.pairwise(utterances):
        assert before.end == after.start  # pieces follow each other: nothing lost, nothing twice


def test_hold_tones_and_clicks_are_not_utterances():
    beep = (tone(4.0, SR, 425.0) * 32767 * 0.8).astype(np.int16)
    click = pcm(voice(0.09, seed=5))
    samples = np.concatenate([pcm(silence(0.5)), beep, pcm(silence(1.0)), click, pcm(silence(1.0))])
    utterances, _ = run(samples, 20)
    assert utterances == []


@pytest.mark.parametrize("stop_s", [2.2, 4.1, 8.0, 9.3])
def test_a_restart_from_the_saved_position_hands_out_the_rest_once(three_bursts, stop_s):
    reference, _ = run(three_bursts, 20)
    stop = int(stop_s * SR)
    first = ChannelSegmenter(SR)
    before = first.feed(three_bursts[:stop])
    position = first.position
    assert position.reset_sample % FRAME == 0 and position.resume_sample <= stop
    after, _ = run(three_bursts, 20, position=position, start=position.resume_sample)
    assert keys(before) + keys(after) == keys(reference)
    assert all(u.start >= position.resume_sample for u in after)


def test_a_restart_inside_a_long_monologue_skips_the_pieces_already_handed_out():
    options = StreamVadOptions(max_utterance_s=6.0)
    samples = pcm(silence(0.5), *[voice(2.9, seed=s) for s in range(6)], silence(1.0))
    reference, _ = run(samples, 20, options)
    first = ChannelSegmenter(SR, options)
    before = first.feed(samples[: int(13.0 * SR)])
    assert before, "a piece was cut before the restart"
    after, _ = run(samples, 20, options, position=first.position, start=first.position.resume_sample)
    assert keys(before) + keys(after) == keys(reference)


def test_a_fresh_start_at_any_sample_lands_on_the_frame_grid():
    position = ChannelPosition.at(1000, FRAME)
    assert position.reset_sample == 1200 and position.resume_sample == 1000
    with pytest.raises(ValueError, match="frame grid"):
        ChannelSegmenter(SR, position=ChannelPosition(1000, 1000, 1000))
    with pytest.raises(ValueError, match="8/16/32/48 kHz"):
        ChannelSegmenter(11025)
    with pytest.raises(ValueError, match="int16"):
        ChannelSegmenter(SR).feed(np.zeros(10, dtype=np.float32))


@pytest.fixture(scope="module")
def demo_pcm(demo_stereo) -> np.ndarray:
    return read_pcm16(demo_stereo)


@pytest.mark.parametrize("channel", [0, 1])
def test_demo_utterances_end_where_the_batch_detector_ends_speech(demo_stereo, demo_pcm, channel):
    samples = np.ascontiguousarray(demo_pcm[:, channel])
    live_20, _ = run(samples, 20)
    live_100, _ = run(samples, 100)
    assert keys(live_20) == keys(live_100)
    batch_ends = [s.end for s in WebrtcSpeechDetector().detect(load_audio(demo_stereo)) if s.channel == channel]
    live_ends = [u.end / SR for u in live_20]
    # every live utterance ends where a batch span ends (the batch detector also splits at 300 ms pauses
    # that live bridges), and most batch span ends are live utterance ends
    assert all(min(abs(end - b) for b in batch_ends) < 0.35 for end in live_ends)
    matched = sum(1 for b in batch_ends if min(abs(end - b) for end in live_ends) < 0.35)
    assert matched >= 0.7 * len(batch_ends)
    assert len(live_20) >= 6
