"""Chinese script handling for ASR output: Whisper often writes traditional characters and
ASCII punctuation inside Chinese text."""

import functools
import re

import opencc

_CJK = r"[\u3400-\u9fff]"
_ASCII_TO_FULLWIDTH = {",": "，", ".": "。", "?": "？", "!": "！", ":": "：", ";": "；"}
# punctuation right after a Chinese character, not inside a number such as 3.5 or 1,000
_PUNCT_AFTER_CJK = re.compile(rf"(?<={_CJK})([,.?!:;])(?!\d)")


@functools.lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified characters (OpenCC t2s), and full-width punctuation after Chinese."""
    if not text:
        return text
    text = _t2s().convert(text)
    return _PUNCT_AFTER_CJK.sub(lambda m: _ASCII_TO_FULLWIDTH[m.group(1)], text)
