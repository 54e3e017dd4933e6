"""HTTP Range requests on one stored representation (a recording), as RFC 9110 §13.1.5 and §14 say.

`select_range(range, if_range, etag, size)` answers what to send:

- no `Range`, a range unit other than `bytes`, or a `Range` without `=`: the whole representation, 200
  (a server MUST ignore a range unit it does not understand, §14.2);
- `If-Range` that does not match the current ETag by strong comparison (a weak tag, another tag, or a
  date: the recordings carry no Last-Modified, so no date can match): the whole representation, 200
  (the server MUST ignore `Range` then, §13.1.5);
- more than one range: the whole representation, 200. A server MAY ignore `Range` (§14.2), and one
  sequential body is all a player needs; multipart/byteranges would only be a way to ask for many
  small overlapping pieces (§17.15);
- one satisfiable range: 206 with `Content-Range: bytes first-last/size`, where
  `first-` runs to the end, `first-last` is clipped at the end (§14.1.2), and the suffix `-N` is the last
  N bytes, or the entire representation when it is shorter than N ("If the selected representation is
  shorter than the specified suffix-length, the entire representation is used", §14.1.2): so
  `bytes=-999999999` on a 100-byte file is 206 `bytes 0-99/100`, as is `bytes=0-`;
- one invalid or unsatisfiable range: 416 with `Content-Range: bytes */size` (§14.2, §15.5.17). Invalid:
  not `digits-[digits]` or `-digits`, or last < first. Unsatisfiable (§14.1.1): first at or past the end,
  a suffix of length 0 (`bytes=-0`), or any range of an empty representation.

Positions longer than 18 digits are taken as "past any recording" rather than parsed (a 5,000-digit
number would make `int()` fail); every recording is far shorter than 10**18 bytes.
"""

import re
from dataclasses import dataclass

__all__ = ["ByteRange", "RangeNotSatisfiable", "select_range"]

_SPEC = re.compile(r"([0-9]*)-([0-9]*)")
_MAX_DIGITS = 18
_FAR = 10**_MAX_DIGITS


@dataclass(frozen=True)
class ByteRange:
    """Bytes `start`..`end` (inclusive) of a representation of `size` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


class RangeNotSatisfiable(ValueError):
    """The one requested range is invalid or selects nothing: answer 416 with `Content-Range: bytes */size`."""


def select_range(range_header: str | None, if_range: str | None, etag: str, size: int) -> ByteRange | None:
    """The range to send with 206, or None to send the whole representation with 200; raises
    `RangeNotSatisfiable` for 416. `etag` is the representation's strong ETag, quotes included."""
    if range_header is None:
        return None
    if if_range is not None and if_range.strip() != etag:
        return None
    unit, equals, range_set = range_header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    # empty list elements ("0-1,,") are allowed and ignored (§5.6.1.2)
    specs = [spec.strip() for spec in range_set.split(",") if spec.strip()]
    if len(specs) > 1:
        return None
    match = _SPEC.fullmatch(specs[0]) if specs else None
    if match is None or match.groups() == ("", ""):
        raise RangeNotSatisfiable("the Range header is not one byte range")
    first, last = (_position(text) for text in match.groups())
    if first is None:  # the suffix "-N": the last N bytes
        if not last or not size:
            raise RangeNotSatisfiable("the range selects no bytes of the recording")
        return ByteRange(max(0, size - last), size - 1, size)
    if last is not None and last < first:
        raise RangeNotSatisfiable("the range ends before it starts")
    if first >= size:
        raise RangeNotSatisfiable("the range starts past the end of the recording")
    return ByteRange(first, size - 1 if last is None else min(last, size - 1), size)


def _position(digits: str) -> int | None:
    if not digits:
        return None
    return _FAR if len(digits) > _MAX_DIGITS else int(digits)
