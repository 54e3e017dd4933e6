"""Phone numbers decoded again with a prompt in the way numbers are said on the hotline.

Whisper base loses digits of a phone number read in groups (幺三九，零零零零，五二八六 comes out as 雕三九，零零零
五二八六: a repeated digit collapses, 幺 becomes a word). Decoded again on its own, with a prompt that shows
numbers spoken digit by digit in the hotline's grouping, the same stretch of audio usually keeps every digit.
Only stretches of words that hold many digits but no valid phone number are decoded again, and the new words
are taken only when they hold a valid mobile or landline number.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from models import Segment, Word

__all__ = ["DIGIT_CHARS", "NumberOptions", "number_quality", "redecode_numbers"]

ClipDecoder = Callable[[float, float, str], list[Segment]]
"""decode(start_s, end_s, prompt) → segments of that stretch, with times in the recording."""

SERVICE_NUMBER = "12345"
DIGIT_CHARS = "0123456789零〇一二三四五六七八九幺两"
"""Digits as Whisper writes them in Chinese speech: Arabic, or the digit words (幺 the spoken 1, 两 the 2)."""
_DIGIT_OF = str.maketrans("零〇一二三四五六七八九幺两", "0012345678912")
# characters Whisper writes for a spoken digit in a number (幺 → 要/腰/邀, 零 → 洞): part of a number's stretch
_DIGIT_LIKE = {**dict.fromkeys("要腰邀妖吆", "1"), "洞": "0"}
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}\d{7,8}")


@dataclass(frozen=True)
class NumberOptions:
    """min_digits: a stretch with this many digits (as digits or digit words) but no valid phone number is a
        number that was misheard (a mobile number has 11).
    prompt: numbers as the hotline says them: digits one by one, 幺 for 1, in 3-4-4 groups; the example is no
        caller's number (it is the pattern's own 138 1234 5678).
    padding_s: audio kept on each side of the stretch (Whisper cuts words at a hard edge).
    max_per_channel: re-decodes per channel at most (each costs about one short window).
    max_stretch_s: a longer stretch is no number said once (a mobile number read in three groups takes 3-8 s) but
        digits scattered through a long turn; decoding it again would cost a window and could drop its other words.
    """

    min_digits: int = 6
    prompt: str = "电话号码：138 1234 5678，幺三八，幺二三四，五六七八。"
    padding_s: float = 0.5
    max_per_channel: int = 4
    max_stretch_s: float = 12.0


def _digits(text: str) -> str:
    """The digits of a text, with a digit's sound-alike read as that digit where a digit follows it."""
    found = []
    for char, following in zip(text, text[1:] + " ", strict=True):
        if char in DIGIT_CHARS:
            found.append(char)
        elif char in _DIGIT_LIKE and following in DIGIT_CHARS:
            found.append(_DIGIT_LIKE[char])
    return "".join(found).translate(_DIGIT_OF)


def number_quality(text: str) -> tuple[int, int]:
    """(its digits, besides the hotline's own 12345, are exactly a mobile or landline number; how many)."""
    digits = _digits(text).replace(SERVICE_NUMBER, "", 1)
    return int(bool(_MOBILE.fullmatch(digits) or _LANDLINE.fullmatch(digits))), len(digits)


def redecode_numbers(
    segments: list[Segment], decode: ClipDecoder, options: NumberOptions | None = None
) -> tuple[list[Segment], int]:
    """Segments whose misheard numbers read as valid ones when decoded again; and how many numbers changed."""
    options = options or NumberOptions()
    result, changed, tried = [], 0, 0
    for segment in segments:
        words = list(segment.words)
        for first, last in reversed(_number_stretches(words)):
            if tried >= options.max_per_channel:
                break
            heard = "".join(word.text for word in words[first : last + 1])
            quality = number_quality(heard)
            start, end = words[first].start, words[last].end
            if quality[0] or quality[1] < options.min_digits or end - start > options.max_stretch_s:
                continue
            tried += 1
            decoded = decode(max(0.0, start - options.padding_s), end + options.padding_s, options.prompt)
            new_words = [
                word
                for new in decoded
                for word in new.words
                if start - options.padding_s / 2 <= (word.start + word.end) / 2 <= end + options.padding_s / 2
            ]
            if new_words and number_quality("".join(word.text for word in new_words))[0]:
                words[first : last + 1] = _joined_digits(new_words)
                changed += 1
        if words != segment.words:
            segment = replace(segment, words=words, text="".join(word.text for word in words))
        result.append(segment)
    return result, changed


def _joined_digits(words: list[Word]) -> list[Word]:
    """A word that starts with a digit joined to one that ends with a digit: Whisper wrote the number as one
    string (3900005286：), its word tokens (39, 00 … 6：) would read with spaces between them."""
    joined: list[Word] = []
    for word in words:
        if joined and _is_ascii_digit(joined[-1].text[-1:]) and _is_ascii_digit(word.text[:1]):
            last = joined[-1]
            joined[-1] = Word(last.start, word.end, last.text + word.text, min(last.probability, word.probability))
        else:
            joined.append(word)
    return joined


def _is_ascii_digit(char: str) -> bool:
    return char.isascii() and char.isdigit()


def _number_stretches(words: list[Word]) -> list[tuple[int, int]]:
    """(first, last) word indexes of runs of words that hold digits, bridging one word without any."""
    stretches, first, last, gap = [], None, None, 0
    for index, word in enumerate(words):
        if any(char in DIGIT_CHARS or char in _DIGIT_LIKE for char in word.text):
            first = index if first is None else first
            last, gap = index, 0
        elif first is not None:
            gap += 1
            if gap > 1:
                stretches.append((first, last))
                first, last, gap = None, None, 0
    if first is not None:
        stretches.append((first, last))
    return stretches
