"""The operator reads back, the caller confirms: "13812345678，对吗？" "对".

A read-back is an operator's turn that looks like one (`NUMBER`, `ADDRESS`, `REQUEST`, `RESTATEMENT`: what
each kind of read-back says); it is confirmed when the caller's next turn starts with a yes (`confirms`). The
phone, address and summary extractors and the QA service checks all read read-backs through `read_backs`.

The question tags of the kinds differ on purpose: a request read-back ends at its first tag, so a tag that
can stand inside a request ("是不是") would cut the request short.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

from extract.document import CallDocument, TurnText
from models import Evidence

__all__ = ["ADDRESS", "NUMBER", "REQUEST", "RESTATEMENT", "ReadBack", "confirms", "read_back", "read_backs"]

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

# The caller's yes, at the start of their reply after fillers: 对/对的, 是/是的, 嗯, 好/好的, 行, 可以, 没错, 正确,
# and the thanks that accept a read-back (谢谢, 麻烦你们了, 再见). "不对", "不是" never match: 不 is no filler.
_CONFIRMATION = re.compile(r"^[，。！？\s嗯啊]*(?:对|是|没错|正确|嗯|好|行|可以|谢谢|麻烦了|麻烦你们了|再见)")


def confirms(text: str) -> bool:
    """Whether a caller's reply says yes to what the operator read back."""
    return bool(_CONFIRMATION.search(text))


@dataclass(frozen=True)
class ReadBack:
    """An operator's turn that reads something back, what matched there, and the caller's reply (if any)."""

    turn: TurnText
    match: re.Match[str]
    reply: TurnText | None

    @property
    def confirmed(self) -> bool:
        return self.reply is not None and confirms(self.reply.text)

    @property
    def content(self) -> str:
        """What was read back: the pattern's `content` group, or all it matched."""
        return self.match.group("content") if "content" in self.match.re.groupindex else self.match.group()

    @property
    def span(self) -> tuple[int, int]:
        return self.match.span("content") if "content" in self.match.re.groupindex else self.match.span()

    def evidence(self) -> Evidence:
        return self.turn.evidence(*self.span)


def read_back(document: CallDocument, turn: TurnText, looks_like: re.Pattern[str]) -> ReadBack | None:
    """`turn` as a read-back of the kind `looks_like` describes, or None (a caller's turn, or no match)."""
    if turn.is_caller:
        return None
    match = looks_like.search(turn.text)
    if match is None:
        return None
    return ReadBack(turn, match, document.next_turn(turn, "caller"))


def read_backs(document: CallDocument, looks_like: re.Pattern[str], *, confirmed: bool = False) -> Iterator[ReadBack]:
    """The call's read-backs of one kind in turn order; with `confirmed`, only those the caller confirmed."""
    for turn in document.turns:
        found = read_back(document, turn, looks_like)
        if found is not None and (found.confirmed or not confirmed):
            yield found
