"""The request summary in the hotline's written style: "市民来电反映：其小区门口…".

Built from what the caller asked for, not from the operator's chatter: the caller's own turns minus
greetings, openers, answers to name/phone/address questions and acknowledgements; only when those say
nothing usable, the operator's read-back the caller confirmed ("您反映的是…的问题，对吗？" "对"). Written
form (digits), the caller as 其 (the tickets' third person), phone and ID numbers masked.
"""

import re

from extract.document import CallDocument, TurnText
from extract.masking import mask_numbers
from extract.readback import REQUEST, read_backs
from models import Evidence, TicketField

MAX_SUMMARY_CHARS = 300
_ANSWER_TO = re.compile(r"贵姓|称呼|姓名|名字|电话|号码|联系方式|地址|位置|地点|在哪|哪里|核对|确认|对吗|是吗")
_ACKNOWLEDGEMENT = re.compile(
    r"^(?:[，。！？\s]*(?:好的|好|对|对的|是的|是|嗯|没错|行|可以|谢谢|谢谢你|再见|不客气|麻烦了|麻烦你们了))+[，。！？\s]*"
)
_OPENERS = re.compile(
    r"^(?:喂|你好|您好|哎|嗯|啊|那个|就是|是这样的|是这样|我跟你们说|我打电话是想|请问|"
    r"我(?:想|要)(?:问|咨询|反映|投诉|举报)(?:一下|问|个问题|一个问题|个情况|一个情况|个事|一件事)?)[，。！？、\s]*"
)
_PERSONAL_DETAILS = re.compile(r"^(?:我|免贵)?(?:姓|叫)[\u4e00-\u9fff]{1,3}[，。！？]*$|^[\d，,\s]+$")
_FIRST_PERSON = (("我们", "其"), ("咱们", "其"), ("我家", "其家"), ("我", "其"))


def extract_summary(document: CallDocument, request_type: str | None) -> TicketField:
    prefix = f"市民来电{request_type or '反映'}："
    pieces = caller_request(document)
    if not pieces:
        readback = confirmed_readback(document)
        if readback is None:
            return TicketField()
        text, evidence = readback
        content = _third_person(text.removesuffix("的问题").removesuffix("的情况"))
        return TicketField(_finish(prefix, content), 0.6, [evidence], source="operator_readback")
    content = _third_person("，".join(text.rstrip("。！？，") for text, _ in pieces))
    confidence = 0.6 if len(pieces) <= 3 else 0.5
    return TicketField(
        _finish(prefix, content), confidence, [evidence for _, evidence in pieces], source="caller_turns"
    )


def caller_request(document: CallDocument) -> list[tuple[str, Evidence]]:
    """What the caller asked for, in their own words: caller turns without greetings, openers,
    acknowledgements and answers to the operator's name/phone/address questions."""
    pieces: list[tuple[str, Evidence]] = []
    for turn in document.caller_turns:
        if _answers_a_question(document, turn):
            continue
        text = _OPENERS.sub("", _ACKNOWLEDGEMENT.sub("", turn.text)).strip()
        while True:  # openers come stacked: "你好，我想问一下，…"
            stripped = _OPENERS.sub("", text).strip()
            if stripped == text:
                break
            text = stripped
        if len(text) < 4 or _PERSONAL_DETAILS.match(text):
            continue
        start = turn.text.find(text)
        pieces.append((text, turn.evidence(start, start + len(text))))
    return pieces


def confirmed_readback(document: CallDocument) -> tuple[str, Evidence] | None:
    """The operator's read-back of the request ("您反映的是…，对吗？") when the caller confirmed it."""
    for readback in read_backs(document, REQUEST, confirmed=True):
        return readback.content, readback.evidence()
    return None


def _answers_a_question(document: CallDocument, turn: TurnText) -> bool:
    previous = document.previous_turn(turn)
    if previous is None or previous.is_caller:
        return False
    return bool(_ANSWER_TO.search(previous.text)) and len(turn.text) < 40


def _third_person(text: str) -> str:
    for first, third in _FIRST_PERSON:
        text = text.replace(first, third)
    return text


def _finish(prefix: str, content: str) -> str:
    content = mask_numbers(content.strip("，,。 "))
    if len(content) > MAX_SUMMARY_CHARS:
        content = content[:MAX_SUMMARY_CHARS] + "…"
    return f"{prefix}{content}。"
