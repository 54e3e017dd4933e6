"""The duty catalogue (三张清单): handling units, the matters each is dispatched, and what is out of scope.

The catalogue is a YAML file an administrator maintains (the bundled default is
`extract/data/catalogue.yaml`). It answers two questions for the ticket:

- `Catalogue.canonical(name)`: one name per unit. Tickets, operators and old data name the same unit
  many ways ("工商局", "海口市工商行政管理局", "市场监管局"; units were merged and renamed in the
  2018-2019 reform), so every known spelling maps to one canonical name.
- `Catalogue.match(text)`: which units' matters the caller's words mention, by keyword, with the
  character spans of the words that matched (the ticket turns them into evidence). Keywords are
  matched longest first, so "水管爆了" counts once for the water company and not also as "爆了".
  Where the recogniser wrote a keyword as sound-alike characters (名马标价 for 明码标价, 占到经营 for
  占道经营), the keyword is found by sound (`extract.phonetic`) in what is left after the character
  matches, and counts less (`SoundOptions`). This is the explainable half of routing; the trained
  classifier in `extract.routing` is the other.
- `Catalogue.search(query)`: which units handle what an operator types ("电梯年检", "住建"): a unit's
  name or alias, a duty keyword in the query, sound-alike keywords, and the query's character pairs
  found in a matter's words, each unit with the duty that matched (the operator page's 其他单位 box).

A unit may also declare the areas it covers (`zones`: the key-area split of duties, 重点区域职责划分): a zone's
committee (高新区、经济开发区管委会) or a redevelopment area's headquarters handles the matters inside it that a city
unit handles elsewhere, so there the address decides. A zone lists its places (roads, communities, parks, villages,
its own name) and the matter categories the unit handles there. `extract.routing.zones` finds them in a ticket.
"""

import functools
import logging
import math
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import ahocorasick
from pydantic import AfterValidator, field_validator, model_validator

from extract.phonetic import HALF_COST, align, char_readings, is_hanzi, pair_keys, reading_distance, text_readings
from extract.resource_files import (
    DATA_DIR,
    NONE_AS_EMPTY,
    ConfigModel,
    OptionalTexts,
    Text,
    Texts,
    load_config_file,
)

logger = logging.getLogger(__name__)

__all__ = [
    "Catalogue",
    "CatalogueMatch",
    "Department",
    "DutyMatch",
    "HeardKeyword",
    "Matter",
    "OutOfScope",
    "OutOfScopeMatch",
    "SoundOptions",
    "Zone",
    "load_catalogue",
]

DEFAULT_CATALOGUE = DATA_DIR / "catalogue.yaml"

# A keyword of this many characters or more counts fully; a two-character one ("违停", "没水") counts
# half: short words are more often part of something else the caller said.
FULL_WEIGHT_CHARS = 4
# Each further occurrence of a keyword adds this share of its weight, up to MAX_REPEATS occurrences:
# a caller who says "没水" three times is surer, not three times more about water.
REPEAT_BONUS = 0.25
MAX_REPEATS = 3


@dataclass(frozen=True)
class SoundOptions:
    """When a keyword counts as heard by sound, and how much (similarity = 1 - alignment cost per syllable,
    `extract.phonetic`).

    weight: a keyword heard by sound counts this share of its character weight, times its similarity: what
        the recogniser wrote is weaker evidence than the keyword itself.
    min_chars: shorter keywords are not looked for by sound. Two syllables sound like too many things: in
        the 4,788 written Haikou tickets, two-character keywords sounding exactly alike turn up 2,435 times
        (工伤 ← 工商, 登机 ← 登记, 拒载 ← 局在).
    min_similarity: what a keyword needs; 1.0 = the same toneless syllables (明码标价 ← 名马标价). Every
        syllable must also keep its initial or its final, and the heard words are as many characters as the
        keyword. Close sounds (z/zh, in/ing) at 0.9 found nothing more on the shared calls' ASR output and
        hit 138 times in the written tickets (禁渔期 ← 金宇西); see docs/BENCHMARKS.md.
    """

    weight: float = 0.5
    min_chars: int = 3
    min_similarity: float = 1.0


# Search by duty (`Catalogue.search`). A query that is part of a unit's name or alias ("住建" of 住建局)
# scores NAME_PART_SCORE, plus up to the rest of the way to 1.0 as it covers more of the name; a whole name
# scores 1.0. A matter sharing only some of the query's character pairs scores PAIRS_WEIGHT times the share
# it covers (pairs weighted by how few units' duties use them): less than its keywords said whole would.
NAME_PART_SCORE = 0.5
PAIRS_WEIGHT = 0.6


@dataclass(frozen=True)
class Matter:
    """A matter (事项) a unit is dispatched: its coarse category and the words callers use for it."""

    name: str
    category: str
    keywords: tuple[str, ...]
    department: str


@dataclass(frozen=True)
class Zone:
    """An area a unit covers: inside it the unit handles the matters of `categories` (empty: every matter), whoever
    handles them elsewhere. `places` are the names that put an address inside it (its roads, communities, parks,
    villages and its own name), as the catalogue lists them."""

    name: str
    department: str
    places: tuple[str, ...]
    categories: tuple[str, ...] = ()


@dataclass(frozen=True)
class Department:
    """A handling unit (处置单位): canonical name, other names it goes by, its matters, and the zones it covers."""

    name: str
    aliases: tuple[str, ...]
    matters: tuple[Matter, ...]
    zones: tuple[Zone, ...] = ()


@dataclass(frozen=True)
class OutOfScope:
    """A matter the hotline does not dispatch (民事纠纷, 正在发生的警情 …) and what to tell the caller."""

    name: str
    keywords: tuple[str, ...]
    advice: str


@dataclass(frozen=True)
class HeardKeyword:
    """A keyword found by sound: `heard` (text[span]) is what the recogniser wrote where it was said."""

    keyword: str
    heard: str
    span: tuple[int, int]
    similarity: float


@dataclass(frozen=True)
class CatalogueMatch:
    """A unit whose matter the text mentions. `keywords` are the matter's keywords found, by characters or
    by sound, in text order; `heard` those found by sound; `spans` are [start, end) character offsets of
    the words that matched in the text given to `match`, in text order; `score` is in [0, 1]."""

    department: str
    matter: str
    category: str
    keywords: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    score: float
    heard: tuple[HeardKeyword, ...] = ()


@dataclass(frozen=True)
class DutyMatch:
    """A unit found by `Catalogue.search`: `score` in [0, 1]; `duty` the matter whose words matched (None when
    the unit's name did); `words` the catalogue's words that matched (the name or alias, or the matter's
    keywords); `matched_by` "name", "keyword" (a keyword in the query), "sound" (a keyword heard as
    sound-alike characters) or "words" (character pairs the query shares with the matter's words)."""

    department: str
    score: float
    duty: str | None
    words: tuple[str, ...]
    matched_by: str


@dataclass(frozen=True)
class OutOfScopeMatch:
    """An out-of-scope matter the text mentions, with the advice for the caller."""

    name: str
    advice: str
    keywords: tuple[str, ...]
    spans: tuple[tuple[int, int], ...]
    score: float


class Catalogue:
    """Departments, their matters and the out-of-scope list, indexed for name lookup and keyword matching.
    `sound`: how matter keywords are also found by sound (None: by characters only).

    Raises ValueError when two departments claim the same name or alias.
    """

    def __init__(
        self,
        departments: list[Department] | tuple[Department, ...],
        out_of_scope: list[OutOfScope] | tuple[OutOfScope, ...] = (),
        categories: list[str] | tuple[str, ...] | None = None,
        sound: SoundOptions | None = SoundOptions(),
    ):
        self.departments = tuple(departments)
        self.out_of_scope = tuple(out_of_scope)
        seen_categories = [matter.category for dept in self.departments for matter in dept.matters]
        self._categories = tuple(categories) if categories is not None else tuple(dict.fromkeys(seen_categories))
        self._names = self._index_names()
        self._stems = self._index_stems()
        self._name_spelling = {
            _fold_name(spelling): spelling for dept in self.departments for spelling in (dept.name, *dept.aliases)
        }
        self._matter_pairs, self._pair_units = self._index_pairs()
        self._keywords, self._weights = self._index_keywords()
        self._spelling: dict[str, str] = {}
        for keywords in self._all_keyword_lists():
            for word in keywords:
                self._spelling.setdefault(_fold(word), word)
        # one Aho-Corasick pass finds every keyword occurrence (ten times faster than a regex alternation of
        # the 1,700 keywords, bench/keywords.py)
        self._automaton = _automaton(self._keywords) if self._keywords else None
        self.sound = sound
        matter_words = [
            word for word, owners in self._keywords.items() if any(owner[0] == "matter" for owner in owners)
        ]
        self._sound_index = _SoundIndex(matter_words, sound.min_chars) if sound is not None else None

    @property
    def categories(self) -> tuple[str, ...]:
        """The matter categories, in catalogue order."""
        return self._categories

    @property
    def zones(self) -> tuple[Zone, ...]:
        """Every unit's zones, in catalogue order."""
        return tuple(zone for dept in self.departments for zone in dept.zones)

    def category_keywords(self) -> dict[str, tuple[str, ...]]:
        """Each matter category's keywords (the words callers use for its matters), in catalogue order."""
        words: dict[str, dict[str, None]] = {category: {} for category in self._categories}
        for dept in self.departments:
            for matter in dept.matters:
                words.setdefault(matter.category, {}).update(dict.fromkeys(matter.keywords))
        return {category: tuple(keywords) for category, keywords in words.items()}

    def department(self, name: str) -> Department | None:
        """The department a name (canonical, alias, or prefixed form) refers to, or None."""
        canonical = self.canonical(name)
        for dept in self.departments:
            if dept.name == canonical:
                return dept
        return None

    def canonical(self, name: str) -> str:
        """The canonical unit name for `name`.

        Tolerates city/district/town prefixes ("海口市", "美兰区", "市"), branch suffixes
        ("中国移动海南分公司") and company suffixes ("…有限公司"). An unknown name comes back with
        its place prefix stripped, otherwise unchanged.
        """
        cleaned = _fold_name(name)
        if not cleaned:
            return cleaned
        found = self._lookup(cleaned)
        if found is not None:
            return found
        stripped = _strip_place_prefix(cleaned)
        return self._names.get(stripped) or self._stems.get(stripped) or stripped

    def match(self, text: str, k: int = 5) -> list[CatalogueMatch]:
        """Departments whose matters the text mentions, best first, at most `k`, one per department.

        Each department is represented by its best-scoring matter. A matter's score grows with the
        number of distinct keywords hit, their length, and how few departments share them
        (1 - exp(-total weight), so one specific four-character keyword scores 0.63, two 0.86). Keywords
        heard by sound count where no character match lies, at `SoundOptions.weight` times their similarity.
        """
        hits = self._hits(text)
        heard = self._heard(text, hits)
        sound_weight = self.sound.weight if self.sound is not None else 0.0
        by_matter: dict[tuple[int, int], dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
        for word, span in hits:
            for owner in self._keywords[word]:
                if owner[0] == "matter":
                    by_matter[(owner[1], owner[2])][word].append(span)
        heard_by_matter: dict[tuple[int, int], dict[str, list[HeardKeyword]]] = defaultdict(lambda: defaultdict(list))
        for word, hit in heard:
            for owner in self._keywords[word]:
                if owner[0] == "matter" and word not in by_matter.get((owner[1], owner[2]), ()):
                    heard_by_matter[(owner[1], owner[2])][word].append(hit)
        best: dict[int, tuple[float, int]] = {}
        for key in by_matter.keys() | heard_by_matter.keys():
            dept_index, matter_index = key
            raw = sum(self._weights[word] * _repeat_factor(len(spans)) for word, spans in by_matter[key].items())
            raw += sum(
                self._weights[word] * sound_weight * max(hit.similarity for hit in found) * _repeat_factor(len(found))
                for word, found in heard_by_matter[key].items()
            )
            current = best.get(dept_index)
            # ties go to the matter listed first: the catalogue lists the common matter first
            if current is None or (raw, -matter_index) > (current[0], -current[1]):
                best[dept_index] = (raw, matter_index)
        matches = []
        for dept_index, (raw, matter_index) in best.items():
            matter = self.departments[dept_index].matters[matter_index]
            words = by_matter[(dept_index, matter_index)]
            found = heard_by_matter[(dept_index, matter_index)]
            spans = {word: list(spans) for word, spans in words.items()}
            for word, hits_of_word in found.items():
                spans[word] = [hit.span for hit in hits_of_word]
            matches.append(
                (
                    -raw,
                    dept_index,
                    CatalogueMatch(
                        department=self.departments[dept_index].name,
                        matter=matter.name,
                        category=matter.category,
                        keywords=tuple(self._spelling[word] for word in _in_text_order(spans)),
                        spans=tuple(sorted(span for word_spans in spans.values() for span in word_spans)),
                        score=_score(raw),
                        heard=tuple(
                            sorted(
                                (hit for hits_of_word in found.values() for hit in hits_of_word),
                                key=lambda hit: hit.span,
                            )
                        ),
                    ),
                )
            )
        matches.sort(key=lambda item: (item[0], item[1]))
        return [match for _, _, match in matches[:k]]

    def search(self, query: str, k: int = 8) -> list[DutyMatch]:
        """Units whose name or duties match `query`, best first, at most `k`, one per unit with what matched.

        A unit counts by the best of: its name or an alias (the whole name 1.0, a part of one from
        NAME_PART_SCORE), its matters' keywords found in the query by characters or by sound (`match`'s
        score), and the query's character pairs found in a matter's name and keywords (`PAIRS_WEIGHT` times
        the weighted share covered: "电梯年检" finds 电梯 and 年检, "年检" finds 电梯年检). Ties keep
        catalogue order.
        """
        folded = _fold_name(query)
        if not folded:
            return []
        best: dict[str, DutyMatch] = {}

        def offer(found: DutyMatch) -> None:
            current = best.get(found.department)
            if current is None or found.score > current.score:
                best[found.department] = found

        for found in self._search_names(folded):
            offer(found)
        for match in self.match(folded, k=len(self.departments)):
            by_sound = {hit.keyword for hit in match.heard}
            matched_by = "sound" if by_sound and by_sound >= set(match.keywords) else "keyword"
            offer(DutyMatch(match.department, match.score, match.matter, match.keywords, matched_by))
        for found in self._search_pairs(folded):
            offer(found)
        order = {dept.name: index for index, dept in enumerate(self.departments)}
        ranked = sorted(best.values(), key=lambda found: (-found.score, order[found.department]))
        return ranked[:k]

    def match_out_of_scope(self, text: str) -> list[OutOfScopeMatch]:
        """Out-of-scope matters the text mentions, best first.

        Keywords compete with the catalogue's for the longest match, so "离婚登记" (民政局) does not
        also count as the civil dispute "离婚".
        """
        per_entry: dict[int, dict[str, list[tuple[int, int]]]] = defaultdict(lambda: defaultdict(list))
        for word, span in self._hits(text):
            for owner in self._keywords[word]:
                if owner[0] == "out_of_scope":
                    per_entry[owner[1]][word].append(span)
        results = []
        for index, words in per_entry.items():
            entry = self.out_of_scope[index]
            raw = sum(_length_weight(word) * _repeat_factor(len(spans)) for word, spans in words.items())
            results.append(
                (
                    -raw,
                    index,
                    OutOfScopeMatch(
                        name=entry.name,
                        advice=entry.advice,
                        keywords=tuple(self._spelling[word] for word in _in_text_order(words)),
                        spans=tuple(sorted(span for spans in words.values() for span in spans)),
                        score=_score(raw),
                    ),
                )
            )
        results.sort(key=lambda item: (item[0], item[1]))
        return [result for _, _, result in results]

    def _search_names(self, folded: str) -> list[DutyMatch]:
        whole = self._lookup(folded) or self._lookup(_strip_place_prefix(folded))
        found = [DutyMatch(whole, 1.0, None, (self._name_spelling.get(folded, whole),), "name")] if whole else []
        # a part of a name: two characters or more anywhere ("住建" in 住建局), one only at its start ("水" of 水务局)
        for key, dept in self._names.items():
            if key != folded and folded in key and (len(folded) >= 2 or key.startswith(folded)):
                score = NAME_PART_SCORE + (1.0 - NAME_PART_SCORE) * len(folded) / len(key)
                found.append(DutyMatch(dept, round(score, 4), None, (self._name_spelling[key],), "name"))
        return found

    def _search_pairs(self, folded: str) -> list[DutyMatch]:
        pairs = set(_char_pairs(folded))
        if not pairs:
            return []
        total = sum(self._pair_weight(pair) for pair in pairs)
        found = []
        for (dept_index, matter_index), words in self._matter_pairs.items():
            shared = pairs & words
            if not shared:
                continue
            covered = sum(self._pair_weight(pair) for pair in shared)
            matter = self.departments[dept_index].matters[matter_index]
            spellings = (matter.name, *matter.keywords)
            matched = tuple(dict.fromkeys(word for word in spellings if shared & set(_char_pairs(_fold(word)))))
            score = round(PAIRS_WEIGHT * covered / total, 4)
            found.append(DutyMatch(self.departments[dept_index].name, score, matter.name, matched[:4], "words"))
        return found

    def _pair_weight(self, pair: str) -> float:
        """How much a character pair says about the unit: log(1 + units / units whose duties use it); a pair no
        duty uses counts as one only a single unit used, so words nobody handles lower every unit's share."""
        return math.log1p(len(self.departments) / self._pair_units.get(pair, 1))

    # --- indexes -------------------------------------------------------------------------------------

    def _index_pairs(self) -> tuple[dict[tuple[int, int], set[str]], dict[str, int]]:
        """Each matter's character pairs (its name and keywords), and in how many units' matters each pair is."""
        by_matter: dict[tuple[int, int], set[str]] = {}
        units: dict[str, set[int]] = defaultdict(set)
        for dept_index, dept in enumerate(self.departments):
            for matter_index, matter in enumerate(dept.matters):
                pairs = {pair for word in (matter.name, *matter.keywords) for pair in _char_pairs(_fold(word))}
                by_matter[(dept_index, matter_index)] = pairs
                for pair in pairs:
                    units[pair].add(dept_index)
        return by_matter, {pair: len(indices) for pair, indices in units.items()}

    def _index_names(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for dept in self.departments:
            for spelling in (dept.name, *dept.aliases):
                key = _fold_name(spelling)
                if not key:
                    raise ValueError(f"department {dept.name}: empty alias")
                other = names.get(key)
                if other is not None and other != dept.name:
                    raise ValueError(f"alias {spelling!r} names two departments: {other} and {dept.name}")
                names[key] = dept.name
        return names

    def _index_stems(self) -> dict[str, str]:
        """Names without their company suffix ("公共交通集团有限公司" → "公共交通集团"), where unambiguous."""
        stems: dict[str, set[str]] = defaultdict(set)
        for key, dept in self._names.items():
            stem = _company_stem(key)
            if stem != key and len(stem) >= 2 and stem not in self._names:
                stems[stem].add(dept)
        return {stem: next(iter(depts)) for stem, depts in stems.items() if len(depts) == 1}

    def _all_keyword_lists(self) -> list[tuple[str, ...]]:
        lists = [matter.keywords for dept in self.departments for matter in dept.matters]
        return lists + [entry.keywords for entry in self.out_of_scope]

    def _index_keywords(self) -> tuple[dict[str, list[tuple]], dict[str, float]]:
        owners: dict[str, list[tuple]] = defaultdict(list)
        departments_per_word: dict[str, set[int]] = defaultdict(set)
        for dept_index, dept in enumerate(self.departments):
            for matter_index, matter in enumerate(dept.matters):
                for word in dict.fromkeys(_fold(keyword) for keyword in matter.keywords):
                    owners[word].append(("matter", dept_index, matter_index))
                    departments_per_word[word].add(dept_index)
        for index, entry in enumerate(self.out_of_scope):
            for word in dict.fromkeys(_fold(keyword) for keyword in entry.keywords):
                owners[word].append(("out_of_scope", index))
        # a word several departments share says little about which one the caller needs
        weights = {word: _length_weight(word) / max(1, len(departments_per_word.get(word, ()))) for word in owners}
        return dict(owners), weights

    # --- lookups -------------------------------------------------------------------------------------

    def _lookup(self, name: str) -> str | None:
        candidates = [name, _company_stem(name)]
        for candidate in candidates:
            found = self._names.get(candidate) or self._stems.get(candidate)
            if found is not None:
                return found
        found = self._branch_parent(name)
        if found is not None:
            return found
        # the longest known name the input ends with: "龙华区城管局" → "城管局", "海南长城宽带网络服务有限公司"
        for candidate in candidates:
            for start in range(1, len(candidate) - 1):
                tail = candidate[start:]
                found = self._names.get(tail) or self._stems.get(tail)
                if found is not None:
                    return found
        return None

    def _branch_parent(self, name: str) -> str | None:
        """ "中国移动海南分公司" → 中国移动: a known name, then a place of up to 6 characters, then a branch word."""
        branch = next((word for word in _BRANCH_WORDS if name.endswith(word)), None)
        if branch is None:
            return None
        body = name[: -len(branch)]
        for end in range(len(body), max(1, len(body) - 7), -1):
            head = body[:end]
            found = self._names.get(head) or self._stems.get(head) or self._stems.get(_company_stem(head))
            if found is not None:
                return found
        return None

    def _hits(self, text: str) -> list[tuple[str, tuple[int, int]]]:
        """Accepted keyword occurrences: longest first, none overlapping an accepted longer one."""
        if not text or self._automaton is None:
            return []
        folded = _fold(text)
        # at every position the longest keyword starting there: shorter ones starting at the same position are
        # contained in it and would lose anyway
        longest: dict[int, str] = {}
        for end, word in self._automaton.iter(folded):
            start = end - len(word) + 1
            if len(word) > len(longest.get(start, "")):
                longest[start] = word
        candidates = [(start, start + len(word), word) for start, word in longest.items()]
        candidates.sort(key=lambda item: (-(item[1] - item[0]), item[0]))
        taken = [False] * len(folded)
        accepted = []
        for start, end, word in candidates:
            if any(taken[start:end]):
                continue
            taken[start:end] = [True] * (end - start)
            accepted.append((word, (start, end)))
        accepted.sort(key=lambda item: item[1])
        return accepted

    def _heard(self, text: str, hits: list[tuple[str, tuple[int, int]]]) -> list[tuple[str, HeardKeyword]]:
        """Matter keywords heard as sound-alike characters where no character match lies: longest and
        closest first, none overlapping another or a character match, in text order."""
        if self.sound is None or self._sound_index is None:
            return []
        folded = _fold(text)
        taken = [False] * len(folded)
        for _, (start, end) in hits:
            taken[start:end] = [True] * (end - start)
        found = [
            (word, HeardKeyword(self._spelling[word], text[start:end], (start, end), similarity))
            for word, start, end, similarity in self._sound_index.find(folded, self.sound, taken)
            if folded[start:end] not in self._keywords
        ]
        found.sort(key=lambda item: (-len(item[0]), -item[1].similarity, item[1].span))
        accepted = []
        for word, hit in found:
            start, end = hit.span
            if not any(taken[start:end]):
                taken[start:end] = [True] * (end - start)
                accepted.append((word, hit))
        return sorted(accepted, key=lambda item: item[1].span)


class _SoundIndex:
    """Keywords by the folded sound of their character pairs (`phonetic.sound_key`): the text's pairs vote
    for (keyword, start) candidates, which are then aligned by sound (`phonetic.align`)."""

    def __init__(self, words: list[str], min_chars: int):
        self.words = [word for word in words if len(word) >= max(2, min_chars) and all(map(is_hanzi, word))]
        self.readings = [text_readings(word) for word in self.words]
        self.lengths = {len(word) for word in self.words}
        self._pairs: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        for number, word in enumerate(self.words):
            for offset in range(len(word) - 1):
                for key in pair_keys(word[offset], word[offset + 1]):
                    self._pairs[key].append((number, offset))

    def find(self, text: str, options: SoundOptions, taken: list[bool]) -> list[tuple[str, int, int, float]]:
        """(keyword, start, end, similarity): keywords heard in the text as many characters long, every
        syllable keeping its initial or its final, at `options.min_similarity` or closer, nowhere `taken`."""
        votes: dict[tuple[int, int], set[int]] = defaultdict(set)
        for position in range(len(text) - 1):
            for key in pair_keys(text[position], text[position + 1]):
                for number, offset in self._pairs.get(key, ()):
                    votes[(number, position - offset)].add(offset)
        # close sounds share a folded key; a syllable heard otherwise costs HALF_COST or more and breaks at
        # most the two pairs it is in
        needed = {
            length: max(1, length - 1 - 2 * int(length * (1 - options.min_similarity) / HALF_COST + 1e-9))
            for length in self.lengths
        }
        readings: tuple[tuple[str, ...], ...] = ()
        found = {}
        for (number, start), offsets in votes.items():
            word = self.words[number]
            length = len(word)
            if (
                len(offsets) < needed[length]
                or start < 0
                or start + length > len(text)
                or any(taken[start : start + length])
                or text[start : start + length] == word
            ):
                continue
            # any reading of each character (cheap, cached) bounds the cost before the text is read in context
            bound = sum(map(reading_distance, map(char_readings, text[start : start + length]), self.readings[number]))
            if 1 - bound / length < options.min_similarity:
                continue
            readings = readings or text_readings(text)
            window = max(0, start - 1)
            alignment = align(self.readings[number], readings[window : start + length + 1])
            if alignment is None or alignment.end - alignment.start != length:
                continue
            begin = window + alignment.start
            if any(taken[begin : begin + length]):
                continue
            similarity = round(alignment.similarity(length), 3)
            if (
                similarity < options.min_similarity
                or not all(map(is_hanzi, text[begin : begin + length]))
                or max(map(reading_distance, readings[begin : begin + length], self.readings[number])) > HALF_COST
            ):
                continue
            found[(word, begin)] = (word, begin, begin + length, similarity)
        return list(found.values())


@functools.lru_cache(maxsize=1)
def _default_catalogue() -> Catalogue:
    return _read_catalogue(DEFAULT_CATALOGUE)


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load a catalogue YAML file; None loads the bundled default (cached, loaded once per process).

    Raises ValueError with a one-line message naming the file and the problem when the file is not
    valid YAML, misses a key, uses an unknown category, or gives one alias to two departments.
    """
    if path is None:
        return _default_catalogue()
    return _read_catalogue(Path(path))


def _read_catalogue(path: Path) -> Catalogue:
    data = load_config_file(path, CatalogueFile, "'categories' and 'departments'")
    categories = list(data.categories)
    departments = [
        Department(
            item.name,
            item.aliases,
            tuple(Matter(matter.name, matter.category, matter.keywords, item.name) for matter in item.matters),
            tuple(Zone(zone.name, item.name, zone.places, zone.categories) for zone in item.zones),
        )
        for item in data.departments
    ]
    out_of_scope = [OutOfScope(item.name, item.keywords, item.advice) for item in data.out_of_scope]
    try:
        catalogue = Catalogue(departments, out_of_scope, categories)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    logger.debug(
        "loaded catalogue %s: %d departments, %d out-of-scope entries", path, len(departments), len(out_of_scope)
    )
    return catalogue


# --- the file's shape (catalogue.yaml) -----------------------------------------------------------------


def _two_characters_at_least(what: str):
    """A validator of a non-empty list of names of 2+ characters: a one-character keyword ("水", "湖") matches
    inside unrelated words, a one-character place ("洋", "岭") is inside too many other names."""

    def check(names: tuple[str, ...]) -> tuple[str, ...]:
        if not names:
            raise ValueError(f"no {what}s")
        short = [name for name in names if len(_fold(name)) < 2]
        if short:
            raise ValueError(f"{what} {short[0]!r} is shorter than 2 characters")
        return names

    return AfterValidator(check)


Keywords = Annotated[Texts, _two_characters_at_least("keyword")]


class MatterEntry(ConfigModel):
    """A matter of a department: `name`, `category` (one of the file's categories), `keywords` (2+ characters)."""

    name: Text
    category: Text
    keywords: Keywords


class ZoneEntry(ConfigModel):
    """An area the department covers: `name`, its `places` (2+ characters), and the matter `categories` it handles
    there (from the file's categories; left out: every matter)."""

    name: Text
    places: Annotated[Texts, _two_characters_at_least("place")]
    categories: OptionalTexts = ()


class DepartmentEntry(ConfigModel):
    """A department: `name`, other names it goes by (`aliases`), its `matters`, the `zones` it covers (optional)."""

    name: Text
    aliases: OptionalTexts = ()
    matters: Annotated[tuple[MatterEntry, ...], NONE_AS_EMPTY]
    zones: Annotated[tuple[ZoneEntry, ...], NONE_AS_EMPTY] = ()

    @field_validator("matters")
    @classmethod
    def _matter_names_once(cls, matters: tuple[MatterEntry, ...]) -> tuple[MatterEntry, ...]:
        names = [matter.name for matter in matters]
        if len(set(names)) != len(names):
            raise ValueError("duplicate matter name")
        return matters


class OutOfScopeEntry(ConfigModel):
    """A matter the hotline does not dispatch: `name`, `keywords`, the `advice` for the caller."""

    name: Text
    keywords: Keywords
    advice: Text


class CatalogueFile(ConfigModel):
    """catalogue.yaml: `categories`, `departments` (at least one, each name once), `out_of_scope` (optional)."""

    categories: Texts
    departments: tuple[DepartmentEntry, ...]
    out_of_scope: Annotated[tuple[OutOfScopeEntry, ...], NONE_AS_EMPTY] = ()

    @model_validator(mode="after")
    def _consistent(self) -> "CatalogueFile":
        if not self.departments:
            raise ValueError("no departments")
        names = [dept.name for dept in self.departments]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate department {duplicates[0]!r}")
        for index, dept in enumerate(self.departments):
            for matter_index, matter in enumerate(dept.matters):
                if matter.category not in self.categories:
                    raise ValueError(
                        f"departments[{index}] ({dept.name}).matters[{matter_index}] ({matter.name}): "
                        f"unknown category {matter.category!r}"
                    )
        self._check_zones()
        return self

    def _check_zones(self) -> None:
        # the address decides only where it names one zone: a place in two zones, or two zones of one name, would
        # send the same address to two units
        zone_of_name: dict[str, str] = {}
        zone_of_place: dict[str, str] = {}
        for index, dept in enumerate(self.departments):
            for zone_index, zone in enumerate(dept.zones):
                where = f"departments[{index}] ({dept.name}).zones[{zone_index}] ({zone.name})"
                unknown = [category for category in zone.categories if category not in self.categories]
                if unknown:
                    raise ValueError(f"{where}: unknown category {unknown[0]!r}")
                if zone.name in zone_of_name:
                    raise ValueError(f"{where}: zone {zone.name!r} is listed twice")
                zone_of_name[zone.name] = dept.name
                for place in zone.places:
                    key = _fold_name(place)
                    other = zone_of_place.get(key)
                    if other is not None and other != zone.name:
                        raise ValueError(f"{where}: place {place!r} is also in zone {other!r}")
                    zone_of_place[key] = zone.name


def _automaton(words) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for word in words:
        automaton.add_word(word, word)
    automaton.make_automaton()
    return automaton


# --- text helpers ------------------------------------------------------------------------------------


def _fold(text: str) -> str:
    """Full-width to half-width and lower case, one character for one, so offsets stay those of `text`."""
    out = []
    for char in text:
        folded = unicodedata.normalize("NFKC", char).lower()
        out.append(folded if len(folded) == 1 else char)
    return "".join(out)


def _fold_name(name: str) -> str:
    return re.sub(r"\s+", "", _fold(name or ""))


_COMPANY_SUFFIX = re.compile(r"(?:股份有限公司|有限责任公司|有限公司|股份公司|集团公司|总公司|公司)$")
_BRANCH_WORDS = ("分公司", "分局", "营业部", "营业厅")
# "海口市", "美兰区", "琼山区", "海南省": a place name before the unit's own name
_PLACE = re.compile(r"^[\u4e00-\u9fff]{2,6}?(?:省|自治区|自治州|市|地区|区|县|旗)")
# a lone "市"/"区"/"县" prefix ("市公安局"), unless it starts a word ("市场", "市政", "区域", "县城")
_LONE_PLACE = re.compile(r"^(?:市(?![场政民容委辖直属区])|区(?![域间])|县(?![城域]))")
# prefixes that end like a place but are part of the unit's name
_NOT_PLACE = ("开发区", "保税区", "园区", "景区", "社区", "小区", "新区", "城区", "郊区", "片区", "试验区")


def _strip_place_prefix(name: str) -> str:
    while True:
        match = _PLACE.match(name) or _LONE_PLACE.match(name)
        if match is None or len(name) - match.end() < 2 or match.group(0).endswith(_NOT_PLACE):
            return name
        name = name[match.end() :]


def _company_stem(name: str) -> str:
    return _COMPANY_SUFFIX.sub("", name)


def _length_weight(word: str) -> float:
    return min(len(word), FULL_WEIGHT_CHARS) / FULL_WEIGHT_CHARS


def _repeat_factor(count: int) -> float:
    return 1.0 + REPEAT_BONUS * (min(count, MAX_REPEATS) - 1)


def _score(raw: float) -> float:
    return round(1.0 - math.exp(-raw), 4)


def _char_pairs(text: str) -> list[str]:
    """Neighbouring characters, within runs of Chinese characters, letters and digits."""
    runs = re.findall(r"[\w]+", text)
    return [run[index : index + 2] for run in runs for index in range(len(run) - 1)]


def _in_text_order(words: dict[str, list[tuple[int, int]]]) -> tuple[str, ...]:
    return tuple(sorted(words, key=lambda word: min(words[word])))
