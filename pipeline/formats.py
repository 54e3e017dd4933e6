"""Render a CallTranscript as json, text, srt, vtt or rttm.

Subtitles (srt, vtt) are read by people: their cues carry each turn in written form (`extract.normalize`: spoken
numbers as digits, Whisper's stray group separators gone, "19 8,28 00,05 69" → "19828000569"). json and text keep
the words as recognised."""

import io
import json

from pyannote.core import Annotation
from pyannote.core import Segment as Span

from extract.normalize import normalize
from models import CallTranscript, Ticket, Turn

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
    if transcript.ticket is not None:
        lines += ["", *ticket_lines(transcript.ticket)]
    return "\n".join(lines) + "\n"


FIELD_LABELS = {
    "request_type": "诉求类型",
    "caller_name": "姓名",
    "caller_surname": "姓氏",
    "honorific": "称谓",
    "phone": "联系电话",
    "id_number": "身份证号",
    "address": "地址",
    "district": "区县",
    "street": "街道/乡镇",
    "event_time": "事发时间",
    "category": "事项分类",
    "urgency": "紧急程度",
    "emotion": "来电情绪",
    "summary": "诉求内容",
}


def ticket_lines(ticket: Ticket) -> list[str]:
    """The pre-filled ticket as plain text: fields with confidence, then the suggestions."""
    reasons = f" — {'; '.join(reason.message for reason in ticket.review_reasons)}" if ticket.review_reasons else ""
    lines = [f"== 预填工单 (review: {ticket.review}{reasons})"]
    for name, label in FIELD_LABELS.items():
        field = ticket.fields[name]
        if field.value is not None:
            lines.append(f"{label}: {field.value}  ({field.confidence:.2f}, {field.source})")
    for rank, suggestion in enumerate(ticket.department_suggestions, start=1):
        lines.append(
            f"处置单位 {rank}: {suggestion.department} {suggestion.score:.2f}  {'；'.join(suggestion.reasons)}"
        )
    if ticket.form is not None:
        missing = (
            f"，待补充: {'、'.join(FIELD_LABELS.get(n, n) for n in ticket.form.missing)}" if ticket.form.missing else ""
        )
        lines.append(f"工单模板: {ticket.form.name}{missing}")
    for answer in ticket.kb_answers:
        lines.append(f"知识库: {answer.title} ({answer.score:.2f}) {answer.plain}")
    lines += [f"# ticket warning {w.code}: {w.message}" for w in ticket.warnings]
    return lines


def to_srt(transcript: CallTranscript) -> str:
    cues = [
        f"{index}\n{_stamp(turn.start, ',')} --> {_stamp(turn.end, ',')}\n{_speaker(turn.role)}：{_written(turn)}\n"
        for index, turn in enumerate(transcript.turns, start=1)
    ]
    return "\n".join(cues)


def to_vtt(transcript: CallTranscript) -> str:
    cues = [
        f"{_stamp(turn.start, '.')} --> {_stamp(turn.end, '.')}\n<v {_speaker(turn.role)}>{_written(turn)}\n"
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


def _written(turn: Turn) -> str:
    return normalize(turn.text).text


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
