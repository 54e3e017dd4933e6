"""Guards against Whisper's known failure modes on phone calls.

Whisper was trained on subtitled video, so on silence, hold music and line noise it writes
subtitle credits ("字幕由Amara.org社区提供", "请不吝点赞订阅…"), loops on a phrase, or echoes
the hot-word prompt. Each guard drops or repairs the segment and says why in a warning.
"""

import re
from dataclasses import dataclass, replace

from asr.numbers import DIGIT_CHARS
from models import PipelineWarning, Segment

# Phrases Whisper emits on non-speech; matched on simplified text with spaces removed.
HALLUCINATION_PATTERNS: tuple[str, ...] = (
    r"字幕(由|制作|提供|志愿者|组|翻译|校对|by)",
    r"amara\.?org",
    r"(请|欢迎)?不吝点赞",
    r"点赞.{0,6}订阅",
    r"订阅.{0,6}(转发|打赏|频道)",
    r"明镜(与|和)点点",
    r"优优独播剧场",
    r"yoyo ?television",
    r"(谢谢|感谢)(大家|您)?的?(收看|观看)",
    r"下集(更精彩|再见)",
    r"中文字幕",
    r"本(视频|节目)由",
    r"请关注.{0,8}(频道|公众号)",
)
_HALLUCINATION_RE = re.compile("|".join(HALLUCINATION_PATTERNS), re.IGNORECASE)
_LOOP_RE = re.compile(r"(.{1,12}?)\1{3,}")
_DIGITS = frozenset(DIGIT_CHARS)
MAX_SAME_DIGITS = 7
"""A digit said up to this many times in a row is a number (13900005286, 幺三九零零零零), not a loop."""


def _is_loop(match: re.Match) -> bool:
    unit = match.group(1)
    return not (set(unit) <= _DIGITS and len(match.group()) // len(unit) <= MAX_SAME_DIGITS)


def _find_loop(text: str) -> re.Match | None:
    return next((match for match in _LOOP_RE.finditer(text) if _is_loop(match)), None)


@dataclass(frozen=True)
class GuardOptions:
    """Thresholds of the guards.

    max_no_speech_prob / min_avg_logprob: a segment Whisper itself thinks is silence and that it
        decoded with low confidence is dropped (both must hold, as in Whisper's own rule).
    max_compression_ratio: text this repetitive (zlib ratio) is a loop.
    hotword_min_probability: a segment made only of hot words is kept only if decoded this surely.
    """

    max_no_speech_prob: float = 0.6
    min_avg_logprob: float = -1.0
    max_compression_ratio: float = 2.4
    hotword_min_probability: float = 0.6


def apply_guards(
    segments: list[Segment],
    hotwords: tuple[str, ...] = (),
    options: GuardOptions | None = None,
) -> tuple[list[Segment], list[PipelineWarning]]:
    """Segments that survive the guards, and a warning for each one dropped or repaired."""
    options = options or GuardOptions()
    kept: list[Segment] = []
    warnings: list[PipelineWarning] = []

    def drop(segment: Segment, code: str, why: str) -> None:
        warnings.append(PipelineWarning(code, f"dropped {segment.text[:40]!r}: {why}", segment.start, segment.end))

    for segment in segments:
        compact = re.sub(r"\s+", "", segment.text)
        if not compact or not re.search(r"\w", compact):
            continue
        if _HALLUCINATION_RE.search(compact):
            drop(segment, "hallucination", "a subtitle/video phrase Whisper writes on non-speech")
            continue
        if segment.no_speech_prob > options.max_no_speech_prob and segment.avg_logprob < options.min_avg_logprob:
            drop(segment, "no_speech", f"no-speech probability {segment.no_speech_prob:.2f}")
            continue
        if (
            hotwords
            and _only_hotwords(compact, hotwords)
            and _mean_probability(segment) < options.hotword_min_probability
        ):
            drop(segment, "hotword_echo", "only hot words, decoded with low confidence")
            continue
        if segment.compression_ratio > options.max_compression_ratio or _find_loop(compact):
            repaired = collapse_repetitions(segment)
            warnings.append(
                PipelineWarning(
                    "repetition",
                    f"collapsed a repetition loop ({len(segment.text)} → {len(repaired.text)} characters)",
                    segment.start,
                    segment.end,
                )
            )
            segment = repaired
        kept.append(segment)
    return kept, warnings


def has_repetition_loop(text: str) -> bool:
    """True when a phrase of up to 12 characters repeats four or more times in a row (a digit: eight)."""
    return _find_loop(re.sub(r"\s+", "", text)) is not None


def collapse_repetitions(segment: Segment) -> Segment:
    """Keep one copy of any phrase repeated four or more times in a row, in the text and the words."""
    text = _LOOP_RE.sub(lambda match: match.group(1) if _is_loop(match) else match.group(), segment.text)
    words = list(segment.words)
    # drop words whose text repeats the same run of words; runs of 1..6 words
    for run in range(1, 7):
        index = 0
        while index + 2 * run <= len(words):
            pattern = [w.text for w in words[index : index + run]]
            repeat_end = index + run
            while [w.text for w in words[repeat_end : repeat_end + run]] == pattern:
                repeat_end += run
            repeats = (repeat_end - index) // run
            digits_only = set("".join(pattern)) <= _DIGITS
            if repeats >= 4 and not (digits_only and repeats <= MAX_SAME_DIGITS):
                del words[index + run : repeat_end]
            index += 1
    end = words[-1].end if words else segment.end
    return replace(segment, end=end, text=text, words=words)


def _only_hotwords(compact: str, hotwords: tuple[str, ...]) -> bool:
    rest = re.sub(r"[^\w]", "", compact)
    for word in sorted(hotwords, key=len, reverse=True):
        rest = rest.replace(word, "")
    return not rest


def _mean_probability(segment: Segment) -> float:
    if not segment.words:
        return 0.0
    return sum(w.probability for w in segment.words) / len(segment.words)
