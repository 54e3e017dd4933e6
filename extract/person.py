"""Caller name, surname and honorific.

Operators ask "请问您贵姓？" and then address the caller as 郑女士 / 符先生: the honorific and a confirmed
surname come from the operator's words, a full name from the caller's answer (Baidu LAC finds person
names), and a refusal ("不方便透露") leaves the name empty on purpose.
"""

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from extract.document import CallDocument, TurnText
from extract.nlp import lac
from extract.phonetic import HALF_COST, char_readings, reading_distance
from models import Evidence, TicketField

_ASKS_NAME = re.compile(r"贵姓|称呼|姓名|名字|怎么叫您")
_DECLINES = re.compile(r"不方便|不想|不用留|不留|不说|不告诉|匿名|保密|算了吧|就不")
_SAYS_SURNAME = re.compile(r"(?:免贵|我)?姓([\u4e00-\u9fff]{1,2})")
_SAYS_NAME = re.compile(r"(?:我叫|我是|名字是|名字叫|叫我)([\u4e00-\u9fff]{2,4})")
# an answer whose 我 landed at the end of the operator's turn (a turn split a little early): "叫李慧敏"
_ANSWER_STARTS_WITH_NAME = re.compile(r"^[，。\s嗯啊呃]*(?:叫|是)([\u4e00-\u9fff]{2,4})")
_HONORIFIC = re.compile(r"([\u4e00-\u9fff]{1,2})(先生|女士|小姐|阿姨|大爷|师傅|女是|女式|女事|女仕)")
# 女士 as Whisper often writes it on the phone
_HONORIFIC_SPELLING = {"女是": "女士", "女式": "女士", "女事": "女士", "女仕": "女士"}
# "免贵姓符" heard as 免贵幸福 / 贵性高: 姓 comes out as a character that sounds like it
_SURNAME_AFTER_GUI = re.compile(r"(?:免贵|贵)([\u4e00-\u9fff])([\u4e00-\u9fff])")
# spelling a surname out: "符号的符", "弓长张" is not caught, "耳东陈" neither: only the X…的X form
# spelling a surname ends its phrase: "符号的符。", "木子的李"; "路段的路灯" goes on and is no spelling
_SPELLED = re.compile(r"([\u4e00-\u9fff])[\u4e00-\u9fff]{1,2}的\1(?=$|[，。！？、,.!?\s])")
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


def extract_person(document: CallDocument, surname_prior: Mapping[str, float] | None = None) -> PersonFields:
    """Name fields; all empty (with the refusal as evidence) when the caller declines to give a name.

    Every mention of the surname votes: the operator's 郑女士, the caller's 我姓郑 / 免贵姓郑 / 符号的符. A
    mention Whisper wrote as a character that is no surname (福女士, 免贵幸福) votes by sound for the surnames
    read alike, the ones common in the deployment's province first (`surname_prior`, from the lexicon).
    """
    prior = surname_prior or {}
    votes: list[_Vote] = []
    honorific: TicketField = TicketField()
    honorific_heard: str | None = None
    full_name: TicketField = TicketField()
    declined: list[Evidence] = []

    for turn in document.turns:
        if turn.is_caller:
            asked = _asked_for_name(document, turn)
            name = _full_name(turn, asked)
            if name is not None and full_name.value is None:
                full_name = name
                votes.append(_Vote(_surname_of(name.value), name.evidence[0], exact=True))
            for heard, start, end, exact in _said_surnames(turn, asked):
                votes.append(_Vote(heard, turn.evidence(start, end), exact))
            if asked and name is None and _DECLINES.search(turn.text):
                declined.append(turn.evidence(0, len(turn.text)))
        else:
            for match in _HONORIFIC.finditer(turn.text):
                known = _known_surname(match.group(1))
                heard = known or match.group(1)[-1]
                if heard in _NOT_A_NAME or (not known and not _sounds_like_a_surname(heard)):
                    continue
                start = match.start(1) + len(match.group(1)) - len(heard)
                evidence = turn.evidence(start, match.end())
                votes.append(_Vote(heard, evidence, exact=known is not None))
                if honorific.value is None:
                    title = _HONORIFIC_SPELLING.get(match.group(2), match.group(2))
                    honorific = TicketField(title, 0.9, [evidence], raw=evidence.text, source="operator")
                    honorific_heard = heard

    if not votes:
        if declined:
            return PersonFields(*(TicketField(source="declined", evidence=declined) for _ in range(3)))
        return PersonFields(TicketField(), TicketField(), honorific)
    surname, supporting = _elect_surname(votes, prior)
    agreeing = len({vote.evidence.turn for vote in supporting})
    exact = any(vote.exact and vote.heard == surname for vote in supporting)
    confidence = min(0.95, 0.7 + 0.1 * agreeing) if exact else min(0.85, 0.5 + 0.1 * agreeing)
    evidence = [vote.evidence for vote in supporting]
    raw = None if exact else "、".join(dict.fromkeys(vote.heard for vote in supporting))
    surname_field = TicketField(surname, round(confidence, 3), evidence, raw=raw, source="spoken")
    if full_name.value is not None and _surname_of(full_name.value) != surname:
        full_name = TicketField(full_name.value, 0.4, full_name.evidence, source="spoken")
    if honorific.value is not None and honorific_heard not in {vote.heard for vote in supporting}:
        honorific = TicketField(honorific.value, 0.5, honorific.evidence, raw=honorific.raw, source="operator")
    return PersonFields(full_name, surname_field, honorific)


@dataclass(frozen=True)
class _Vote:
    heard: str
    evidence: Evidence
    exact: bool


SOUND_VOTE_WEIGHT = 0.8
"""A mention heard as a sound-alike counts a little less than one heard as the surname itself."""
NATIONAL_PRIOR = 0.45
"""Prior of the most common national surname not listed for the province (decreasing with its rank)."""


def _elect_surname(votes: list[_Vote], prior: Mapping[str, float]) -> tuple[str, list[_Vote]]:
    """The surname with the most support; a sound-alike mention supports every surname read (nearly) alike."""
    scores: dict[str, float] = {}
    support: dict[str, list[_Vote]] = {}
    for vote in votes:
        for surname, closeness in _surnames_like(vote.heard, vote.exact).items():
            weight = closeness if vote.exact else SOUND_VOTE_WEIGHT * closeness
            scores[surname] = scores.get(surname, 0.0) + weight * (1.0 + _prior(surname, prior))
            support.setdefault(surname, []).append(vote)
    best = max(scores, key=lambda surname: (scores[surname], _prior(surname, prior)))
    return best, support[best]


def _prior(surname: str, regional: Mapping[str, float]) -> float:
    if surname in regional:
        return regional[surname]
    rank = _national_rank().get(surname)
    return NATIONAL_PRIOR * (1.0 - rank / len(_national_rank())) if rank is not None else 0.0


@functools.lru_cache(maxsize=1)
def _national_rank() -> dict[str, int]:
    ranked: dict[str, int] = {}
    lines = (Path(__file__).parent / "data" / "surnames.txt").read_text(encoding="utf-8").splitlines()
    for word in (word for line in lines if not line.startswith("#") for word in line.split()):
        ranked.setdefault(word, len(ranked))
    return ranked


@functools.lru_cache(maxsize=4096)
def _surnames_like(heard: str, exact: bool) -> dict[str, float]:
    """Known single-character surnames that sound like `heard`, with closeness 1 (same sound) to 0.4. A surname
    heard as itself (付) stands for itself only: 付 and 符 are both real, and the caller's own word is what we have."""
    if exact:
        return {heard: 1.0}
    found: dict[str, float] = {}
    if len(heard) != 1:
        return found
    heard_reading = char_readings(heard)
    for surname in _national_rank():
        if len(surname) != 1 or surname in found:
            continue
        distance = reading_distance(heard_reading, char_readings(surname)[:1])
        if distance <= HALF_COST:
            found[surname] = 1.0 - distance
    return found


# Words before 先生/女士 that are not names, although some are rare surnames or sound like one (这位, 您好, 的)
_NOT_A_NAME = frozenset("位好的个这那您是和跟给请对谢哪")


def _sounds_like_a_surname(heard: str) -> bool:
    """Some surname sounds exactly like it (福 → 符/付/傅)."""
    return any(closeness == 1.0 for closeness in _surnames_like(heard, False).values())


def _asked_for_name(document: CallDocument, turn: TurnText) -> bool:
    previous = document.previous_turn(turn, "agent")
    return previous is not None and previous.index >= turn.index - 2 and bool(_ASKS_NAME.search(previous.text))


def _full_name(turn: TurnText, asked: bool) -> TicketField | None:
    text = turn.text
    matches = list(_SAYS_NAME.finditer(text))
    if asked:
        matches += list(_ANSWER_STARTS_WITH_NAME.finditer(text))
    for match in matches:
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


def _said_surnames(turn: TurnText, asked: bool) -> list[tuple[str, int, int, bool]]:
    """(surname or the character heard for it, start, end, whether it is a known surname as heard)."""
    found = []
    for match in _SAYS_SURNAME.finditer(turn.text):
        surname = _known_surname(match.group(1), prefix=True)
        if surname is not None:
            found.append((surname, match.start(1), match.start(1) + len(surname), True))
        else:
            found.append((match.group(1)[0], match.start(1), match.start(1) + 1, False))
    if asked and not found:
        for match in _SURNAME_AFTER_GUI.finditer(turn.text):
            if match.group(1) != "姓" and reading_distance(char_readings(match.group(1)), ("xing",)) <= HALF_COST:
                heard = match.group(2)
                found.append((heard, match.start(2), match.end(2), heard in surnames()))
    for match in _SPELLED.finditer(turn.text):
        heard = match.group(1)
        found.append((heard, match.start(1), match.start(1) + 1, heard in surnames()))
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
