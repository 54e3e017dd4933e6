"""The guards against Whisper's failure modes, on hand-built segments."""

import pytest

from asr.guards import GuardOptions, apply_guards, collapse_repetitions
from models import Segment, Word


def segment(text: str, start: float = 1.0, end: float = 3.0, probability: float = 0.9, **kwargs) -> Segment:
    """A segment whose words are its characters, evenly spread over [start, end]."""
    chars = [c for c in text if not c.isspace()]
    step = (end - start) / max(1, len(chars))
    words = [Word(start + i * step, start + (i + 1) * step, c, probability) for i, c in enumerate(chars)]
    return Segment(start, end, text, words, **kwargs)


@pytest.mark.parametrize(
    "text",
    [
        "字幕由Amara.org社区提供",
        "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
        "谢谢观看",
        "谢谢大家的收看！",
        "中文字幕",
    ],
)
def test_subtitle_hallucinations_are_dropped(text):
    normal = segment("我要反映一下噪音的问题。", 0.0, 1.0)
    ghost = segment(text, 5.0, 8.0)

    kept, warnings = apply_guards([normal, ghost])

    assert kept == [normal]
    assert len(warnings) == 1
    assert warnings[0].code == "hallucination"
    assert (warnings[0].start, warnings[0].end) == (5.0, 8.0)
    assert text[:10] in warnings[0].message


@pytest.mark.parametrize("text", ["好的，谢谢你。", "谢谢您的耐心等待", "我看了一下字典"])
def test_ordinary_sentences_are_kept(text):
    kept, warnings = apply_guards([segment(text)])
    assert [s.text for s in kept] == [text]
    assert warnings == []


def test_silence_segment_with_low_confidence_is_dropped():
    quiet = segment("嗯。", no_speech_prob=0.9, avg_logprob=-1.5)
    kept, warnings = apply_guards([quiet])
    assert kept == []
    assert [w.code for w in warnings] == ["no_speech"]
    assert "0.90" in warnings[0].message


@pytest.mark.parametrize(
    ("no_speech_prob", "avg_logprob"),
    [(0.9, -0.3), (0.2, -1.5), (0.6, -1.5)],  # both conditions must hold, and strictly
)
def test_no_speech_needs_both_signals(no_speech_prob, avg_logprob):
    spoken = segment("请问具体在什么位置？", no_speech_prob=no_speech_prob, avg_logprob=avg_logprob)
    kept, warnings = apply_guards([spoken])
    assert kept == [spoken]
    assert warnings == []


def test_no_speech_thresholds_are_options():
    spoken = segment("请问具体在什么位置？", no_speech_prob=0.5, avg_logprob=-0.8)
    assert apply_guards([spoken])[0] == [spoken]
    kept, warnings = apply_guards([spoken], options=GuardOptions(max_no_speech_prob=0.4, min_avg_logprob=-0.5))
    assert kept == []
    assert warnings[0].code == "no_speech"


def test_repetition_loop_is_collapsed():
    texts = ["您好"] * 5 + ["请问"]
    words = [Word(0.5 * i, 0.5 * (i + 1), text, 0.8) for i, text in enumerate(texts)]
    looping = Segment(0.0, 3.0, "".join(texts), words, channel=1, avg_logprob=-0.4)

    kept, warnings = apply_guards([looping])

    assert len(kept) == 1
    repaired = kept[0]
    assert repaired.text == "您好请问"
    assert [w.text for w in repaired.words] == ["您好", "请问"]
    assert repaired.words[-1] == words[-1]
    assert repaired.end == words[-1].end
    assert (repaired.start, repaired.channel, repaired.avg_logprob) == (0.0, 1, -0.4)
    assert [w.code for w in warnings] == ["repetition"]
    assert "12 → 4" in warnings[0].message


def test_three_repeats_are_not_a_loop():
    text = "对对对，是的"
    kept, warnings = apply_guards([segment(text)])
    assert kept[0].text == text
    assert warnings == []


def test_high_compression_ratio_is_treated_as_a_loop():
    words = [Word(0.2 * i, 0.2 * (i + 1), w, 0.8) for i, w in enumerate(["请问", "有", "什么"] * 5)]
    looping = Segment(0.0, 3.0, "请问有什么" * 5, words, compression_ratio=3.1)
    kept, warnings = apply_guards([looping])
    assert kept[0].text == "请问有什么"
    assert [w.text for w in kept[0].words] == ["请问", "有", "什么"]
    assert warnings[0].code == "repetition"


def test_collapse_repetitions_leaves_clean_segments_alone():
    clean = segment("在龙华区龙昆南路。")
    repaired = collapse_repetitions(clean)
    assert repaired.text == clean.text
    assert repaired.words == clean.words


HOTWORDS = ("12345", "热线", "龙昆南路")


def test_hotword_echo_with_low_confidence_is_dropped():
    echo = segment("12345热线。", probability=0.3)
    kept, warnings = apply_guards([echo], hotwords=HOTWORDS)
    assert kept == []
    assert [w.code for w in warnings] == ["hotword_echo"]


def test_hotword_segment_decoded_surely_is_kept():
    said = segment("龙昆南路", probability=0.9)
    kept, warnings = apply_guards([said], hotwords=HOTWORDS)
    assert kept == [said]
    assert warnings == []


def test_hotword_guard_is_off_without_hotwords():
    echo = segment("12345热线。", probability=0.3)
    assert apply_guards([echo])[0] == [echo]


def test_hotwords_inside_a_sentence_are_kept():
    sentence = segment("我打12345热线反映问题", probability=0.3)
    assert apply_guards([sentence], hotwords=HOTWORDS)[0] == [sentence]


@pytest.mark.parametrize("text", ["", "  ", "。", "……"])
def test_empty_and_punctuation_only_segments_are_dropped_silently(text):
    kept, warnings = apply_guards([Segment(0.0, 1.0, text, [])])
    assert kept == []
    assert warnings == []


def test_order_and_survivors_are_preserved():
    first = segment("你好，我要反映一下。", 0.0, 2.0)
    ghost = segment("谢谢观看", 2.0, 3.0)
    second = segment("在龙华区。", 3.0, 4.0)
    kept, warnings = apply_guards([first, ghost, second])
    assert kept == [first, second]
    assert [w.code for w in warnings] == ["hallucination"]
