"""The live decode of one utterance (`FasterWhisperTranscriber.for_live`) on the real Whisper base: the short-window
encoder sees the utterance rather than 30 s, and the text it gives is the 30 s window's, near enough."""

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import read_pcm16

from asr.audio import resample_pcm16
from asr.stream_vad import ChannelSegmenter
from asr.transcribe import ENCODER_TAIL_S, load_whisper, short_window
from models import SpeechSpan
from pipeline.evaluation import char_errors

ROOT = Path(__file__).resolve().parents[2]
SR = 8000


@pytest.fixture(scope="module")
def utterances(demo_stereo):
    """The demo call's caller utterances as the live segmenter closes them, at 16 kHz."""
    pcm = read_pcm16(demo_stereo)
    segmenter = ChannelSegmenter(SR, channel=1)
    closed = segmenter.feed(np.ascontiguousarray(pcm[:, 1])) + segmenter.finish()
    return [resample_pcm16(utterance.samples, SR) for utterance in closed]


@pytest.mark.slow
def test_the_short_window_encoder_sees_the_audio_and_its_tail_not_the_padding(engines):
    from faster_whisper.audio import pad_or_trim

    config = engines.transcriber.config
    full, short = load_whisper(config), short_window(config, 2.0)
    assert short.model is full.model, "one copy of the weights"
    four_seconds = full.feature_extractor(np.random.default_rng(0).normal(0, 0.1, 4 * 16000).astype(np.float32))
    padded = pad_or_trim(four_seconds)
    frames = four_seconds.shape[-1] + round(ENCODER_TAIL_S * 100)
    assert short.encode(padded).shape[1] == (frames + frames % 2) // 2  # the encoder halves the frames
    assert full.encode(padded).shape[1] == 1500
    one_second = pad_or_trim(full.feature_extractor(np.zeros(8000, dtype=np.float32) + 0.01))
    assert short.encode(one_second).shape[1] == 100, "at least min_s (2 s: 200 frames in, 100 out)"


@pytest.mark.slow
def test_the_short_window_reads_the_caller_as_well_as_the_30_s_window(engines, utterances):
    lean = engines.transcriber.for_live()  # beam 5, the encoder on at least 10 s
    assert (lean.options.numbers, lean.options.redecode.gaps, lean.options.temperature) == (None, False, (0.0,))
    full_window = engines.transcriber.for_live(encoder_min_s=None)
    full_text, lean_text = "", ""
    for samples in utterances:
        span = [SpeechSpan(0.0, len(samples) / 16000, 1)]
        full_text += "".join(segment.text for segment in full_window.transcribe(samples, span, 1))
        segments = lean.transcribe(samples, span, 1)
        assert all(0.0 <= w.start <= w.end <= span[0].end + 0.05 for s in segments for w in s.words)
        lean_text += "".join(segment.text for segment in segments)
    gold = json.loads((ROOT / "samples" / "demo-call.json").read_text(encoding="utf-8"))
    caller = "".join(turn["text"] for turn in gold["turns"] if turn["speaker"] == "caller")
    (full_errors, length), (lean_errors, _) = char_errors(caller, full_text), char_errors(caller, lean_text)
    # the two differ by a few characters per utterance (数字 as 1号 or 一号, a near-homophone), neither way better
    assert lean_errors <= full_errors + 0.03 * length, f"{lean_errors} against {full_errors} of {length} wrong"
