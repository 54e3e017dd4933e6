"""The hotline lexicon: the deployment's own words (places, units, matters, the hotline's script).

Whisper base does not know 秀英区, 龙昆南路 or 明码标价; the hotline does. The lexicon lists them so that
recognition can be repaired by sound (`extract.repair`) and extraction can resolve what it hears.

File format (UTF-8, tab-separated, `#` lines are comments; docs/LEXICON.md):

    # hotline-lexicon 1
    # version: haikou-2026-12-03
    # city: 海南省 海口市
    term    kind    weight
    秀英区   district    1.0
    龙昆南路 road    0.93

`kind` is one of KINDS; `weight` in (0, 1] says how sure the lexicon is that the term is a real name of the
place (1.0 for the official divisions and the catalogue; mined names by how many tickets used them).
`hotline lexicon build` writes this file from the packaged divisions, the duty catalogue, the script and a
ticket history; a deployment edits or extends it by hand and versions it with its configuration.
"""

import csv
import functools
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from extract.resource_files import DATA_DIR, read_yaml_file
from models.files import write_atomic

__all__ = [
    "DEFAULT_LEXICON",
    "KINDS",
    "PLACE_KINDS",
    "Lexicon",
    "LexiconEntry",
    "build_lexicon",
    "known_place_entries",
    "load_lexicon",
    "mine_places",
    "place_suffix",
    "read_ticket_texts",
    "surname_entries",
    "write_lexicon",
]

DEFAULT_LEXICON = DATA_DIR / "lexicon.tsv"
FORMAT_LINE = "# hotline-lexicon 1"

Kind = Literal[
    "province",
    "city",
    "district",
    "street",
    "road",
    "community",
    "village",
    "place",
    "unit",
    "matter",
    "script",
    "surname",
]
KINDS: tuple[str, ...] = Kind.__args__
PLACE_KINDS = frozenset({"province", "city", "district", "street", "road", "community", "village", "place"})

# What a place's name ends with says what kind of place it is (the longest suffix wins).
_SUFFIX_KINDS: tuple[tuple[str, str], ...] = (
    ("街道", "street"),
    ("镇", "street"),
    ("乡", "street"),
    ("大道", "road"),
    ("横路", "road"),
    ("路", "road"),
    ("街", "road"),
    ("巷", "road"),
    ("大街", "road"),
    ("社区", "community"),
    ("小区", "community"),
    ("花园", "community"),
    ("家园", "community"),
    ("嘉园", "community"),
    ("新村", "community"),
    ("公寓", "community"),
    ("山庄", "community"),
    ("名苑", "community"),
    ("苑", "community"),
    ("村", "village"),
    ("农场", "village"),
    ("市场", "place"),
    ("学校", "place"),
    ("中学", "place"),
    ("小学", "place"),
    ("幼儿园", "place"),
    ("大学", "place"),
    ("学院", "place"),
    ("医院", "place"),
    ("卫生院", "place"),
    ("广场", "place"),
    ("大厦", "place"),
    ("公园", "place"),
    ("车站", "place"),
    ("火车站", "place"),
    ("汽车站", "place"),
    ("商场", "place"),
    ("酒店", "place"),
    ("宾馆", "place"),
    ("城", "place"),
    ("中心", "place"),
)
_SUFFIXES = tuple(sorted((suffix for suffix, _ in _SUFFIX_KINDS), key=len, reverse=True))
_KIND_OF_SUFFIX = dict(_SUFFIX_KINDS)
# The hotline's own phrases: greeting, questions, read-back prompts, closing (what every call says).
SCRIPT = (
    "政务服务便民热线",
    "很高兴为您服务",
    "请问有什么可以帮您",
    "请问您贵姓",
    "请问您怎么称呼",
    "您的联系电话是多少",
    "联系电话",
    "具体位置",
    "具体地址",
    "我跟您核对一下",
    "我帮您核实一下",
    "您反映的问题",
    "我们会尽快转交相关部门处理",
    "转交相关部门",
    "感谢您的来电",
    "请您保持电话畅通",
    "便民热线",
    "市民来电反映",
)
MIN_TERM_CHARS = 2
MAX_TERM_CHARS = 20


class LexiconEntry(BaseModel, frozen=True):
    """One term of the lexicon (one row of the file)."""

    term: str = Field(min_length=1, max_length=MAX_TERM_CHARS)
    kind: Kind
    weight: float = Field(gt=0.0, le=1.0)

    @field_validator("term")
    @classmethod
    def _chinese_term(cls, value: str) -> str:
        if not re.fullmatch(r"[\u4e00-\u9fff0-9A-Za-z\-]+", value):
            raise ValueError("a term is Chinese characters, digits or Latin letters, without spaces or punctuation")
        return value

    @model_validator(mode="after")
    def _long_enough(self) -> "LexiconEntry":
        if len(self.term) < MIN_TERM_CHARS and self.kind != "surname":
            raise ValueError(f"a {self.kind} term has at least {MIN_TERM_CHARS} characters")
        return self


@dataclass(frozen=True)
class Lexicon:
    """The entries (one per term), plus the file's version and city."""

    entries: tuple[LexiconEntry, ...]
    version: str = ""
    province: str = ""
    city: str = ""

    def __post_init__(self):
        object.__setattr__(self, "_by_term", {entry.term: entry for entry in self.entries})

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, term: str) -> bool:
        return term in self._by_term

    def get(self, term: str) -> LexiconEntry | None:
        return self._by_term.get(term)

    def of_kind(self, *kinds: str) -> tuple[LexiconEntry, ...]:
        return tuple(entry for entry in self.entries if entry.kind in kinds)

    def merged(self, other: "Lexicon") -> "Lexicon":
        """This lexicon with the other's entries added; for a term in both, the other's kind and the higher weight."""
        by_term = dict(self._by_term)
        for entry in other.entries:
            known = by_term.get(entry.term)
            weight = max(entry.weight, known.weight) if known else entry.weight
            by_term[entry.term] = LexiconEntry(term=entry.term, kind=entry.kind, weight=weight)
        return Lexicon(
            tuple(by_term.values()),
            other.version or self.version,
            other.province or self.province,
            other.city or self.city,
        )


def load_lexicon(path: Path | None = None) -> Lexicon:
    """Read a lexicon file; None reads the bundled default (cached). ValueError names the file, line and problem."""
    if path is None:
        return _default_lexicon()
    return _read_lexicon(Path(path))


@functools.lru_cache(maxsize=1)
def _default_lexicon() -> Lexicon:
    return _read_lexicon(DEFAULT_LEXICON)


def _read_lexicon(path: Path) -> Lexicon:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read the lexicon: {error}") from None
    if not lines or lines[0].strip() != FORMAT_LINE:
        raise ValueError(f"{path}: line 1: a lexicon file starts with {FORMAT_LINE!r}")
    version, province, city = "", "", ""
    entries: dict[str, LexiconEntry] = {}
    header_seen = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            key, _, value = line[1:].partition(":")
            if key.strip() == "version":
                version = value.strip()
            elif key.strip() == "city":
                parts = value.split()
                province, city = [*parts, "", ""][:2] if len(parts) >= 2 else ("", (parts or [""])[0])
            continue
        cells = line.split("\t")
        if not header_seen:
            if [cell.strip() for cell in cells] != ["term", "kind", "weight"]:
                raise ValueError(f"{path}: line {number}: expected the header 'term<TAB>kind<TAB>weight'")
            header_seen = True
            continue
        if len(cells) != 3:
            raise ValueError(f"{path}: line {number}: expected 3 tab-separated cells, got {len(cells)}")
        try:
            entry = LexiconEntry(term=cells[0].strip(), kind=cells[1].strip(), weight=float(cells[2]))
        except ValueError as error:
            detail = error.errors()[0]["msg"] if isinstance(error, ValidationError) else str(error)
            raise ValueError(f"{path}: line {number}: {detail}") from None
        if entry.term in entries:
            raise ValueError(f"{path}: line {number}: {entry.term!r} is listed twice")
        entries[entry.term] = entry
    return Lexicon(tuple(entries.values()), version, province, city)


def write_lexicon(lexicon: Lexicon, path: Path) -> None:
    """Write the file format above, entries grouped by kind, heaviest first (atomically)."""
    order = {kind: index for index, kind in enumerate(KINDS)}
    rows = sorted(lexicon.entries, key=lambda entry: (order[entry.kind], -entry.weight, entry.term))
    lines = [FORMAT_LINE, f"# version: {lexicon.version}", f"# city: {lexicon.province} {lexicon.city}".rstrip()]
    lines.append("term\tkind\tweight")
    lines.extend(f"{entry.term}\t{entry.kind}\t{entry.weight:.3g}" for entry in rows)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, "\n".join(lines) + "\n")


def place_suffix(name: str) -> str | None:
    """The generic part a place name ends with (路, 大道, 小区, 村, 区 …), or None."""
    for suffix in (*_SUFFIXES, "区", "县", "市", "省"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return suffix
    return None


def kind_of_place(name: str) -> str | None:
    """The kind a place name's suffix says (龙昆南路 → road, 金科嘉园 → community), or None."""
    suffix = place_suffix(name)
    return _KIND_OF_SUFFIX.get(suffix) if suffix else None


def division_entries(province: str, city: str) -> list[LexiconEntry]:
    """The city and its districts and streets/towns from jionlp's packaged division data, with short forms
    callers use (灵山镇 → 灵山 is left out: two characters alone are too common to repair towards)."""
    from extract.nlp import jionlp

    tree = jionlp().china_location_loader(detail=True)  # detail: down to streets and towns
    counties = tree.get(province, {}).get(city)
    if counties is None:
        raise ValueError(f"unknown city {province} {city} in the packaged division data")
    entries = [
        LexiconEntry(term=province, kind="province", weight=1.0),
        LexiconEntry(term=city, kind="city", weight=1.0),
    ]
    for county, towns in counties.items():
        if county.startswith("_"):
            continue
        entries.append(LexiconEntry(term=county, kind="district", weight=1.0))
        for town in towns:
            if not town.startswith("_") and MIN_TERM_CHARS <= len(town) <= MAX_TERM_CHARS:
                entries.append(LexiconEntry(term=town, kind="street", weight=1.0))
    return entries


def known_place_entries(province: str, city: str) -> list[LexiconEntry]:
    """The city's main roads and landmarks listed in extract/data/places.yaml (weight 0.9; kind by suffix)."""
    table = read_yaml_file(DATA_DIR / "places.yaml") or {}
    return [
        LexiconEntry(term=name, kind=kind_of_place(name) or "place", weight=0.9)
        for name in table.get(f"{province} {city}") or []
    ]


def surname_entries(province: str) -> list[LexiconEntry]:
    """The province's common surnames (extract/data/regional_surnames.yaml), weighted by rank: 1.0 down to 0.5."""
    table = read_yaml_file(DATA_DIR / "regional_surnames.yaml") or {}
    names = table.get(province) or []
    return [
        LexiconEntry(term=name, kind="surname", weight=round(1.0 - 0.5 * rank / max(len(names), 1), 3))
        for rank, name in enumerate(names)
    ]


def catalogue_entries(catalogue) -> list[LexiconEntry]:
    """Unit names and aliases (kind unit) and the matters' keywords (kind matter) of a duty catalogue."""
    entries: dict[str, LexiconEntry] = {}
    for department in catalogue.departments:
        for name in (department.name, *department.aliases):
            if _is_term(name):
                entries.setdefault(name, LexiconEntry(term=name, kind="unit", weight=1.0))
        for matter in department.matters:
            for keyword in matter.keywords:
                if _is_term(keyword):
                    entries.setdefault(keyword, LexiconEntry(term=keyword, kind="matter", weight=1.0))
    return list(entries.values())


def _is_term(text: str) -> bool:
    return MIN_TERM_CHARS <= len(text) <= MAX_TERM_CHARS and bool(re.fullmatch(r"[\u4e00-\u9fff0-9A-Za-z\-]+", text))


# A place name inside a ticket: Chinese characters (and building numbers) ending in a place suffix.
_PLACE_IN_TEXT = re.compile("[\u4e00-\u9fff]{1,10}?(?:" + "|".join(map(re.escape, _SUFFIXES)) + ")")
# Words that end a clause or describe, never begin a place's own name.
_NOT_A_NAME_START = re.compile(
    r"^(?:在|于|到|从|的|和|与|及|是|位于|对面|旁边|附近|门口|路段|反映|来电|市民|其|称|有|处)"
)
_TOO_GENERIC = frozenset(
    {"小区", "社区", "农村", "市场", "学校", "医院", "公园", "广场", "路口", "马路", "道路", "街道", "城市", "中心"}
)


def mine_places(texts: Iterable[str], known: Iterable[str] = ()) -> Counter:
    """Place names in ticket texts (roads, communities, villages, markets, schools …) and in how many texts each
    appears. Baidu LAC marks places (LOC/ORG); a name counts when it ends in a place suffix. Administrative
    prefixes the divisions already give (海口市, 琼山区, 灵山镇) are split off, so 琼山区府城镇县后街 gives 县后街."""
    from extract.nlp import lac

    prefixes = sorted({term for term in known if len(term) >= 2}, key=len, reverse=True)
    counts: Counter = Counter()
    for text in texts:
        found: set[str] = set()
        for word, tag in lac().run(text or ""):
            if tag not in {"LOC", "ORG", "ns", "nt", "nz"}:
                continue
            for part in _split_known(word, prefixes):
                name = _NOT_A_NAME_START.sub("", part)
                if len(name) >= 3 and name not in _TOO_GENERIC and kind_of_place(name) and _is_term(name):
                    found.add(name)
        counts.update(found)
    return counts


def _split_known(word: str, prefixes: list[str]) -> list[str]:
    """The word cut into known divisions and what lies between them (海口市琼山区县后街 → [县后街])."""
    parts, rest = [], word
    while rest:
        for prefix in prefixes:
            if rest.startswith(prefix):
                rest = rest[len(prefix) :]
                break
        else:
            match = _PLACE_IN_TEXT.match(rest)
            if match is None:
                parts.append(rest)
                break
            parts.append(match.group())
            rest = rest[match.end() :]
    return [part for part in parts if part and part not in prefixes]


def build_lexicon(
    province: str,
    city: str,
    catalogue=None,
    texts: Iterable[str] = (),
    min_count: int = 2,
    version: str = "",
) -> Lexicon:
    """Divisions + catalogue + script + the city's listed main places and surnames, and the places mined from a
    ticket history (those named in at least
    `min_count` tickets). A mined place's weight grows with the tickets that name it: 0.6 at min_count, 1.0 at
    ~50."""
    entries: dict[str, LexiconEntry] = {}
    for entry in division_entries(province, city):
        entries.setdefault(entry.term, entry)
    if catalogue is not None:
        for entry in catalogue_entries(catalogue):
            entries.setdefault(entry.term, entry)
    for phrase in SCRIPT:
        entries.setdefault(phrase, LexiconEntry(term=phrase, kind="script", weight=1.0))
    for entry in (*known_place_entries(province, city), *surname_entries(province)):
        entries.setdefault(entry.term, entry)
    for name, count in mine_places(texts, known=entries).most_common():
        if count < min_count or name in entries:
            continue
        weight = min(1.0, 0.6 + 0.1 * math.log2(count / min_count + 1) * 1.5)
        entries[name] = LexiconEntry(term=name, kind=kind_of_place(name) or "place", weight=round(weight, 3))
    for stem in place_stems(entries.values()):
        entries.setdefault(stem.term, stem)
    return Lexicon(tuple(entries.values()), version, province, city)


STEM_WEIGHT = 0.8
"""A stem's weight against its place's: a neighbourhood's name is said alone or with another suffix, but less
surely a place than the full name."""


def place_stems(entries: Iterable[LexiconEntry]) -> list[LexiconEntry]:
    """The names of roads, communities and places without their suffix, where three characters or more are left:
    龙舌坡路 gives 龙舌坡, which is also 龙舌坡社区 and 龙舌坡村; 龙昆南路 gives 龙昆南."""
    stems: dict[str, LexiconEntry] = {}
    for entry in entries:
        if entry.kind not in {"road", "community", "village", "place"}:
            continue
        suffix = place_suffix(entry.term)
        stem = entry.term[: -len(suffix)] if suffix else ""
        if len(stem) >= 3 and _is_term(stem) and (stem not in stems or stems[stem].weight < entry.weight):
            stems[stem] = LexiconEntry(term=stem, kind="place", weight=round(STEM_WEIGHT * entry.weight, 3))
    return list(stems.values())


def read_ticket_texts(path: Path, text_column: str, id_column: str | None = None, exclude_ids=()) -> list[str]:
    """The text column of a ticket CSV, without the rows whose id is in exclude_ids. ValueError on a bad file."""
    excluded = set(exclude_ids)
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or text_column not in reader.fieldnames:
                raise ValueError(f"{path}: no column {text_column!r}")
            if id_column and id_column not in reader.fieldnames:
                raise ValueError(f"{path}: no column {id_column!r}")
            return [
                row[text_column] or ""
                for row in reader
                if not (id_column and (row.get(id_column) or "").strip() in excluded)
            ]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"{path}: cannot read the CSV: {error}") from None
