"""Speech left without words: finding gaps, decoding them again, merging, warning; the re-decode budget.

Hand-built spans and words, a fake decoder for the gap repair, and a fake faster-whisper model
behind FasterWhisperTranscriber for the wiring and the budget (the real model: tests/asr/test_asr_coverage_real.py).
"""

from types import SimpleNamespace

import numpy as np
import pytest

from asr.coverage import (
    UNTRANSCRIBED,
    CoverageOptions,
    Gap,
    fill_gaps,
    find_gaps,
    gap_windows,
    merge_gap_words,
    untranscribed_seconds,
    untranscribed_warnings,
)
from asr.transcribe import FasterWhisperTranscriber, RedecodeOptions, TranscribeOptions, WhisperConfig
from models import PipelineWarning, Segment, SpeechSpan, Word


def words(start: float, text: str, step: float = 0.3) -> list[Word]:
    return [Word(round(start + i * step, 3), round(start + (i + 1) * step, 3), c, 0.9) for i, c in enumerate(text)]


def segment(start: float, text: str, channel: int = 0, step: float = 0.3) -> Segment:
    w = words(start, text, step)
    return Segment(w[0].start, w[-1].end, text, w, channel=channel)


# ---------------------------------------------------------------- finding gaps


def test_speech_after_the_last_word_is_a_gap():
    spans = [SpeechSpan(0.0, 10.0)]
    gaps = find_gaps(spans, words(0.5, "您好请讲"))  # words end at 1.7 s
    assert gaps == [Gap(1.95, 10.0)]  # 1.7 s + 0.25 s of word slack


def test_pauses_and_span_padding_are_not_gaps():
    # the VAD pads spans by 200 ms; words 0.3 s apart leave less than a second between them
    spans = [SpeechSpan(0.0, 2.0), SpeechSpan(4.0, 6.2)]
    assert find_gaps(spans, words(0.2, "我家停水了") + words(5.0, "好的")) == []


def test_a_span_without_any_word_is_one_gap_and_short_ones_are_not():
    spans = [SpeechSpan(0.0, 2.0, 1), SpeechSpan(5.0, 5.9, 1), SpeechSpan(8.0, 12.5, 1)]
    gaps = find_gaps(spans, words(0.2, "喂你好"))
    assert gaps == [Gap(8.0, 12.5, 1)]
    assert gaps[0].duration == pytest.approx(4.5)


def test_touching_spans_are_one_stretch_of_speech():
    # the VAD splits long speech into spans that touch; their uncovered parts are one gap
    spans = [SpeechSpan(0.0, 0.6), SpeechSpan(0.6, 1.2)]
    assert find_gaps(spans, []) == [Gap(0.0, 1.2)]


def test_the_options_set_gap_length_and_slack():
    spans = [SpeechSpan(0.0, 4.0)]
    few = words(0.0, "好的")  # 0-0.6 s
    assert find_gaps(spans, few, CoverageOptions(min_gap_s=3.5)) == []
    assert find_gaps(spans, few, CoverageOptions(word_slack_s=0.0)) == [Gap(0.6, 4.0)]


# ---------------------------------------------------------------- decoding gaps again and merging


def test_gap_windows_take_context_join_overlaps_split_long_ones_and_pack_the_rest():
    gaps = [Gap(2.0, 3.5), Gap(4.0, 5.2), Gap(10.0, 16.0), Gap(30.0, 75.0)]
    # 1.5-5.7 (two gaps and their context joined), 9.5-16.5, and 29.5-75.5 in two halves
    packed = gap_windows(gaps, context_s=0.5, max_window_s=30.0)
    assert packed == [[(29.5, 52.5)], [(52.5, 75.5)], [(1.5, 5.7), (9.5, 16.5)]]  # most uncovered speech first
    alone = gap_windows(gaps, context_s=0.5, max_window_s=30.0, pack=False)
    assert alone == [[(29.5, 52.5)], [(52.5, 75.5)], [(9.5, 16.5)], [(1.5, 5.7)]]
    assert gap_windows([Gap(0.2, 2.0)], 0.5, 30.0) == [[(0.0, 2.5)]]


def test_only_words_inside_a_gap_are_merged_in_time_order():
    existing = [segment(0.0, "您好请讲"), segment(6.0, "对吗")]
    gaps = [Gap(1.45, 5.75)]
    # the re-decoded window has context on both sides: 请讲 and 对 come back and must not repeat
    heard = words(0.6, "请讲") + words(2.0, "我家停水了") + words(6.0, "对")
    redecoded = [Segment(0.6, 6.3, "请讲我家停水了对", heard)]
    merged = merge_gap_words(existing, redecoded, gaps)
    assert [s.text for s in merged] == ["您好请讲", "我家停水了", "对吗"]
    assert [w.text for s in merged for w in s.words] == list("您好请讲我家停水了对吗")
    assert (merged[1].start, merged[1].end) == (2.0, 3.5)


def test_a_redecoded_segment_inside_the_gap_keeps_its_text_and_scores():
    found = Segment(3.0, 3.6, "好的。", words(3.0, "好的"), avg_logprob=-0.4, no_speech_prob=0.1)
    merged = merge_gap_words([], [found], [Gap(2.5, 4.0)])
    assert merged == [found]


def test_fill_gaps_decodes_the_gaps_together_then_what_is_left_alone_while_allowed():
    spans = [SpeechSpan(0.0, 4.0), SpeechSpan(10.0, 20.0)]
    segments = [segment(0.2, "您好请讲")]  # 0.2-1.4 s: gaps 1.65-4.0 and 10-20
    asked = []

    def decode(pieces):
        asked.append(pieces)
        together, alone = [segment(10.2, "我要反映噪音", step=1.6)], [segment(2.0, "我家停水了")]
        return together if len(pieces) == 2 else alone

    filled = fill_gaps(segments, spans, decode, lambda: True, context_s=0.5)
    assert asked == [[(1.15, 4.5), (9.5, 20.5)], [(1.15, 4.5)]]
    assert "".join(s.text for s in filled) == "您好请讲我家停水了我要反映噪音"
    assert find_gaps(spans, [w for s in filled for w in s.words]) == []

    asked.clear()
    allowed = iter([True, False])
    filled = fill_gaps(segments, spans, decode, lambda: next(allowed), context_s=0.5)
    assert asked == [[(1.15, 4.5), (9.5, 20.5)]]  # out of budget: the gap left stays a gap
    assert find_gaps(spans, [w for s in filled for w in s.words]) == [Gap(1.65, 4.0)]


def test_a_window_is_not_decoded_twice_and_covered_speech_not_at_all():
    spans = [SpeechSpan(0.0, 4.0)]
    asked = []
    fill_gaps([segment(0.2, "您好")], spans, lambda pieces: asked.append(pieces) or [], lambda: True)
    assert asked == [[(0.55, 4.5)]]  # alone it is the same window: not decoded again
    segments = [segment(0.2, "您好请讲我家停水了")]
    assert fill_gaps(segments, spans, lambda pieces: pytest.fail("decoded"), lambda: True) == segments


# ---------------------------------------------------------------- warnings


def test_each_remaining_gap_becomes_an_untranscribed_warning():
    spans = [SpeechSpan(60.0, 90.0, channel=1)]
    warnings = untranscribed_warnings(spans, [segment(60.2, "好的跟您核对一下", channel=1)])
    assert len(warnings) == 1
    warning = warnings[0]
    assert warning.code == UNTRANSCRIBED == "untranscribed"
    assert (warning.start, warning.end) == (62.85, 90.0)
    assert warning.message == (
        "no words recognised in 27.1 s of speech on channel 1 (1:02.9-1:30.0); listen to the recording there"
    )
    assert untranscribed_seconds([*warnings, PipelineWarning("repetition", "x", 1.0, 5.0)]) == 27.15
    assert untranscribed_warnings(spans, [segment(60.2, "好" * 100, channel=1)]) == []


# ---------------------------------------------------------------- FasterWhisperTranscriber with a fake model


class FakeWhisper:
    """Stands in for faster_whisper.WhisperModel: canned text per call.

    Segments are built from `texts[i]` for the i-th call, one 0.3 s word per character from the
    start of the audio it was given (like Whisper, times relative to that audio).
    """

    max_length = 448

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.calls: list[dict] = []
        self.hf_tokenizer = SimpleNamespace(encode=lambda text, add_special_tokens: SimpleNamespace(ids=list(text)))

    def transcribe(self, audio, clip_timestamps, **options):
        self.calls.append({"seconds": len(audio) / 16000, "clip": clip_timestamps, **options})
        text = self.texts[len(self.calls) - 1]
        start = clip_timestamps[0]
        if not text:
            return iter([]), None
        ws = [
            SimpleNamespace(start=start + i * 0.3, end=start + (i + 1) * 0.3, word=c, probability=0.9)
            for i, c in enumerate(text)
        ]
        found = SimpleNamespace(
            start=ws[0].start,
            end=ws[-1].end,
            text=text,
            words=ws,
            avg_logprob=-0.3,
            no_speech_prob=0.05,
            compression_ratio=1.2,
        )
        return iter([found]), None


@pytest.fixture
def fake_whisper(monkeypatch):
    def install(texts: list[str], **options):
        model = FakeWhisper(texts)
        monkeypatch.setattr("asr.transcribe.load_whisper", lambda config: model)
        transcriber = FasterWhisperTranscriber(WhisperConfig("fake"), TranscribeOptions(batch_size=1, **options))
        return transcriber, model

    return install


def test_the_transcriber_decodes_a_gap_again_on_its_own_with_bounded_fallback(fake_whisper):
    # the re-decode hears the context again (讲 at 0.95-1.55 s): only what falls in the gap is taken
    transcriber, model = fake_whisper(["您好请讲", "讲讲我家停水了"])
    samples = np.zeros(16000 * 10, dtype=np.float32)
    spans = [SpeechSpan(0.0, 4.0)]

    segments = transcriber.transcribe(samples, spans)

    first, again = model.calls
    assert first["temperature"] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0] and "max_new_tokens" not in first
    # the gap 1.45-4.0 s with 0.5 s of context: 0.95-4.5 s of the recording, as its own window
    assert again["seconds"] == pytest.approx(3.55) and again["clip"] == [0.0, pytest.approx(3.55)]
    assert again["temperature"] == [0.0, 0.4, 0.8]
    assert again["max_new_tokens"] == int(10 * 3.55) + 16
    assert "".join(w.text for s in segments for w in s.words) == "您好请讲我家停水了"
    assert segments[1].words[0].start == pytest.approx(1.55)


def test_without_gap_repair_the_gap_stays(fake_whisper):
    transcriber, model = fake_whisper(["您好请讲"], redecode=RedecodeOptions(gaps=False))
    segments = transcriber.transcribe(np.zeros(16000 * 10, dtype=np.float32), [SpeechSpan(0.0, 4.0)])
    assert len(model.calls) == 1
    assert find_gaps([SpeechSpan(0.0, 4.0)], segments[0].words) == [Gap(1.45, 4.0)]


def test_re_decodes_stop_when_the_budget_is_spent(fake_whisper):
    # 7 s of speech in one window: the batched pass cost 7 + 5 (encoder) = 12 s, and so may the re-decodes;
    # the gaps packed together (0.95-4.5 and 5.5-9.5 s: 7.55 + 5 s) start within it and spend it, none goes alone
    transcriber, model = fake_whisper(["您好请讲", "", "", ""])
    spans = [SpeechSpan(0.0, 4.0), SpeechSpan(6.0, 9.0)]
    segments = transcriber.transcribe(np.zeros(16000 * 10, dtype=np.float32), spans)
    assert [call["seconds"] for call in model.calls] == [7.0, pytest.approx(7.55)]
    assert len(find_gaps(spans, [w for s in segments for w in s.words])) == 2

    transcriber, model = fake_whisper(["您好请讲", "", "", ""], redecode=RedecodeOptions(budget=1.5))
    transcriber.transcribe(np.zeros(16000 * 10, dtype=np.float32), spans)
    # and with 1.5 times (18 s) the longer gap alone too, then no more
    assert [call["seconds"] for call in model.calls] == [7.0, pytest.approx(7.55), pytest.approx(4.0)]
