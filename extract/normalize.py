"""Inverse text normalisation for extraction: spoken numbers to digits, full/half width, traditional → simplified.

Callers say numbers as words (幺三八，一二三四，五六七八; 三号楼二单元; 一月十三号十二点). Extraction works
on the written form, but evidence must point at the words as said, so `normalize` returns the written
text together with a map from every written character back to its span in the raw text.

Only number words that are numbers are converted: digit strings (≥ 2 digits), numbers with units
(十/百/千/万), and single digits before a measure word (三号楼, 二单元, 五月). "我想问一下", "一直",
"一些" keep their 一.
"""

import functools
import re
import unicodedata
from dataclasses import dataclass

import cn2an

DIGIT_WORDS = "零〇一二三四五六七八九幺两"
UNIT_WORDS = "十百千万亿"
# cn2an reads digit strings as one integer and drops leading zeros (零八九八 → 898), so digit strings are
# spelled out digit by digit; 幺 is the spoken 1 of phone numbers, 两 the counting 2.
_DIGIT_OF = str.maketrans(
    {
        "零": "0",
        "〇": "0",
        "一": "1",
        "幺": "1",
        "二": "2",
        "两": "2",
        "三": "3",
        "四": "4",
        "五": "5",
        "六": "6",
        "七": "7",
        "八": "8",
        "九": "9",
    }
)
_NUMBER_RUN = re.compile(f"[{DIGIT_WORDS}{UNIT_WORDS}]+")
# A single digit word is a number only before one of these (三号楼, 二单元, 五月, 两点, 一栋). Not before 路:
# road names keep their Chinese ordinal (振发一路, 海府一横路), as the city writes them.
_MEASURES = (
    "号楼",
    "号院",
    "号房",
    "号",
    "栋",
    "幢",
    "座",
    "单元",
    "楼",
    "层",
    "室",
    "户",
    "月",
    "日",
    "年",
    "岁",
    "点",
    "时",
    "分钟",
    "小时",
    "个月",
    "天",
    "周",
    "元",
    "块",
    "公里",
    "米",
    "巷",
    "弄",
    "组",
    "队",
    "期",
    "区",
    "次",
    "辆",
    "人",
    "名",
    "位",
    "间",
    "套",
    "平",
)
_NOT_NUMBERS = (
    "一下",
    "一直",
    "一些",
    "一样",
    "一般",
    "一起",
    "一定",
    "一点点",
    "一切",
    "一旦",
    "一边",
    "一向",
    "万一",
    "一会",
    "一路上",
    "一楼道",
    "三亚",
    "五指山",
    "十分",
    "一方面",
    "两边",
    "一家人",
    "一模一样",
)
# Digit groups read out with pauses ("幺三幺，幺七七二，二六四幺" or "131 1772 2641") form one number
# when together they are long enough to be a phone or ID number.
_GROUP_SEPARATORS = "，,、 -—－"
_MIN_JOINED_DIGITS = 7


@dataclass(frozen=True)
class NormalizedText:
    """Written-form text plus, for each of its characters, the raw span it came from."""

    raw: str
    text: str
    spans: tuple[tuple[int, int], ...]

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """The raw-text span [start, end) that produced text[start:end]."""
        if not self.spans or start >= end:
            position = self.spans[start][0] if start < len(self.spans) else len(self.raw)
            return position, position
        end = min(end, len(self.spans))
        return self.spans[start][0], self.spans[end - 1][1]


def normalize(raw: str) -> NormalizedText:
    """Spoken numbers → digits, full width → half width letters/digits, traditional → simplified."""
    pieces: list[tuple[str, int, int]] = []  # (written text, raw start, raw end)
    position = 0
    for match in _NUMBER_RUN.finditer(raw):
        _append_plain(pieces, raw, position, match.start())
        pieces.extend(_number_pieces(raw, match.start(), match.end()))
        position = match.end()
    _append_plain(pieces, raw, position, len(raw))
    pieces = _join_digit_groups(_spoken_hyphens(pieces))
    text = "".join(piece for piece, _, _ in pieces)
    spans = tuple((start, end) for piece, start, end in pieces for _ in piece)
    return NormalizedText(raw=raw, text=text, spans=spans)


def _append_plain(pieces: list[tuple[str, int, int]], raw: str, start: int, end: int) -> None:
    if start >= end:
        return
    converted = _to_simplified(raw[start:end])
    # OpenCC t2s is character for character in practice; keep the map exact if a phrase ever changes length.
    same_length = len(converted) == end - start
    for offset in range(end - start):
        char = converted[offset] if same_length else _to_simplified(raw[start + offset])
        pieces.append((_half_width(char), start + offset, start + offset + 1))


def _number_pieces(raw: str, start: int, end: int) -> list[tuple[str, int, int]]:
    run = raw[start:end]
    after = raw[end : end + 3]
    before = raw[max(0, start - 1) : start]
    if _is_idiom(raw, start, end):
        return [(char, start + i, start + i + 1) for i, char in enumerate(run)]
    if not any(unit in run for unit in UNIT_WORDS):
        if len(run) >= 2 or after.startswith(_MEASURES) or before.isdigit():
            # digit by digit keeps leading zeros and lets evidence point at each spoken digit
            return [(char.translate(_DIGIT_OF), start + i, start + i + 1) for i, char in enumerate(run)]
        return [(run, start, end)]
    try:
        value = cn2an.cn2an(run.replace("幺", "一"), "smart")
    except (ValueError, KeyError, IndexError):
        return [(char, start + i, start + i + 1) for i, char in enumerate(run)]
    return [(str(int(value)), start, end)]


def _is_idiom(raw: str, start: int, end: int) -> bool:
    window = raw[max(0, start - 2) : end + 4]
    offset = start - max(0, start - 2)
    for phrase in _NOT_NUMBERS:
        index = window.find(phrase)
        while index != -1:
            if index <= offset < index + len(phrase) or offset <= index < offset + (end - start):
                return True
            index = window.find(phrase, index + 1)
    return False


def _spoken_hyphens(pieces: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """28杠1号 → 28-1号: 杠 is how a hyphen between numbers is read out (house and room numbers)."""
    result = list(pieces)
    for index in range(1, len(result) - 1):
        text, start, end = result[index]
        if text == "杠" and result[index - 1][0][-1:].isdigit() and result[index + 1][0][:1].isdigit():
            result[index] = ("-", start, end)
    return result


_HOUSE_MEASURES = frozenset("号栋幢楼室")


def _join_digit_groups(pieces: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Drop separators between digit groups that together make a long number (phone, ID)."""
    result: list[tuple[str, int, int]] = []
    index = 0
    while index < len(pieces):
        if not pieces[index][0].isdigit():
            result.append(pieces[index])
            index += 1
            continue
        digits, separators, cursor = [], [], index
        while cursor < len(pieces):
            piece = pieces[cursor]
            if piece[0].isdigit() or (piece[0] in "xX" and digits):
                digits.append(piece)
                cursor += 1
            elif piece[0] in _GROUP_SEPARATORS and cursor + 1 < len(pieces) and pieces[cursor + 1][0].isdigit():
                separators.append(piece)
                cursor += 1
            else:
                break
        digit_count = sum(len(piece[0]) for piece in digits)
        # Whisper also splits a house number it hears slowly ("海交路18 2号"): spaces before 号/栋/楼 go
        house_number = (
            all(piece[0] == " " for piece in separators)
            and cursor < len(pieces)
            and pieces[cursor][0] in _HOUSE_MEASURES
        )
        if separators and (digit_count >= _MIN_JOINED_DIGITS or house_number):
            result.extend(digits)
        else:
            result.extend(pieces[index:cursor])
        index = cursor
    return result


def _half_width(char: str) -> str:
    # full-width letters and digits become ASCII; Chinese punctuation stays as it is (it is part of the text)
    if "\uff10" <= char <= "\uff19" or "\uff21" <= char <= "\uff3a" or "\uff41" <= char <= "\uff5a" or char == "\u3000":
        return unicodedata.normalize("NFKC", char)
    return char


@functools.lru_cache(maxsize=1)
def _opencc():
    import opencc

    return opencc.OpenCC("t2s")


def _to_simplified(text: str) -> str:
    return _opencc().convert(text)
