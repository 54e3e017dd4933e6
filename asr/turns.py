"""Merge ASR words with diarization into speaker turns (the WhisperX way: word by word)."""

import math
from dataclasses import dataclass

from pyannote.core import Segment as Span

from asr.diarize.base import DiarizationResult
from models import Segment, Turn, Word


@dataclass(frozen=True)
class TurnOptions:
    """max_gap_s: a pause this long inside one speaker's speech starts a new turn."""

    max_gap_s: float = 2.0


@dataclass
class _LabelledWord:
    word: Word
    speaker: str
    channel: int


def build_turns(
    segments: list[Segment], diarization: DiarizationResult, options: TurnOptions | None = None
) -> list[Turn]:
    """Turns in time order; each word goes to the speaker who holds most of its time.

    On dual-channel calls the speaker is the word's channel. Roles are filled in later.
    """
    options = options or TurnOptions()
    labelled = []
    for segment in segments:
        words = segment.words or [Word(segment.start, segment.end, segment.text, math.exp(segment.avg_logprob))]
        for word in words:
            if diarization.by_channel:
                speaker = diarization.channel_labels[segment.channel]
            else:
                speaker = speaker_at(diarization, word.start, word.end)
            labelled.append(_LabelledWord(word, speaker, segment.channel))
    labelled.sort(key=lambda item: (item.word.start, item.channel))

    turns: list[Turn] = []
    current: list[_LabelledWord] = []
    for item in labelled:
        if current and (
            item.speaker != current[-1].speaker or item.word.start - current[-1].word.end > options.max_gap_s
        ):
            turns.append(_turn(current, diarization.by_channel))
            current = []
        current.append(item)
    if current:
        turns.append(_turn(current, diarization.by_channel))
    return turns


def speaker_at(diarization: DiarizationResult, start: float, end: float) -> str:
    """Label overlapping [start, end] the most; else the nearest label in time; else SPEAKER_00."""
    annotation = diarization.annotation
    window = Span(start, max(end, start + 1e-3))
    overlap: dict[str, float] = {}
    for segment, _, label in annotation.crop(window, mode="intersection").itertracks(yield_label=True):
        overlap[label] = overlap.get(label, 0.0) + segment.duration
    if overlap:
        return max(overlap, key=overlap.get)
    nearest, distance = "SPEAKER_00", math.inf
    middle = (start + end) / 2
    for segment, _, label in annotation.itertracks(yield_label=True):
        gap = max(segment.start - middle, middle - segment.end, 0.0)
        if gap < distance:
            nearest, distance = label, gap
    return nearest


def join_words(words: list[Word]) -> str:
    """Chinese words join without spaces; Latin words and numbers keep one between them."""
    text = ""
    for word in words:
        if text and text[-1].isascii() and text[-1].isalnum() and word.text[:1].isascii() and word.text[:1].isalnum():
            text += " "
        text += word.text
    return text


def turn_confidence(words: list[Word]) -> float:
    """Geometric mean of the word probabilities (exp of the mean log-probability)."""
    if not words:
        return 0.0
    return round(math.exp(sum(math.log(max(w.probability, 1e-6)) for w in words) / len(words)), 4)


def _turn(items: list[_LabelledWord], by_channel: bool) -> Turn:
    words = [item.word for item in items]
    return Turn(
        role="",
        speaker=items[0].speaker,
        channel=items[0].channel if by_channel else None,
        start=words[0].start,
        end=max(word.end for word in words),
        text=join_words(words),
        confidence=turn_confidence(words),
        words=words,
    )
