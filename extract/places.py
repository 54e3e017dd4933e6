"""The district and the road or place a ticket's text names, normalised to the deployment's lexicon.

Reports count tickets by place (hot spots), so a place must be written one way: the lexicon's (its roads,
communities, villages and landmarks, from the city's list and mined from its ticket history by
`hotline lexicon build`). A name the lexicon does not know gives "" rather than a guess: a misspelt or partial
name would count as a place of its own. Matching is exact and leftmost-longest (Aho-Corasick), so a year of
tickets is read in seconds, with no language model.
"""

from dataclasses import dataclass

import ahocorasick

from extract.lexicon import Lexicon, kind_of_place

__all__ = ["PlaceFinder", "PlaceMention"]

_FINE_KINDS = ("road", "community", "village", "place")
"""What counts as a place, finest first: a town or street office (kind street) is taken only when none is named."""


@dataclass(frozen=True)
class PlaceMention:
    district: str  # one of the city's districts ("龙华区"), "" if none is named
    place: str  # the first road/community/village/landmark named ("龙昆南路"), else a town, "" if none


class PlaceFinder:
    """Finds the lexicon's districts and places in text. Stems (龙昆南 for 龙昆南路) are left out: a stem names
    several places at once (龙舌坡路, 龙舌坡社区, 龙舌坡村)."""

    def __init__(self, lexicon: Lexicon):
        self._automaton = ahocorasick.Automaton()
        for entry in lexicon.entries:
            if entry.kind == "district" or entry.kind == "street":
                self._automaton.add_word(entry.term, (entry.kind, entry.term))
            elif entry.kind in _FINE_KINDS and kind_of_place(entry.term) is not None:
                self._automaton.add_word(entry.term, ("fine", entry.term))
        if len(self._automaton):
            self._automaton.make_automaton()

    def find(self, text: str) -> PlaceMention:
        """The first district and the first place `text` names (a finer place before a town)."""
        first: dict[str, str] = {}
        if text and len(self._automaton):
            for _, (kind, term) in self._automaton.iter_long(text):
                first.setdefault(kind, term)
        return PlaceMention(first.get("district", ""), first.get("fine") or first.get("street", ""))
