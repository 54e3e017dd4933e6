"""Automatic service checks for QA: what a reviewer ticks for every call, read off the transcript.

Each check says passed (True/False), the turn it rests on and the words there, so the QA page can pre-tick
it and the reviewer can jump to the evidence and overrule it. They follow the 12345 service norms the
reviewers audit against: a greeting with the hotline's name, the callback number read back and
confirmed, the request read back and confirmed, a closing, and none of the phrases the norms forbid.
"""

import re
from dataclasses import asdict, dataclass

from extract.document import CallDocument, TurnText, build_document
from extract.masking import mask_numbers
from extract.phone import confirmed_phone_readback
from extract.readback import RESTATEMENT, read_backs
from extract.summary import confirmed_readback
from models import CallTranscript

GREETING = re.compile(r"(12345|幺二三四五|一二三四五|热线|为您服务|有什么(可以|能)?帮)")
CLOSING = re.compile(r"(感谢您?的?来电|再见|祝您|还有(什么|其他)(问题|需要))")
# Phrases the service norms forbid an operator to say (shirking, blaming, rudeness).
FORBIDDEN = re.compile(
    r"(不归我们管|不关我们的事|关我什么事|我也没办法|我没办法|你自己去|你去找别人|听不懂吗|烦不烦|"
    r"不知道|不清楚|随便你|爱打不打|投诉也没用)"
)
OPENING_TURNS = 2  # the greeting belongs in the operator's first turns
CLOSING_TURNS = 3  # and the closing in their last ones

LABELS = {
    "greeting": "规范问候（报热线名称）",
    "number_read_back": "复述并确认回访号码",
    "summary_confirmed": "复述并确认诉求",
    "closing": "规范结束语",
    "no_forbidden_words": "无服务禁语",
}


@dataclass(frozen=True)
class ServiceCheck:
    passed: bool
    label: str
    turn: int | None = None  # index into the transcript's turns
    text: str | None = None  # the words it rests on

    def to_dict(self) -> dict:
        return asdict(self)


def service_checks(transcript: CallTranscript) -> dict[str, ServiceCheck]:
    """The automatic checks of one call, by name (see LABELS)."""
    document = build_document(transcript)
    agent = [turn for turn in document.turns if not turn.is_caller]
    checks = {
        "greeting": _first_match(agent[:OPENING_TURNS], GREETING),
        "closing": _first_match(agent[-CLOSING_TURNS:], CLOSING),
        "number_read_back": _evidence(confirmed_phone_readback(document)),
        "summary_confirmed": _summary_readback(document),
    }
    forbidden = _first_match(agent, FORBIDDEN)
    checks["no_forbidden_words"] = (not forbidden[0], forbidden[1], forbidden[2])
    # the words a check rests on are shown to QA: numbers in them masked, whichever check quotes them
    return {
        name: ServiceCheck(passed, LABELS[name], turn, mask_numbers(text) if text else text)
        for name, (passed, turn, text) in checks.items()
    }


def _summary_readback(document: CallDocument) -> tuple[bool, int | None, str | None]:
    """The extractor's read-back ("您反映的是…对吗"), or any restatement the caller confirmed."""
    found = confirmed_readback(document)
    if found is not None:
        return _evidence(found)
    for readback in read_backs(document, RESTATEMENT, confirmed=True):
        return True, readback.turn.index, readback.content
    return False, None, None


def _first_match(turns: list[TurnText], pattern: re.Pattern) -> tuple[bool, int | None, str | None]:
    for turn in turns:
        match = pattern.search(turn.text)
        if match:
            return True, turn.index, match.group()
    return False, None, None


def _evidence(found) -> tuple[bool, int | None, str | None]:
    if found is None:
        return False, None, None
    text, evidence = found
    return True, evidence.turn, text
