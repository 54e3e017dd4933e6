"""The operator reads back, the caller confirms: "13812345678，对吗？" "对".

A read-back is an operator's turn that looks like one (`NUMBER`, `ADDRESS`, `REQUEST`, `RESTATEMENT`: what
each kind of read-back says); it is confirmed when the caller's next turn starts with a yes (`confirms`), and
denied when it starts with a no (`denies`). The phone, address and summary extractors and the QA service checks
all read read-backs through `read_backs`.

What the ASR does to a read-back is part of what it looks like. The diarizer cuts turns at the wrong place on
mono calls: the operator's "对吗" can end up at the start of the caller's reply ("吗？是的"), the caller's "对"
at the end of the operator's turn ("…对吗？对，好的"), or a tag split in two ("…的问题。对" + "吗？对。"). Whisper
misspells what it does not know: digits come out as sound-alike characters (要求九五三 for 幺九九五三: `digit_runs`
reads them by sound), and a restatement's words as homophones, which is why a restatement is also recognised by
how much of it sounds like what the caller said before (`sound_overlap`).

The question tags of the kinds differ on purpose: a request read-back ends at its first tag, so a tag that
can stand inside a request ("是不是") would cut the request short.
"""

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from extract.document import CallDocument, TurnText
from extract.phonetic import CLOSE_COST, pair_keys, reading_distance, text_readings
from models import Evidence

__all__ = [
    "ADDRESS",
    "CALLING_NUMBER",
    "NUMBER",
    "PUT_BACK",
    "REQUEST",
    "RESTATEMENT",
    "RESTATEMENT_OVERLAP",
    "ReadBack",
    "confirms",
    "denies",
    "digit_runs",
    "read_back",
    "read_backs",
    "restatements",
    "sound_overlap",
]

NUMBER = re.compile(r"核对|合对|和对|确认|重复|是不是|对吗|对吧|是吗")
"""A number read back: the operator's turn asks to check ("核对一下", "对吗") anywhere around the digits."""

ADDRESS = re.compile(
    r"(?:位置|地址|地点|事发地|住址|在哪)(?:是|就是)?(?:在)?(?P<content>[^，。？！?!]{3,60}?)了?[，,。.？?]?"
    r"(?:对吗|是吗|对吧|没错吧|是不是)"
)
"""An address read back: "您说的位置是在秀英区海口火车站公交车站，对吗？" (`content`: the address as said)."""

REQUEST = re.compile(
    r"您(?:反映|咨询|投诉|举报|求助|建议|表扬)的(?:是|问题是)(?P<content>.+?)[，,]?(?:对吗|是吗|对吧|是这样吗)"
)
"""The request read back in the hotline's words: "您反映的是…的问题，对吗？" (`content`: the request)."""

RESTATEMENT = re.compile(
    r"(确认一下|核对一下|核实一下|跟您(确认|核对)|您(反映|咨询|投诉|举报|求助|建议)的(是|问题|情况)).*(对吗|是吗|对吧|是这样吗)"
)
"""Any restatement put to the caller to confirm: "跟您确认一下，…，对吗？" (no `content` group)."""

CALLING_NUMBER = re.compile(
    r"(?:现在|来电|打进来|正在用)[^，。？?！!]{0,5}?(?:号码|电话|手机)[^，。？?！!]{0,3}?[吗吧]"
)
"""The operator asks whether the callback number is the one the caller is calling from: "是您现在来电的这个号码吗"."""

PUT_BACK = re.compile(r"(?P<content>[^？?！!]{8,}?)[，,。.]?(?:对吗|是吗|对吧|是这样吗|没错吧)")
"""Any question that puts words back to the caller ("…，对吗？"): with `restatements`, the words must sound like
what the caller said."""

RESTATEMENT_OVERLAP = 0.3
"""Share of a restatement's neighbouring-syllable pairs heard in the caller's earlier turns (`sound_overlap`).
An operator's own question ("您是要投诉对吗") shares few; the demo's restatement from Whisper base, homophones
and all, shares 0.37."""

# The caller's yes, at the start of their reply after fillers: 对/对的, 是/是的, 嗯, 好/好的, 行, 可以, 没错, 正确,
# and the thanks that accept a read-back (谢谢, 麻烦你们了, 再见). "不对", "不是" never match: 不 is no filler.
_CONFIRMATION = re.compile(r"^[，。！？\s嗯啊]*(?:对|是|没错|正确|嗯|好|行|可以|谢谢|麻烦了|麻烦你们了|再见)")
# A yes behind a character or two Whisper misheard ("同人对等" for "嗯，对的"): only the unmistakable ones.
_GARBLED_CONFIRMATION = re.compile(r"^[，。！？\s嗯啊]*[^，。！？\s不没]{1,2}(?:对|是的|没错|正确)")
_DENIAL = re.compile(r"^[，。！？\s嗯啊]*(?:不|没(?!错|问题)|错|有误|号码是|电话是)")
# The end of the operator's question that the diarizer gave to the caller's reply ("吗？是的", "对吗？是的").
_LEADING_TAG = re.compile(r"^[，。！？?!\s]*(?:(?:对|是)(?:吗|吧)|吗|吧)(?:[，。！？?!\s]+|$)")
# The caller's yes that the diarizer left at the end of the operator's turn, after the question ("对吗？对，好的").
_MERGED_CONFIRMATION = re.compile(r"^[，。！？?!\s]*(?:对|是的|嗯|没错)")
# Digits as written or said: Arabic (full width too), Chinese digit words, 幺 and 两, and the letter L Whisper
# writes for 幺; characters that only sound like a digit word are read by sound (`_sounds_like_digit`).
_DIGITS = {
    **{str(digit): str(digit) for digit in range(10)},
    **{chr(0xFF10 + digit): str(digit) for digit in range(10)},
    **dict(zip("零〇一二三四五六七八九幺两Ll", "001234567891211", strict=True)),
}
_DIGIT_SEPARATORS = " ,，、。.:：-—－"  # Whisper ends a digit group with 。 too: 1992558。8945
_DIGIT_READINGS = {
    "ling": "0", "yi": "1", "yao": "1", "er": "2", "liang": "2", "san": "3", "si": "4", "wu": "5", "liu": "6",
    "qi": "7", "ba": "8", "jiu": "9",
}  # fmt: skip


def _reply_text(text: str) -> str:
    """The caller's reply without the end of the operator's question at its start."""
    return _LEADING_TAG.sub("", text, count=1)


def confirms(text: str) -> bool:
    """Whether a caller's reply says yes to what the operator read back (the operator's "吗" at its start, or a
    character or two misheard before an unmistakable yes, do not hide it)."""
    reply = _reply_text(text)
    if denies(reply):
        return False
    return bool(_CONFIRMATION.search(reply) or _GARBLED_CONFIRMATION.search(reply))


def denies(text: str) -> bool:
    """Whether a caller's reply says no to what the operator read back ("不对", "不是，是…", "错了", "号码是…")."""
    return bool(_DENIAL.search(_reply_text(text)))


@dataclass(frozen=True)
class ReadBack:
    """An operator's turn that reads something back, what matched there, and the caller's reply (if any)."""

    turn: TurnText
    match: re.Match[str]
    reply: TurnText | None

    @property
    def confirmed(self) -> bool:
        """The caller said yes: in their reply, or at the end of the operator's turn where the diarizer left it."""
        if self.reply is not None and confirms(self.reply.text):
            return True
        return bool(_MERGED_CONFIRMATION.search(self.turn.text[self.match.end() :]))

    @property
    def denied(self) -> bool:
        """The caller said no ("不对，是…"). A read-back neither confirmed nor denied was put to the caller and
        not objected to (the yes lost in recognition, or the caller went on talking)."""
        return not self.confirmed and self.reply is not None and denies(self.reply.text)

    @property
    def content(self) -> str:
        """What was read back: the pattern's `content` group, or all it matched."""
        return self.match.group("content") if "content" in self.match.re.groupindex else self.match.group()

    @property
    def span(self) -> tuple[int, int]:
        """In the operator's turn (a question tag completed from the reply ends where the turn ends)."""
        start, end = self.match.span("content") if "content" in self.match.re.groupindex else self.match.span()
        return min(start, len(self.turn.text)), min(end, len(self.turn.text))

    def evidence(self) -> Evidence:
        return self.turn.evidence(*self.span)


def read_back(document: CallDocument, turn: TurnText, looks_like: re.Pattern[str]) -> ReadBack | None:
    """`turn` as a read-back of the kind `looks_like` describes, or None (a caller's turn, or no match)."""
    if turn.is_caller:
        return None
    reply = document.next_turn(turn, "caller")
    match = looks_like.search(turn.text + _split_tag(document, turn, reply))
    if match is None:
        return None
    return ReadBack(turn, match, reply)


def _split_tag(document: CallDocument, turn: TurnText, reply: TurnText | None) -> str:
    """The rest of the operator's question tag when the diarizer cut it off into the reply ("…对" + "吗？对。")."""
    if reply is None or document.next_turn(turn) is not reply:
        return ""
    if not turn.text.rstrip("，。？?！! ").endswith(("对", "是")):
        return ""
    found = re.match(r"[吗吧][？?。，！!]?", reply.text)
    return found.group() if found else ""


def digit_runs(text: str, min_digits: int = 1) -> list[tuple[str, int, int]]:
    """The digit strings in a text as said, with their spans: Arabic digits, Chinese digit words, the letter L
    Whisper writes for 幺, across the spaces, commas and colons Whisper writes between digit groups, and
    characters that only sound like a digit word (期 for 七, 求 for 九) where they cannot be anything else:
    one or two between digits, or before a run when the first says 幺 (要求九五三 → 1953: phone numbers start
    with 1), or one saying 幺 right after a run (二六四要 → 2641). Runs of at least `min_digits` digits."""
    digits: list[str | None] = [_DIGITS.get(char) for char in text]
    sounds = [_sounds_like_digit(reading) if digit is None else None
              for digit, reading in zip(digits, text_readings(text), strict=True)]  # fmt: skip
    index = 0
    while index < len(text):
        if sounds[index] is None:
            index += 1
            continue
        chain_end = index
        while chain_end < len(text) and (sounds[chain_end] is not None or text[chain_end] in _DIGIT_SEPARATORS):
            chain_end += 1
        chain = [position for position in range(index, chain_end) if sounds[position] is not None]
        after = _next_digit(digits, text, chain_end - 1, 1)
        before = _next_digit(digits, text, index, -1)
        leads_a_number = not before and sounds[chain[0]] == "1"
        ends_a_number = before and not after and len(chain) == 1 and sounds[chain[0]] == "1"  # …26 4要 → …2641
        if (after and len(chain) <= 2 and (before or leads_a_number)) or ends_a_number:
            for position in chain:
                digits[position] = sounds[position]
        index = chain_end
    runs: list[tuple[str, int, int]] = []
    start = None
    for index in range(len(text) + 1):
        if index < len(text) and digits[index] is not None:
            start = index if start is None else start
        elif start is not None and (index == len(text) or not _next_digit(digits, text, index - 1, 1)):
            found = "".join(digit for digit in digits[start:index] if digit is not None)
            end = max(position for position in range(start, index) if digits[position] is not None) + 1
            if len(found) >= min_digits:
                runs.append((found, start, end))
            start = None
    return runs


def _sounds_like_digit(reading: tuple[str, ...]) -> str | None:
    for sound, digit in _DIGIT_READINGS.items():
        if reading and reading_distance(reading, (sound,)) <= CLOSE_COST:
            return digit
    return None


def _next_digit(digits: list[str | None], text: str, index: int, step: int) -> bool:
    """Whether the next character from `index` on (across digit separators) is a digit."""
    index += step
    while 0 <= index < len(text) and digits[index] is None and text[index] in _DIGIT_SEPARATORS:
        index += step
    return 0 <= index < len(text) and digits[index] is not None


def sound_overlap(text: str, said: str) -> float:
    """How much of `text` sounds like something in `said`: the share of its pairs of neighbouring syllables
    (folded: z/zh, n/l, an/ang … alike) that occur in `said`. A restatement of the caller's words scores high
    whatever homophones Whisper wrote on either side; 0 when `text` has no two neighbouring Chinese characters."""
    mine = _sound_pairs(text)
    if not mine:
        return 0.0
    theirs = {key for keys in _sound_pairs(said) for key in keys}
    return sum(1 for keys in mine if theirs.intersection(keys)) / len(mine)


def _sound_pairs(text: str) -> list[tuple[tuple[str, str], ...]]:
    return [keys for first, second in itertools.pairwise(text) if (keys := pair_keys(first, second))]


def read_backs(document: CallDocument, looks_like: re.Pattern[str], *, confirmed: bool = False) -> Iterator[ReadBack]:
    """The call's read-backs of one kind in turn order; with `confirmed`, only those the caller confirmed."""
    for turn in document.turns:
        found = read_back(document, turn, looks_like)
        if found is not None and (found.confirmed or not confirmed):
            yield found


def restatements(document: CallDocument, min_overlap: float = RESTATEMENT_OVERLAP) -> Iterator[ReadBack]:
    """Operator questions that put the caller's own words back to them, found by sound rather than by the
    operator's cue words (which Whisper mishears as readily as the rest): the words before the question tag
    sound like what the caller said before, by at least `min_overlap` (`sound_overlap`). In turn order."""
    said: list[str] = []
    for turn in document.turns:
        if turn.is_caller:
            said.append(turn.text)
            continue
        found = read_back(document, turn, PUT_BACK)
        if found is not None and sound_overlap(found.content, "".join(said)) >= min_overlap:
            yield found
