"""Render a CallTranscript as json, text, srt, vtt or rttm."""

import io
import json

from pyannote.core import Annotation
from pyannote.core import Segment as Span

from models import CallTranscript

FORMATS = ("json", "text", "srt", "vtt", "rttm")
ROLE_NAMES = {"agent": "接线员", "caller": "市民"}


def render(transcript: CallTranscript, fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return _RENDERERS[fmt](transcript)


def to_json(transcript: CallTranscript) -> str:
    return json.dumps(transcript.to_dict(), ensure_ascii=False, indent=2) + "\n"


def to_text(transcript: CallTranscript) -> str:
    lines = [
        f"[{_clock(turn.start)} - {_clock(turn.end)}] {_speaker(turn.role)}: {turn.text}" for turn in transcript.turns
    ]
    lines += [f"# warning {w.code}: {w.message}" for w in transcript.warnings]
    return "\n".join(lines) + "\n"


def to_srt(transcript: CallTranscript) -> str:
    cues = [
        f"{index}\n{_stamp(turn.start, ',')} --> {_stamp(turn.end, ',')}\n{_speaker(turn.role)}：{turn.text}\n"
        for index, turn in enumerate(transcript.turns, start=1)
    ]
    return "\n".join(cues)


def to_vtt(transcript: CallTranscript) -> str:
    cues = [
        f"{_stamp(turn.start, '.')} --> {_stamp(turn.end, '.')}\n<v {_speaker(turn.role)}>{turn.text}\n"
        for turn in transcript.turns
    ]
    return "WEBVTT\n\n" + "\n".join(cues)


def to_rttm(transcript: CallTranscript) -> str:
    """NIST RTTM, one SPEAKER line per turn; the label is the role (agent/caller)."""
    annotation = Annotation(uri=transcript.call_id)
    for index, turn in enumerate(transcript.turns):
        if turn.end > turn.start:
            annotation[Span(turn.start, turn.end), index] = turn.role or turn.speaker
    buffer = io.StringIO()
    annotation.write_rttm(buffer)
    return buffer.getvalue()


def _speaker(role: str) -> str:
    return ROLE_NAMES.get(role, role)


def _clock(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes):02d}:{rest:04.1f}"


def _stamp(seconds: float, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


_RENDERERS = {"json": to_json, "text": to_text, "srt": to_srt, "vtt": to_vtt, "rttm": to_rttm}
