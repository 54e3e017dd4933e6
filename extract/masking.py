"""Phone and ID-card numbers, and their masks: 138****5678, 460100********1234. Kept apart from the phone
extractor (extract.phone) so that what masks a log line loads no language tools."""

import re

MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
LANDLINE = re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")
ID_CARD = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
_INTERNATIONAL_MOBILE = re.compile(r"(?<!\d)((?:\+|00)?86[ -]?)(1[3-9]\d{9})(?!\d)")
"""A mobile number as telephony systems write the calling number: +8613800007731, 008613800007731."""


_DIGIT_CHARS = "0123456789０１２３４５６７８９零〇一二三四五六七八九幺两"
_DIGIT_OF = str.maketrans(_DIGIT_CHARS, "0123456789" * 2 + "00123456789" + "12")
_SEPARATOR = r"[ \t\-‐–—.·,，、]"
_WRITTEN_RUN = re.compile(rf"[{_DIGIT_CHARS}Xx]+(?:{_SEPARATOR}{{1,2}}[{_DIGIT_CHARS}Xx]+)*")
"""Digits as people and recognisers write a number: grouped by spaces, dashes or commas (139 1234 5678,
幺三九，零零零零，五二八六), full-width (１３９…) or as digit words; X for an ID card's check character."""


def mask_id(number: str) -> str:
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_number(number: str | None) -> str | None:
    """One phone number, such as the caller number in a list: 138****7731, enough for an operator to recognise a
    caller, not to dial them. Only its digits count. A shorter number (a local landline of 7-8 digits) keeps
    its last two digits only, so that most of it stays hidden; one of fewer than 7 digits is all stars."""
    if not number:
        return None
    digits = re.sub(r"\D", "", number)
    if len(digits) < 7:
        return "*" * len(digits)
    if len(digits) < 11:
        return "*" * (len(digits) - 2) + digits[-2:]
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def mask_numbers(text: str) -> str:
    """Mask ID-card and phone numbers in free text (summaries, logs, exports): 138****5678, 460100********1234,
    also when written in groups, in full-width digits or in digit words (then masked as plain digits)."""
    text = ID_CARD.sub(lambda match: mask_id(match.group()), text)
    text = _INTERNATIONAL_MOBILE.sub(lambda match: match[1] + mask_number(match[2]), text)
    text = MOBILE.sub(lambda match: mask_number(match.group()), text)
    text = LANDLINE.sub(lambda match: match.group()[:4] + "****" + match.group()[-2:], text)
    return _WRITTEN_RUN.sub(lambda match: _mask_written(match.group()), text)


def _masked_digits(digits: str) -> str | None:
    """The mask of `digits` if they are exactly one ID-card, mobile (+86 allowed) or landline number."""
    if ID_CARD.fullmatch(digits):
        return mask_id(digits)
    national = re.sub(r"^(?:00)?86(?=1[3-9]\d{9}$)", "", digits)
    if MOBILE.fullmatch(national):
        return digits[: len(digits) - len(national)] + mask_number(national)
    if LANDLINE.fullmatch(digits):
        return digits[:4] + "****" + digits[-2:]
    return None


def _mask_written(run: str) -> str:
    """A run of digit groups with the numbers in it masked: the longest span of whole groups, from the left,
    whose digits are one number (a run may hold two numbers, or a number and a date). A span is at most 20
    characters long, so a run of any length costs time in proportion to it."""
    groups = re.split(rf"({_SEPARATOR}{{1,2}})", run)  # digits, separator, digits, …
    words = groups[0::2]
    out: list[str] = []
    start = 0
    while start < len(words):
        found, end, digits = None, start + 1, ""
        for stop in range(start + 1, len(words) + 1):
            digits += words[stop - 1]
            if len(digits) > 20:
                break
            masked = _masked_digits(digits.translate(_DIGIT_OF).upper())
            if masked is not None:
                found, end = masked, stop
        out.append(found if found is not None else words[start])
        if end < len(words):
            out.append(groups[2 * end - 1])  # the separator after the span
        start = end
    return "".join(out)
