"""Automatic service checks for QA: what a reviewer ticks for every call, read off the transcript.

Each check says passed (True/False), the turns it judged (index and time: the read-back and the caller's reply,
or, when it failed, where it looked: the number the caller gave, the operator's nearest restatement) and the
words there, so the QA page can link each verdict to the audio and the reviewer can confirm or overrule it.
They follow the 12345 service norms the reviewers audit against: a greeting with the hotline's name, the
callback number read back and confirmed, the request read back and confirmed, a closing, and none of the
phrases the norms forbid.

The checks read our ASR, so they tolerate what it does to a call (docs/BENCHMARKS.md scores them on gold turns
and on our ASR): digits are compared as digits however Whisper wrote them (`readback.digit_runs`), a
restatement is found by how it sounds like the caller's words as well as by its cue words
(`readback.restatements`), and a read-back counts when it was put to the caller and not denied: a yes lost in
recognition ("最等" for "对的") is no failure of the operator's.
"""

import re
from dataclasses import asdict, dataclass, field

from extract.document import CallDocument, TurnText, build_document
from extract.masking import mask_number, mask_numbers
from extract.readback import (
    ADDRESS,
    CALLING_NUMBER,
    NUMBER,
    PUT_BACK,
    REQUEST,
    RESTATEMENT,
    ReadBack,
    digit_runs,
    read_back,
    restatements,
    sound_overlap,
)
from models import CallTranscript

GREETING = re.compile(r"(12345|幺二三四五|一二三四五|热线|为您服务|有什么(可以|能)?帮)")
CLOSING = re.compile(r"(感谢您?的?来电|再见|祝您|还有(什么|其他)(问题|需要))")
# Phrases the service norms forbid an operator to say (shirking, blaming, rudeness).
FORBIDDEN = re.compile(
    r"(不归我们管|不关我们的事|关我什么事|我也没办法|我没办法|你自己去|你去找别人|听不懂吗|烦不烦|"
    r"不知道|不清楚|随便你|爱打不打|投诉也没用)"
)
_ASKS_PHONE = re.compile(r"电话|号码|手机|联系方式")
OPENING_TURNS = 2  # the greeting belongs in the operator's first turns
CLOSING_TURNS = 3  # and the closing in their last ones
PHONE_DIGITS = 7  # a number read back has at least this many digits heard (a landline's 7; a mobile loses some)
SHARED_DIGITS = 5  # or shares this many in a row with the number the caller gave (the ASR drops some on each side)
_WHOLE_TURN = re.compile(r"(?s).+")

LABELS = {
    "greeting": "规范问候（报热线名称）",
    "number_read_back": "复述并确认回访号码",
    "summary_confirmed": "复述并确认诉求",
    "closing": "规范结束语",
    "no_forbidden_words": "无服务禁语",
}


@dataclass(frozen=True)
class JudgedTurn:
    """A turn a check judged: its index in the transcript and its time (seconds from the call's start)."""

    index: int
    start: float
    end: float


@dataclass(frozen=True)
class ServiceCheck:
    passed: bool
    label: str
    turn: int | None = None  # index into the transcript's turns: the first of `turns`
    text: str | None = None  # the words it rests on
    turns: list[JudgedTurn] = field(default_factory=list)  # the read-back and the reply, or where it looked

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class _Verdict:
    passed: bool
    turns: tuple[TurnText, ...] = ()
    text: str | None = None


def service_checks(transcript: CallTranscript) -> dict[str, ServiceCheck]:
    """The automatic checks of one call, by name (see LABELS)."""
    document = build_document(transcript)
    agent = [turn for turn in document.turns if not turn.is_caller]
    forbidden = _first_match(agent, FORBIDDEN)
    checks = {
        "greeting": _first_match(agent[:OPENING_TURNS], GREETING, looked_at=agent[:1]),
        "closing": _first_match(agent[-CLOSING_TURNS:], CLOSING, looked_at=agent[-1:]),
        "number_read_back": _number_read_back(document),
        "summary_confirmed": _summary_read_back(document),
        "no_forbidden_words": _Verdict(not forbidden.passed, forbidden.turns, forbidden.text),
    }
    # the words a check rests on are shown to QA: numbers in them masked, whichever check quotes them
    return {
        name: ServiceCheck(
            verdict.passed,
            LABELS[name],
            verdict.turns[0].index if verdict.turns else None,
            mask_numbers(verdict.text) if verdict.text else verdict.text,
            [JudgedTurn(turn.index, turn.start, turn.end) for turn in verdict.turns],
        )
        for name, verdict in checks.items()
    }


def _number_read_back(document: CallDocument) -> _Verdict:
    """The operator read a number back (a number cue, or the digits of the number the caller gave, compared as
    digits) or asked whether it is the number they are calling from, and the caller did not say no."""
    callers_numbers: list[str] = []
    denied: tuple[ReadBack, str | None] | None = None
    for turn in document.turns:
        if turn.is_caller:
            callers_numbers += [digits for digits, _, _ in digit_runs(turn.text, SHARED_DIGITS)]
            continue
        runs = digit_runs(turn.text, SHARED_DIGITS)
        found = None
        if runs:
            cue = read_back(document, turn, NUMBER)
            long_enough = any(len(digits) >= PHONE_DIGITS for digits, _, _ in runs)
            if (cue is not None and long_enough) or any(
                _same_number(digits, said) for digits, _, _ in runs for said in callers_numbers
            ):
                found = cue or read_back(document, turn, _WHOLE_TURN)
                # quoted as the digits heard, masked: a number misheard by a digit is still the caller's
                text = mask_number(max((digits for digits, _, _ in runs), key=len))
        elif (asked := read_back(document, turn, CALLING_NUMBER)) is not None and (
            asked.reply is None or not digit_runs(asked.reply.text, PHONE_DIGITS)
        ):
            # "is it the number you are calling from?": the caller's yes, not a new number, confirms it
            found, text = asked, asked.content
        if found is None:
            continue
        if not found.denied:
            return _Verdict(True, _with_reply(found), text)
        denied = found, text
    if denied is not None:
        return _Verdict(False, _with_reply(denied[0]), denied[1])
    # where the read-back was due: the caller giving a number, else the operator asking for one
    gave = [turn for turn in document.caller_turns if digit_runs(turn.text, SHARED_DIGITS)]
    asked_for = [turn for turn in document.turns if not turn.is_caller and _ASKS_PHONE.search(turn.text)]
    return _Verdict(False, tuple(gave[:1] or asked_for[:1]))


def _same_number(heard: str, said: str) -> bool:
    """Two digit strings share `SHARED_DIGITS` digits in a row (the ASR drops and mishears some on either side)."""
    return any(said[start : start + SHARED_DIGITS] in heard for start in range(len(said) - SHARED_DIGITS + 1))


def _summary_read_back(document: CallDocument) -> _Verdict:
    """The request read back to the caller and not denied: in the hotline's words ("您反映的是…，对吗"), any
    restatement put to the caller ("跟您确认一下…对吗"), or a question that sounds like what the caller said,
    but not a number's or an address's read-back ("跟您核对一下，139…，对吗")."""
    put_back = [*_read_backs(document, RESTATEMENT), *restatements(document)]
    candidates = _read_backs(document, REQUEST) + [
        found for found in put_back if not _reads_back_a_detail(document, found.turn)
    ]
    for found in sorted(candidates, key=lambda found: found.turn.index):
        if not found.denied:
            return _Verdict(True, _with_reply(found), found.content)
    if candidates:
        first = min(candidates, key=lambda found: found.turn.index)
        return _Verdict(False, _with_reply(first), first.content)
    nearest = _nearest_restatement(document)
    return _Verdict(False, (nearest,) if nearest else ())


def _read_backs(document: CallDocument, looks_like: re.Pattern[str]) -> list[ReadBack]:
    return [found for turn in document.turns if (found := read_back(document, turn, looks_like)) is not None]


def _reads_back_a_detail(document: CallDocument, turn: TurnText) -> bool:
    """A number's or an address's read-back (they are confirmed the same way, but they are not the request)."""
    return bool(digit_runs(turn.text, PHONE_DIGITS)) or read_back(document, turn, ADDRESS) is not None


def _nearest_restatement(document: CallDocument) -> TurnText | None:
    """Where a restatement was due: the operator's question that sounds most like the caller's words."""
    best, best_overlap = None, 0.0
    said = ""
    for turn in document.turns:
        if turn.is_caller:
            said += turn.text
            continue
        found = read_back(document, turn, PUT_BACK)
        overlap = sound_overlap(found.content, said) if found else 0.0
        if overlap > best_overlap:
            best, best_overlap = turn, overlap
    return best


def _with_reply(found: ReadBack) -> tuple[TurnText, ...]:
    return (found.turn, found.reply) if found.reply is not None else (found.turn,)


def _first_match(turns: list[TurnText], pattern: re.Pattern, looked_at: list[TurnText] | None = None) -> _Verdict:
    """The first of `turns` that says `pattern` (Whisper's "12 3 45" read as 12345); else a fail that points at
    `looked_at`."""
    for turn in turns:
        match = pattern.search(turn.text) or pattern.search(_digits_joined(turn.text))
        if match:
            return _Verdict(True, (turn,), match.group())
    return _Verdict(False, tuple(looked_at or ()))


def _digits_joined(text: str) -> str:
    """The text with each run of digits written as one (spaces and commas between digit groups dropped)."""
    pieces, last = [], 0
    for digits, start, end in digit_runs(text):
        pieces += [text[last:start], digits]
        last = end
    return "".join(pieces) + text[last:]
