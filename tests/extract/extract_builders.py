"""Builders for small transcripts written the way calls go, with and without word timings."""

import datetime as dt

from models import CallTranscript, Turn, Word

CALL_START = dt.datetime(2018, 1, 13, 16, 52, 54, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def transcript_of(*turns: tuple[str, str], with_words: bool = False, call_id: str = "t-1") -> CallTranscript:
    """Turns as (role, text), 0.5 s apart, 0.2 s per character; optionally one Word per character."""
    built, clock = [], 0.0
    for role, text in turns:
        end = clock + 0.2 * max(len(text), 1)
        words = [Word(clock + 0.2 * i, clock + 0.2 * (i + 1), char, 0.9) for i, char in enumerate(text)]
        built.append(Turn(role, role, None, round(clock, 3), round(end, 3), text, 0.9, words if with_words else []))
        clock = end + 0.5
    return CallTranscript(call_id, clock, 8000, 1, "zh", "test", built)


def gold_transcript(gold: dict) -> CallTranscript:
    """A shared gold call's turns as a transcript (the 'gold text' input of the ticket evaluation)."""
    turns = [Turn(t["speaker"], t["speaker"], None, t["start"], t["end"], t["text"], 1.0, []) for t in gold["turns"]]
    return CallTranscript(gold["call_id"], gold["duration_s"], 8000, 1, "zh", "gold", turns)
