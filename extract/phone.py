"""Callback phone number and ID-card numbers.

A number the caller reads out counts most when the operator reads it back and the caller confirms it;
"就打我现在这个号码" means the calling number (ANI) from the telephony metadata. A spoken number one or two
digits away from the ANI is the ANI misheard (most callers leave the number they call from, and a real other
number that close is far rarer than a digit the ASR got wrong), unless the caller said it is another number.
A valid number the operator read back that is not the one chosen is a conflict the operator settles
(`competing_phone`). ID-card numbers are detected so they can be masked: they never leave the ticket in clear.
"""

import re
from dataclasses import dataclass

import phonenumbers
from rapidfuzz.distance import Levenshtein
from stdnum.cn import ric

from extract.document import CallDocument, TurnText
from extract.masking import ID_CARD, LANDLINE, MOBILE, mask_id
from extract.readback import CALLING_NUMBER, NUMBER, digit_runs, read_back, read_backs
from models import Evidence, TicketField

SERVICE_NUMBERS = {"12345", "110", "119", "120", "122"}
ANI_SOURCES = ("ani", "ani_fallback", "ani_matched")
"""Sources of a callback number taken from the telephony's calling number rather than from what was said."""
_ASKS_PHONE = re.compile(r"电话|号码|手机|联系方式|怎么联系")
_THIS_NUMBER = re.compile(
    r"(现在|这个|本机|来电|打进来|打的|用的)的?(这个)?(号码|电话|手机)|就打这个|打这个号|这个号就"
)
_NOT_THIS_NUMBER = re.compile(r"^[，。\s]*(不是|不用|不对|换一个|另外)")
# a mobile number with a digit or two lost by the ASR is still worth showing (flagged invalid)
_PARTIAL_MOBILE = re.compile(r"1[3-9]\d{7,8}")
# spoken numbers this close to the ANI (edits) are the ANI misheard
_ANI_DISTANCE = 2


@dataclass
class _Candidate:
    number: str
    evidence: list[Evidence]
    score: float
    source: str
    said_by_caller: bool = False
    read_back: bool = False
    confirmed: bool = False


def extract_phone(document: CallDocument, ani: str | None) -> TicketField:
    """The callback number: spoken (confirmed read-backs first), else the ANI when the caller points to it."""
    candidates: dict[str, _Candidate] = {}
    pointed_to_ani: list[Evidence] = []
    another_number: list[Evidence] = []  # the caller said the callback number is not the one they call from
    for turn in document.turns:
        asked = _asked_for_phone(document, turn)
        if turn.is_caller and asked and (match := _NOT_THIS_NUMBER.search(turn.text)):
            another_number.append(turn.evidence(match.start(), match.end()))
        for number, start, end in _numbers(turn.text):
            candidate = candidates.setdefault(number, _Candidate(number, [], 0.0, "spoken"))
            candidate.evidence.append(turn.evidence(start, end))
            if turn.is_caller:
                candidate.said_by_caller = True
                candidate.score += 0.5 + (0.2 if asked else 0.0)
            elif (readback := read_back(document, turn, NUMBER)) is not None:
                # an operator reading a number back is a read-back even where the caller's "对" was not
                # recognised or landed in the operator's turn (mono calls)
                confirmed = readback.confirmed
                candidate.read_back = True
                candidate.confirmed = candidate.confirmed or confirmed
                candidate.score += 0.6 if confirmed else 0.4
            else:
                candidate.score += 0.1
        if turn.is_caller and asked and not _NOT_THIS_NUMBER.search(turn.text):
            match = _THIS_NUMBER.search(turn.text)
            if match:
                pointed_to_ani.append(turn.evidence(match.start(), match.end()))
        elif (
            (asked_ani := read_back(document, turn, CALLING_NUMBER)) is not None
            and asked_ani.confirmed
            and not _numbers(asked_ani.reply.text)
        ):
            # "是您现在来电的这个号码吗" answered yes, with no new number: the calling number (as QA's check reads it)
            pointed_to_ani.append(asked_ani.reply.evidence(0, len(asked_ani.reply.text)))

    spoken = [candidate for candidate in candidates.values() if candidate.said_by_caller or candidate.read_back]
    if spoken:
        # a valid number beats a longer-scoring fragment: the ASR drops digits, a read-back restores them
        best = max(spoken, key=lambda item: (is_valid_phone(item.number), item.score, len(item.evidence)))
        for other in spoken:
            # the caller's own reading with a digit lost or misheard still backs the operator's read-back
            if other is not best and other.said_by_caller and Levenshtein.distance(other.number, best.number) <= 1:
                best.said_by_caller = True
                best.evidence = sorted(best.evidence + other.evidence, key=lambda item: (item.turn, item.start_char))
        if best.read_back and best.said_by_caller:
            confidence = 0.95 if best.confirmed else 0.9
        elif best.read_back:
            confidence = 0.85 if best.confirmed else 0.7
        else:
            confidence = 0.75
        raw = " / ".join(evidence.text for evidence in best.evidence[:2])
        if ani and best.number == ani:
            confidence = max(confidence, 0.9)  # what was said and the telephony's number agree
        elif ani and not another_number and Levenshtein.distance(best.number, ani) <= _ANI_DISTANCE:
            return TicketField(ani, 0.8, best.evidence, raw=raw, source="ani_matched")
        if not is_valid_phone(best.number):
            if ani:
                # a misheard number is no callback number; the calling number often is (raw keeps what was heard)
                return TicketField(ani, 0.35, best.evidence, raw=raw, source="ani_fallback")
            return TicketField(best.number, 0.3, best.evidence, raw=raw, source="spoken")
        return TicketField(best.number, confidence, best.evidence, raw=raw, source="spoken")
    if pointed_to_ani and ani:
        return TicketField(ani, 0.9, pointed_to_ani, raw=pointed_to_ani[0].text, source="ani")
    if another_number:
        return TicketField(evidence=another_number)  # another number, not understood: the operator asks again
    if ani:
        # nothing said: the calling number is the best callback number there is, but the operator should confirm
        return TicketField(ani, 0.4, [], source="ani")
    return TicketField()


def competing_phone(document: CallDocument, phone: TicketField) -> tuple[str, Evidence] | None:
    """A valid number the operator read back that is not the ticket's callback number (the caller read another
    number, or the ticket holds the calling number): that number as said and where, or None. The call then says
    otherwise than the ticket, and the operator asks the caller; mask the number before showing it. A read-back one
    digit from a number heard in the call is that number misheard once more, not another number."""
    if not phone.value:
        return None
    heard = phone.source not in ANI_SOURCES
    for readback in read_backs(document, NUMBER):
        for number, start, end in _numbers(readback.turn.text):
            if number == phone.value or not is_valid_phone(number):
                continue
            if heard and Levenshtein.distance(number, phone.value) <= 1:
                continue
            return number, readback.turn.evidence(start, end)
    return None


def extract_id_number(document: CallDocument) -> TicketField:
    """An ID-card number said in the call, masked (first 6 and last 4 characters kept)."""
    for turn in document.caller_turns:
        for match in ID_CARD.finditer(turn.text):
            number = match.group()
            confidence = 0.9 if ric.is_valid(number) else 0.5  # a failed check digit: misheard or misspoken
            return TicketField(
                mask_id(number), confidence, [turn.evidence(match.start(), match.end())], source="spoken"
            )
    return TicketField()


def _numbers(text: str) -> list[tuple[str, int, int]]:
    """Phone numbers in a turn, with their spans, read by `extract.readback.digit_runs` (digit groups split by
    spaces, commas or colons as Whisper writes them, 幺 heard as a sound-alike or as the letter L)."""
    found = [
        (digits, start, end)
        for digits, start, end in digit_runs(text, min_digits=7)
        if MOBILE.fullmatch(digits) or LANDLINE.fullmatch(digits) or _PARTIAL_MOBILE.fullmatch(digits)
    ]
    return [item for item in found if item[0] not in SERVICE_NUMBERS and not ID_CARD.fullmatch(item[0])]


def _asked_for_phone(document: CallDocument, turn: TurnText) -> bool:
    previous = document.previous_turn(turn, "agent") if turn.is_caller else turn
    return previous is not None and bool(_ASKS_PHONE.search(previous.text))


def is_valid_phone(number: str | None) -> bool:
    """A dialable Chinese mobile or landline number (libphonenumber's rules)."""
    if not number:
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(number, "CN"))
    except phonenumbers.NumberParseException:
        return False
