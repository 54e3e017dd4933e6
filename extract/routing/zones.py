"""Key areas (重点区域): where a zone's unit handles the matters inside it, the address decides.

A `ZoneTable` holds each zone (its unit, the matter categories the unit handles there, its places) and finds the
zones a ticket's address or text is inside (`find`): a place of the zone named in it, and a matter the zone's unit
handles there (the catalogue's keywords say which categories the text's matters are in; a text whose matters are
all of other categories is not the zone's, one with no recognised matter is). The places come from the duty
catalogue (`ZoneTable.from_catalogue`: what a deployment lists) and from the ticket history
(`ZoneTable.with_history`: the places the zone's unit was sent most of the tickets naming them, counted on the
training tickets only). The routing model uses the table as a rule or as a feature (`RoutingOptions.zones`) and
keeps it in its manifest, plain JSON, so that the model scores a ticket as it did when its threshold was chosen.
"""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import ahocorasick

__all__ = ["PlaceTerms", "ZoneHit", "ZonePlace", "ZoneSpec", "ZoneTable", "zone_reason"]


@dataclass(frozen=True)
class ZonePlace:
    """A place of a zone: where the table has it from ("catalogue" or "history"), and for a place from the history
    how many training tickets named it (`tickets`) and how many of them went to the zone's unit (`unit_tickets`)."""

    name: str
    source: str = "catalogue"
    tickets: int = 0
    unit_tickets: int = 0


@dataclass(frozen=True)
class ZoneSpec:
    """A zone: its name, its unit (the catalogue's canonical name), the matter categories the unit handles there
    (empty: every matter) and its places."""

    name: str
    unit: str
    categories: tuple[str, ...] = ()
    places: tuple[ZonePlace, ...] = ()


@dataclass(frozen=True)
class ZoneHit:
    """A zone a text is inside: the zone, its unit, the place that put the text there and where it is in the
    text ([start, end) characters)."""

    zone: str
    unit: str
    place: str
    span: tuple[int, int]


def zone_reason(hit: ZoneHit) -> str:
    """The reason an operator reads: 地址在桂林洋经济开发区范围内（桂林洋大道）."""
    return f"地址在{hit.zone}范围内（{hit.place}）"


class PlaceTerms:
    """Place names found in text, leftmost-longest (Aho-Corasick): the candidates a zone's places are mined from
    (a deployment's lexicon places, or those mined from its training tickets, `extract.lexicon`)."""

    def __init__(self, terms: Iterable[str]):
        self._automaton = _automaton(terms)

    def __call__(self, text: str) -> set[str]:
        if self._automaton is None or not text:
            return set()
        return {term for _, term in self._automaton.iter_long(text)}


@dataclass(frozen=True)
class ZoneTable:
    """The zones, and the words that say which matter categories a text is about (the catalogue's keywords)."""

    zones: tuple[ZoneSpec, ...]
    category_keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_catalogue(cls, catalogue) -> "ZoneTable":
        """The zones a duty catalogue (`extract.catalogue.Catalogue`) declares, with its matter keywords."""
        zones = tuple(
            ZoneSpec(zone.name, zone.department, zone.categories, tuple(ZonePlace(place) for place in zone.places))
            for zone in catalogue.zones
        )
        used = {category for zone in zones for category in zone.categories}
        # the keywords of every category are needed once any zone is restricted: a text's matters are known by them
        keywords = catalogue.category_keywords() if used else {}
        return cls(zones, keywords)

    @property
    def units(self) -> tuple[str, ...]:
        """The units that cover a zone, in table order."""
        return tuple(dict.fromkeys(zone.unit for zone in self.zones))

    def find(self, text: str) -> list[ZoneHit]:
        """The zones `text` is inside, one per unit, in the order their first place appears: a zone's place is named
        and the text's matters (by the catalogue's keywords) are of a category the zone's unit handles there, or
        none is recognised."""
        index = self._index()
        if index.places is None or not text:
            return []
        categories = None
        hits: dict[str, ZoneHit] = {}
        for end, place in index.places.iter_long(text):
            zone = index.zone_of_place[place]
            if zone.unit in hits:
                continue
            if zone.categories:
                if categories is None:
                    categories = self._categories(text)
                if categories and not categories & set(zone.categories):
                    continue
            hits[zone.unit] = ZoneHit(zone.name, zone.unit, place, (end - len(place) + 1, end + 1))
        return list(hits.values())

    def with_history(
        self,
        texts: Sequence[str],
        units: Sequence[str],
        places_in: Callable[[str], set[str]],
        min_count: int = 2,
        min_share: float = 0.5,
    ) -> "ZoneTable":
        """This table with the places the history shows each zone's unit handling: a place (`places_in` of a ticket
        text) named in at least `min_count` of the unit's tickets, where the unit had at least `min_share` of all
        the tickets naming it. Only the tickets given are counted: give the training tickets, never those the model
        is tested on. A mined place goes to the unit's zone whose listed places the same tickets name most often (its
        first zone when none). Places already in a zone are left out, and so are places containing one (the listed
        place finds them already). `places_in` should give roads, communities, villages and landmarks, not the
        city's districts and towns, which are wider than a zone (`extract.lexicon`'s fine place kinds)."""
        if not self.zones:
            return self
        zone_units = set(self.units)
        named = [places_in(text) for text in texts]
        total: Counter = Counter()
        per_unit: dict[str, Counter] = defaultdict(Counter)
        for places, unit in zip(named, units, strict=True):
            total.update(places)
            if unit in zone_units:
                per_unit[unit].update(places)
        known = {place.name for zone in self.zones for place in zone.places}
        added: dict[str, list[ZonePlace]] = defaultdict(list)
        for unit, counts in per_unit.items():
            for place, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
                if (
                    count < min_count
                    or count / total[place] < min_share
                    or place in known
                    or any(name in place for name in known)
                ):
                    continue
                zone = self._zone_for(unit, place, named, units)
                added[zone].append(ZonePlace(place, "history", total[place], count))
                known.add(place)
        zones = tuple(replace(zone, places=zone.places + tuple(added[zone.name])) for zone in self.zones)
        return replace(self, zones=zones)

    def _zone_for(self, unit: str, place: str, named: list[set[str]], units: Sequence[str]) -> str:
        own = [zone for zone in self.zones if zone.unit == unit]
        if len(own) == 1:
            return own[0].name
        together: Counter = Counter()
        for places, ticket_unit in zip(named, units, strict=True):
            if ticket_unit == unit and place in places:
                text_places = " ".join(places)
                for zone in own:
                    if any(listed.name in text_places for listed in zone.places):
                        together[zone.name] += 1
        return together.most_common(1)[0][0] if together else own[0].name

    def to_dict(self) -> dict:
        """Plain JSON (the routing model's manifest)."""
        return {
            "zones": [
                {
                    "name": zone.name,
                    "unit": zone.unit,
                    "categories": list(zone.categories),
                    "places": [
                        {"name": p.name, "source": p.source, "tickets": p.tickets, "unit_tickets": p.unit_tickets}
                        for p in zone.places
                    ],
                }
                for zone in self.zones
            ],
            "category_keywords": {category: list(words) for category, words in self.category_keywords.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> "ZoneTable":
        """The table `to_dict` wrote; TypeError, KeyError or ValueError on anything else."""
        zones = tuple(
            ZoneSpec(
                str(zone["name"]),
                str(zone["unit"]),
                tuple(str(category) for category in zone["categories"]),
                tuple(
                    ZonePlace(str(p["name"]), str(p["source"]), int(p["tickets"]), int(p["unit_tickets"]))
                    for p in zone["places"]
                ),
            )
            for zone in data["zones"]
        )
        keywords = {str(category): tuple(map(str, words)) for category, words in data["category_keywords"].items()}
        return cls(zones, keywords)

    def _categories(self, text: str) -> set[str]:
        index = self._index()
        if index.keywords is None:
            return set()
        return {category for _, word in index.keywords.iter(text) for category in index.category_of_word[word]}

    def _index(self) -> "_Index":
        # built on first use and kept: the table is frozen
        index = self.__dict__.get("_built")
        if index is None:
            index = _build_index(self)
            object.__setattr__(self, "_built", index)
        return index


@dataclass(frozen=True)
class _Index:
    places: ahocorasick.Automaton | None
    zone_of_place: dict[str, ZoneSpec]
    keywords: ahocorasick.Automaton | None
    category_of_word: dict[str, tuple[str, ...]]


def _build_index(table: ZoneTable) -> _Index:
    zone_of_place = {place.name: zone for zone in table.zones for place in zone.places}
    category_of_word: dict[str, list[str]] = defaultdict(list)
    for category, words in table.category_keywords.items():
        for word in words:
            category_of_word[word].append(category)
    return _Index(
        _automaton(zone_of_place),
        zone_of_place,
        _automaton(category_of_word),
        {word: tuple(categories) for word, categories in category_of_word.items()},
    )


def _automaton(words: Iterable[str]) -> ahocorasick.Automaton | None:
    automaton = ahocorasick.Automaton()
    for word in words:
        if word:
            automaton.add_word(word, word)
    if not len(automaton):
        return None
    automaton.make_automaton()
    return automaton
