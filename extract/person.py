"""Caller name, surname and honorific.

Operators ask "请问您贵姓？" and then address the caller as 郑女士 / 符先生: the honorific and a confirmed
surname come from the operator's words, a full name from the caller's answer (Baidu LAC finds person
names), and a refusal ("不方便透露") leaves the name empty on purpose.
"""

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from extract.document import CallDocument, TurnText
from extract.nlp import lac
from models import Evidence, TicketField

_ASKS_NAME = re.compile(r"贵姓|称呼|姓名|名字|怎么叫您")
_DECLINES = re.compile(r"不方便|不想|不用留|不留|不说|不告诉|匿名|保密|算了吧|就不")
_SAYS_SURNAME = re.compile(r"(?:免贵|我)?姓([\u4e00-\u9fff]{1,2})")
_SAYS_NAME = re.compile(r"(?:我叫|我是|名字是|名字叫|叫我)([\u4e00-\u9fff]{2,4})")
_HONORIFIC = re.compile(r"([\u4e00-\u9fff]{1,2})(先生|女士|小姐|阿姨|大爷|师傅)")
_FILLERS = re.compile(r"^(嗯|啊|哦|呃|那个|我|就)+|[，。！？、,.!?\s]")


@dataclass(frozen=True)
class PersonFields:
    caller_name: TicketField
    caller_surname: TicketField
    honorific: TicketField


@functools.lru_cache(maxsize=1)
def surnames() -> frozenset[str]:
    """Common Chinese surnames (single and compound), from extract/data/surnames.txt."""
    lines = (Path(__file__).parent / "data" / "surnames.txt").read_text(encoding="utf-8").splitlines()
    return frozenset(word for line in lines if not line.startswith("#") for word in line.split())


def person_names(text: str) -> list[tuple[str, int]]:
    """Person names Baidu LAC finds in `text`, with their character offsets."""
    names, position = [], 0
    for word, tag in lac().run(text):
        if tag == "PER":
            names.append((word, position))
        position += len(word)
    return names


def extract_person(document: CallDocument) -> PersonFields:
    """Name fields; all empty (with the refusal as evidence) when the caller declines to give a name."""
    surname_votes: dict[str, list[Evidence]] = {}
    honorific: TicketField = TicketField()
    full_name: TicketField = TicketField()
    declined: list[Evidence] = []

    for turn in document.turns:
        if turn.is_caller:
            asked = _asked_for_name(document, turn)
            name = _full_name(turn, asked)
            if name is not None and full_name.value is None:
                full_name = name
                surname_votes.setdefault(_surname_of(name.value), []).extend(name.evidence)
            for surname, start, end in _said_surnames(turn):
                surname_votes.setdefault(surname, []).append(turn.evidence(start, end))
            if asked and name is None and _DECLINES.search(turn.text):
                declined.append(turn.evidence(0, len(turn.text)))
        else:
            for match in _HONORIFIC.finditer(turn.text):
                surname = _known_surname(match.group(1))
                if surname is None:
                    continue
                start = match.start(1) + len(match.group(1)) - len(surname)
                evidence = turn.evidence(start, match.end())
                surname_votes.setdefault(surname, []).append(evidence)
                if honorific.value is None:
                    honorific = TicketField(match.group(2), 0.9, [evidence], raw=evidence.text, source="operator")

    if not surname_votes:
        if declined:
            return PersonFields(*(TicketField(source="declined", evidence=declined) for _ in range(3)))
        return PersonFields(TicketField(), TicketField(), TicketField())
    surname, evidence = max(surname_votes.items(), key=lambda item: len(item[1]))
    agreeing = len({item.turn for item in evidence})
    surname_field = TicketField(surname, min(0.95, 0.7 + 0.1 * agreeing), evidence, source="spoken")
    if full_name.value is not None and _surname_of(full_name.value) != surname:
        full_name = TicketField(full_name.value, 0.4, full_name.evidence, source="spoken")
    if honorific.value is not None and not any(item.text.startswith(surname) for item in honorific.evidence):
        honorific = TicketField(honorific.value, 0.5, honorific.evidence, raw=honorific.raw, source="operator")
    return PersonFields(full_name, surname_field, honorific)


def _asked_for_name(document: CallDocument, turn: TurnText) -> bool:
    previous = document.previous_turn(turn, "agent")
    return previous is not None and previous.index >= turn.index - 2 and bool(_ASKS_NAME.search(previous.text))


def _full_name(turn: TurnText, asked: bool) -> TicketField | None:
    text = turn.text
    for match in _SAYS_NAME.finditer(text):
        for name, offset in person_names(match.group(1)):
            if _known_surname(name, prefix=True) and 2 <= len(name) <= 4:
                start = match.start(1) + offset
                return TicketField(name, 0.8, [turn.evidence(start, start + len(name))], source="spoken")
    bare = _FILLERS.sub("", text)
    if asked and 2 <= len(bare) <= 4 and "姓" not in bare:
        for name, offset in person_names(text):
            if name == bare and _known_surname(name, prefix=True):
                return TicketField(name, 0.75, [turn.evidence(offset, offset + len(name))], source="spoken")
    return None


def _said_surnames(turn: TurnText) -> list[tuple[str, int, int]]:
    found = []
    for match in _SAYS_SURNAME.finditer(turn.text):
        surname = _known_surname(match.group(1), prefix=True)
        if surname is not None:
            found.append((surname, match.start(1), match.start(1) + len(surname)))
    return found


def _known_surname(text: str, prefix: bool = False) -> str | None:
    """The surname `text` ends with (or, with prefix=True, starts with), if it is a known one."""
    for length in (2, 1):
        piece = text[:length] if prefix else text[-length:]
        if len(piece) == length and piece in surnames():
            return piece
    return None


def _surname_of(name: str) -> str:
    return name[:2] if name[:2] in surnames() else name[:1]
