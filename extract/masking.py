"""Phone and ID-card numbers, and their masks: 138****5678, 460100********1234. Kept apart from the phone
extractor (extract.phone) so that what masks a log line loads no language tools."""

import re

MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
LANDLINE = re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)")
ID_CARD = re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)")
_INTERNATIONAL_MOBILE = re.compile(r"(?<!\d)((?:\+|00)?86[ -]?)(1[3-9]\d{9})(?!\d)")
"""A mobile number as telephony systems write the calling number: +8613800007731, 008613800007731."""


def mask_id(number: str) -> str:
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_number(number: str | None) -> str | None:
    """One phone number, such as the caller number in a list: 138****7731, enough for an operator to recognise a
    caller, not to dial them. Only its digits count; one of fewer than 7 digits is all stars."""
    if not number:
        return None
    digits = re.sub(r"\D", "", number)
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}{'*' * (len(digits) - 7)}{digits[-4:]}"


def mask_numbers(text: str) -> str:
    """Mask ID-card and phone numbers in free text (summaries, logs): 138****5678, 460100********1234."""
    text = ID_CARD.sub(lambda match: mask_id(match.group()), text)
    text = _INTERNATIONAL_MOBILE.sub(lambda match: match[1] + mask_number(match[2]), text)
    text = MOBILE.sub(lambda match: mask_number(match.group()), text)
    return LANDLINE.sub(lambda match: match.group()[:4] + "****" + match.group()[-2:], text)
