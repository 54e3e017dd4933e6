"""What related-ticket search compares, made from a ticket's text: its index terms, its place, its similarity.

- `index_terms`: the distinct character bigrams of what the caller asked (the operator's additions stripped by
  `extract.request_text.strip_routing_instruction`). Chinese has no spaces to cut words at; bigrams need no word
  list, survive a sound-alike character in a transcript (one wrong character spoils two bigrams, not the text) and
  are what both databases' full-text indexes can hold as plain tokens.
- `TicketPlace.of`: the district (the deployment city's districts, as the lexicon lists them) and the road or
  named place, normalised so two tickets about 龙昆南路 compare equal. Rules on the text, not a parser: an import of
  a year of tickets (1.6 million) cannot afford jionlp's 29 ms per text.
- `similarity`: cosine of the two term sets weighted by inverse document frequency, so 小区 or 反映 count for
  little and 抽水机 for much (recall@1 on the Haikou follow-ups: docs/BENCHMARKS.md).
"""

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from extract.request_text import strip_routing_instruction

__all__ = ["MAX_INDEX_TERMS", "TermWeights", "TicketPlace", "index_terms", "similarity"]

MAX_INDEX_TERMS = 400
"""A ticket text of ~200 characters has ~150 distinct bigrams; the bound keeps a pasted history from bloating
the index (the first terms are kept: the request comes first)."""

_RUN = re.compile(r"[0-9a-z\u4e00-\u9fff]+")
_LONG_NUMBER = re.compile(r"\d{7,}")  # ticket, phone and case numbers identify, they do not describe


def _request(text: str) -> str:
    return strip_routing_instruction(text or "")


def index_terms(text: str) -> list[str]:
    """The distinct bigrams of the request, in order of first appearance, at most MAX_INDEX_TERMS."""
    cleaned = _LONG_NUMBER.sub(" ", _request(text).lower())
    seen: dict[str, None] = {}
    for run in _RUN.findall(cleaned):
        for start in range(len(run) - 1):
            seen.setdefault(run[start : start + 2], None)
            if len(seen) >= MAX_INDEX_TERMS:
                return list(seen)
    return list(seen)


def similarity(query: Iterable[str], other: Iterable[str], doc_freq: Mapping[str, int], total: int) -> float:
    """IDF-weighted cosine of two term sets in [0, 1]; `doc_freq[term]` is how many of `total` tickets hold it
    (a term no ticket holds yet weighs as the rarest)."""
    return TermWeights(doc_freq, total).cosine(set(query), set(other))


class TermWeights:
    """The squared IDF weight of each term, computed once for the many comparisons of one search."""

    def __init__(self, doc_freq: Mapping[str, int], total: int):
        self._doc_freq = doc_freq
        self._total = max(total, 1)
        self._squared: dict[str, float] = {}

    def squared(self, term: str) -> float:
        weight = self._squared.get(term)
        if weight is None:
            weight = math.log(1 + self._total / max(self._doc_freq.get(term, 0), 1)) ** 2
            self._squared[term] = weight
        return weight

    def norm(self, terms: set[str]) -> float:
        return math.sqrt(sum(map(self.squared, terms)))

    def cosine(self, a: set[str], b: set[str], norm_a: float | None = None) -> float:
        if not a or not b:
            return 0.0
        shared = sum(map(self.squared, a & b))
        if not shared:
            return 0.0
        return min(1.0, shared / ((norm_a or self.norm(a)) * self.norm(b)))


# A road (路/大道/街/巷) first, else a named place (小区, 花园, 村 …): at least two characters of name before it.
_ROAD = re.compile(r"[\u4e00-\u9fff]{2,6}?(?:大道|路|街|巷)(?![\u4e00-\u9fff]?(?:口|边|上|段|灯|况|线|费|人))")
_NAMED_PLACE = re.compile(r"[\u4e00-\u9fff]{2,6}?(?:小区|花园|新村|市场|广场|公园|医院|学校|中学|小学|大厦|村)")
# Words a place name never starts with: cut the candidate after the last of them (去岭下村 → 岭下村).
_NOT_IN_NAME = re.compile(
    r".*(?:[在于到去从往至及和与的是其位处向沿对经由把被给让了个那这我]|乘坐|附近|旁边|对面|市民|反映)"
)


@dataclass(frozen=True)
class TicketPlace:
    """Where a ticket is about: the district ("龙华区") and the road or named place ("龙昆南路"), "" when unknown."""

    district: str
    place: str

    @classmethod
    def of(cls, text: str, province: str, city: str) -> "TicketPlace":
        """The place a ticket's text names, in the deployment's city (its divisions and main roads from the
        hotline lexicon's sources: jionlp's division data and extract/data/places.yaml)."""
        request = _request(text)
        divisions, district_names, known = _city_names(province, city)
        district = next((match.group() for match in district_names.finditer(request)), "") if district_names else ""
        if known is not None and (match := known.search(request)):
            return cls(district, match.group())
        rest = divisions.sub("|", request) if divisions is not None else request
        for pattern in (_ROAD, _NAMED_PLACE):
            for match in pattern.finditer(rest):
                name = _NOT_IN_NAME.sub("", match.group())
                if len(name) >= 3:
                    return cls(district, name)
        return cls(district, "")


@functools.lru_cache(maxsize=8)
def _city_names(province: str, city: str) -> tuple[re.Pattern | None, re.Pattern | None, re.Pattern | None]:
    from extract.lexicon import division_entries, known_place_entries

    divisions = [entry for entry in division_entries(province, city) if entry.kind != "surname"]
    districts = sorted({entry.term for entry in divisions if entry.kind == "district"}, key=len, reverse=True)
    names = {entry.term for entry in divisions} | {province, city}
    # callers and operators drop the suffix (海口坡博村, 琼山凤翔西路): the short forms are divisions too
    short = {name[:-1] for name in names if name[-1] in "省市区县镇" and len(name) >= 3}
    admin = sorted(names | short, key=len, reverse=True)
    places = sorted({entry.term for entry in known_place_entries(province, city)}, key=len, reverse=True)

    def alternation(names: list[str]) -> re.Pattern | None:
        return re.compile("|".join(map(re.escape, names))) if names else None

    return alternation(admin), alternation(districts), alternation(places)
