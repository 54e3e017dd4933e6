"""A call's turns in written form, with the way back from any written span to the words and audio time as said."""

from dataclasses import dataclass

from extract.normalize import NormalizedText, normalize
from models import CallTranscript, Evidence, Turn

MAX_TURN_CHARS = 4000
"""Longer turns are cut: nobody speaks 4,000 characters in one breath, so it is garbage or a pasted text."""


@dataclass(frozen=True)
class TurnText:
    """One turn: its index in the transcript, role, times, and its text normalised for extraction."""

    index: int
    role: str
    start: float
    end: float
    confidence: float
    norm: NormalizedText
    word_spans: tuple[tuple[int, int, float, float], ...]  # (raw start char, raw end char, start s, end s)

    @property
    def text(self) -> str:
        return self.norm.text

    @property
    def is_caller(self) -> bool:
        return self.role == "caller"

    def evidence(self, start: int, end: int) -> Evidence:
        """Evidence for text[start:end]: the raw characters as said and their audio time."""
        raw_start, raw_end = self.norm.raw_span(start, end)
        start_time, end_time = self._time_of(raw_start, raw_end)
        return Evidence(
            turn=self.index,
            start_char=raw_start,
            end_char=raw_end,
            start_time=start_time,
            end_time=end_time,
            text=self.norm.raw[raw_start:raw_end],
        )

    def _time_of(self, raw_start: int, raw_end: int) -> tuple[float, float]:
        covering = [span for span in self.word_spans if span[0] < raw_end and span[1] > raw_start]
        if covering:
            return round(covering[0][2], 3), round(covering[-1][3], 3)
        # no word timings (a gold transcript, an edited turn): interpolate over the turn
        length = max(len(self.norm.raw), 1)
        duration = self.end - self.start
        return (
            round(self.start + duration * raw_start / length, 3),
            round(self.start + duration * raw_end / length, 3),
        )


@dataclass(frozen=True)
class CallDocument:
    """What the extractors read: every turn in written form, in time order."""

    turns: tuple[TurnText, ...]

    @property
    def caller_turns(self) -> tuple[TurnText, ...]:
        return tuple(turn for turn in self.turns if turn.is_caller)

    def next_turn(self, turn: TurnText, role: str | None = None) -> TurnText | None:
        for later in self.turns[turn.index + 1 :]:
            if role is None or later.role == role:
                return later
        return None

    def previous_turn(self, turn: TurnText, role: str | None = None) -> TurnText | None:
        for earlier in reversed(self.turns[: turn.index]):
            if role is None or earlier.role == role:
                return earlier
        return None


def build_document(transcript: CallTranscript) -> CallDocument:
    """Normalise every turn of a transcript (cut to MAX_TURN_CHARS)."""
    return CallDocument(turns=tuple(_turn_text(index, turn) for index, turn in enumerate(transcript.turns)))


def _turn_text(index: int, turn: Turn) -> TurnText:
    raw = (turn.text or "")[:MAX_TURN_CHARS]
    return TurnText(
        index=index,
        role=turn.role,
        start=turn.start,
        end=turn.end,
        confidence=turn.confidence,
        norm=normalize(raw),
        word_spans=_word_spans(raw, turn),
    )


def _word_spans(raw: str, turn: Turn) -> tuple[tuple[int, int, float, float], ...]:
    """Locate each word's text in the turn's text, in order; words that cannot be found are skipped."""
    spans = []
    cursor = 0
    for word in turn.words:
        token = word.text.strip()
        if not token:
            continue
        position = raw.find(token, cursor)
        if position == -1:
            continue
        spans.append((position, position + len(token), word.start, word.end))
        cursor = position + len(token)
    return tuple(spans)
