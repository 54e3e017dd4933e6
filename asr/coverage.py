"""Speech the VAD found but the recogniser left without words.

A batched Whisper window is decoded once, without timestamps: when the model emits its
end-of-text token early, the rest of the window is silently dropped (on mono calls 18-28 s of
read-back went missing this way). Coverage compares one channel's VAD spans with the recognised
words' times; a stretch of speech longer than `min_gap_s` that no word overlaps is a gap.
Gaps are decoded again on their own (`asr.transcribe`) and their words merged back in time
order; whatever is still uncovered after the guards becomes an `untranscribed` warning, so every
second of speech ends up either in words or in a warning a QA auditor can listen to.
"""

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from models import PipelineWarning, Segment, SpeechSpan, Word

logger = logging.getLogger(__name__)

UNTRANSCRIBED = "untranscribed"
"""Warning code of speech left without words."""


@dataclass(frozen=True)
class CoverageOptions:
    """What counts as uncovered speech.

    min_gap_s: uncovered speech longer than this is a gap; shorter stretches are pauses, breaths
        and the VAD's own padding (200 ms on each side of a span).
    word_slack_s: a word covers this much on either side of its timing too: Whisper's word times
        come from cross-attention alignment and are often 0.2-0.3 s off at the edges.
    """

    min_gap_s: float = 1.0
    word_slack_s: float = 0.25


Gap = SpeechSpan
"""A stretch of one channel's VAD speech with no recognised word: a speech span, seconds from the file start."""


def find_gaps(spans: list[SpeechSpan], words: list[Word], options: CoverageOptions | None = None) -> list[Gap]:
    """Stretches of `spans` longer than `min_gap_s` that no word (widened by the slack) overlaps.

    `spans` and `words` belong to one channel; gaps are reported per span, in time order.
    """
    options = options or CoverageOptions()
    slack = options.word_slack_s
    covered = _union([(word.start - slack, word.end + slack) for word in words])
    channel = spans[0].channel if spans else 0
    gaps = []
    # spans that touch are one stretch of speech (the VAD splits long ones)
    for speech in _union([(span.start, span.end) for span in spans]):
        for start, end in _subtract(speech, covered):
            if end - start > options.min_gap_s:
                gaps.append(Gap(round(float(start), 3), round(float(end), 3), channel))
    return gaps


def fill_gaps(
    segments: list[Segment],
    spans: list[SpeechSpan],
    decode: Callable[[list[tuple[float, float]]], list[Segment]],
    allows: Callable[[], bool],
    options: CoverageOptions | None = None,
    context_s: float = 0.5,
    max_window_s: float = 30.0,
) -> list[Segment]:
    """Decode the gaps again, apart from the speech already recognised, and merge in their words.

    `decode(pieces)` transcribes those stretches of the recording, joined, as one window of their
    own (times in the recording); `allows()` says whether another decode may start. The gaps go
    together first, packed into as few windows as fit (each window costs a full encoder pass);
    a gap still uncovered then is decoded alone, where Whisper cannot end the window before it.
    The window with the most uncovered speech goes first, so a spent budget leaves the least.
    """
    tried: list[list[tuple[float, float]]] = []
    for pack in (True, False):
        gaps = find_gaps(spans, _words(segments), options)
        windows = [window for window in gap_windows(gaps, context_s, max_window_s, pack) if window not in tried]
        redecoded: list[Segment] = []
        for index, window in enumerate(windows):
            if not allows():
                logger.info("no re-decode budget left for %d of %d gap windows", len(windows) - index, len(windows))
                return merge_gap_words(segments, redecoded, gaps)
            redecoded.extend(decode(window))
            tried.append(window)
        segments = merge_gap_words(segments, redecoded, gaps)
    return segments


def gap_windows(
    gaps: list[Gap], context_s: float, max_window_s: float, pack: bool = True
) -> list[list[tuple[float, float]]]:
    """Windows to decode again, each a list of (start, end) pieces of the recording.

    Gaps are widened by `context_s` (so their first and last words are not cut), joined where
    they overlap and split to at most `max_window_s`; with `pack` the pieces are packed in time
    order into windows of at most `max_window_s`, else each is a window. Most uncovered speech first.
    """
    pieces = []
    for start, end in _union([(max(0.0, gap.start - context_s), gap.end + context_s) for gap in gaps]):
        count = max(1, math.ceil((end - start) / max_window_s))
        step = (end - start) / count
        pieces.extend((round(start + i * step, 3), round(start + (i + 1) * step, 3)) for i in range(count))
    windows: list[list[tuple[float, float]]] = []
    for piece in pieces:
        if pack and windows and sum(e - s for s, e in windows[-1]) + piece[1] - piece[0] <= max_window_s:
            windows[-1].append(piece)
        else:
            windows.append([piece])

    def uncovered(window: list[tuple[float, float]]) -> float:
        return sum(max(0.0, min(end, gap.end) - max(start, gap.start)) for start, end in window for gap in gaps)

    return sorted(windows, key=lambda window: (-uncovered(window), window[0][0]))


def merge_gap_words(segments: list[Segment], redecoded: list[Segment], gaps: list[Gap]) -> list[Segment]:
    """`segments` plus the words of `redecoded` that fill a gap, in time order.

    A re-decoded window carries some context around its gap, so its words are kept only where
    their middle falls inside a gap: the context was recognised already and would come back twice.
    A re-decoded segment keeps its own scores (the guards judge it like any other).
    """
    merged = list(segments)
    for segment in redecoded:
        kept = [word for word in segment.words if any(gap.start <= _middle(word) <= gap.end for gap in gaps)]
        if not kept:
            continue
        text = segment.text if len(kept) == len(segment.words) else "".join(word.text for word in kept)
        merged.append(replace(segment, start=kept[0].start, end=kept[-1].end, text=text, words=kept))
    return sorted(merged, key=lambda segment: (segment.start, segment.end))


def untranscribed_warnings(
    spans: list[SpeechSpan], segments: list[Segment], options: CoverageOptions | None = None
) -> list[PipelineWarning]:
    """One `untranscribed` warning per gap left after decoding, re-decoding and the guards."""
    return [
        PipelineWarning(
            UNTRANSCRIBED,
            f"no words recognised in {gap.duration:.1f} s of speech on channel {gap.channel} "
            f"({_clock(gap.start)}-{_clock(gap.end)}); listen to the recording there",
            gap.start,
            gap.end,
        )
        for gap in find_gaps(spans, _words(segments), options)
    ]


def untranscribed_seconds(warnings: list[PipelineWarning]) -> float:
    """Seconds of speech a transcript's `untranscribed` warnings say have no words."""
    return round(sum(w.end - w.start for w in warnings if w.code == UNTRANSCRIBED and w.end is not None), 3)


def _words(segments: list[Segment]) -> list[Word]:
    return [word for segment in segments for word in segment.words]


def _middle(word: Word) -> float:
    return (word.start + word.end) / 2


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}:{rest:04.1f}"


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _subtract(interval: tuple[float, float], covered: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Parts of `interval` outside the sorted, disjoint `covered` intervals."""
    start, end = interval
    parts = []
    for cover_start, cover_end in covered:
        if cover_end <= start:
            continue
        if cover_start >= end:
            break
        if cover_start > start:
            parts.append((start, cover_start))
        start = max(start, cover_end)
    if start < end:
        parts.append((start, end))
    return parts
