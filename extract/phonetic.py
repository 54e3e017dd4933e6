"""How Chinese text sounds: toneless pinyin per character, sound-alike distances, local alignment.

Whisper writes a word it does not know as characters that sound like it (修英区 for 秀英区, 成绩路 for
城西路, 名马标价 for 明码标价). Comparing in sound rather than in characters is how such words are found
again (phonetic named-entity correction: PED-NEC; JSPG's pinyin retrieval with Smith-Waterman alignment).

Distances are between toneless syllables split into initial and final. Telephone audio and southern
Mandarin blur some pairs (z/zh, c/ch, s/sh, n/l, f/h, r/l; an/ang, en/eng, in/ing): those cost little. A
character with several readings (行 hang/xing) takes the reading closest to what it is compared with.
"""

import functools
from dataclasses import dataclass

__all__ = [
    "Alignment",
    "align",
    "char_readings",
    "is_hanzi",
    "pair_keys",
    "sound_key",
    "syllable_distance",
    "text_readings",
]

_INITIALS = ("zh", "ch", "sh", "b", "p", "m", "f", "d", "t", "n", "l", "g", "k", "h", "j", "q", "x", "r", "z", "c", "s")
# Pairs heard alike on the phone and in southern Mandarin (flat/retroflex, n/l, f/h, r/l; front/back nasals).
_CLOSE_INITIALS = ({"z", "zh"}, {"c", "ch"}, {"s", "sh"}, {"n", "l"}, {"f", "h"}, {"r", "l"}, {"j", "q", "x"})
_CLOSE_FINALS = ({"an", "ang"}, {"en", "eng"}, {"in", "ing"}, {"ian", "iang"}, {"uan", "uang"}, {"on", "ong"})
# Folding that maps close sounds to one key: two texts with the same key sound alike on the phone.
_FOLD_INITIAL = {"zh": "z", "ch": "c", "sh": "s", "n": "l", "r": "l", "f": "h", "q": "j", "x": "j"}

CLOSE_COST = 0.25
"""Cost of a close sound (z/zh, in/ing …): what the phone blurs is nearly the same syllable."""
HALF_COST = 0.6
"""Cost of a syllable that keeps its initial or its final but not both (成/城 vs 绩/西: ji/xi)."""
GAP_COST = 1.0
"""Cost of a syllable inserted or dropped (Whisper adds or loses a character)."""


def is_hanzi(char: str) -> bool:
    return "\u4e00" <= char <= "\u9fff"


@functools.lru_cache(maxsize=65536)
def char_readings(char: str) -> tuple[str, ...]:
    """The toneless pinyin readings of one character (several for polyphones); () for a non-Chinese character."""
    if not is_hanzi(char):
        return ()
    from pypinyin import Style, pinyin

    readings = pinyin(char, style=Style.NORMAL, heteronym=True, errors="ignore")
    found = tuple(dict.fromkeys(reading.replace("ü", "v") for reading in (readings[0] if readings else ())))
    return found or (char,)


def text_readings(text: str) -> tuple[tuple[str, ...], ...]:
    """The reading of every character of a text in its context (银行 hang, 行走 xing; pypinyin's phrase
    dictionary), in order; non-Chinese characters give (). One reading per character: a rare reading of a
    polyphone (革 ji) would make unrelated words sound alike."""
    readings: list[tuple[str, ...]] = []
    run_start = None
    for position, char in enumerate(text + "\0"):
        if is_hanzi(char):
            if run_start is None:
                run_start = position
            continue
        if run_start is not None:
            readings.extend(_run_readings(text[run_start:position]))
            run_start = None
        if position < len(text):
            readings.append(())
    return tuple(readings)


@functools.lru_cache(maxsize=65536)
def _run_readings(run: str) -> tuple[tuple[str, ...], ...]:
    from pypinyin import Style, pinyin

    found = pinyin(run, style=Style.NORMAL, heteronym=False, errors="ignore")
    if len(found) != len(run):  # not expected for a run of CJK characters; fall back to one by one
        return tuple(char_readings(char)[:1] for char in run)
    return tuple((items[0].replace("ü", "v"),) for items in found)


@functools.lru_cache(maxsize=65536)
def _split(syllable: str) -> tuple[str, str]:
    for initial in _INITIALS:
        if syllable.startswith(initial) and len(syllable) > len(initial):
            return initial, syllable[len(initial) :]
    # y/w are spelling, not sounds: yi = i, wu = u, yu = v, ying = ing
    if syllable.startswith("y"):
        rest = syllable[1:]
        return "", rest if rest.startswith(("i", "u", "v")) else "i" + rest
    if syllable.startswith("w"):
        rest = syllable[1:]
        return "", rest if rest.startswith("u") else "u" + rest
    return "", syllable


def _initials_close(a: str, b: str) -> bool:
    return a == b or any(a in group and b in group for group in _CLOSE_INITIALS)


def _finals_close(a: str, b: str) -> bool:
    return a == b or any(a in group and b in group for group in _CLOSE_FINALS)


@functools.lru_cache(maxsize=262144)
def syllable_distance(a: str, b: str) -> float:
    """0 for the same syllable, CLOSE_COST for sound-alikes, HALF_COST for half a match, 1 otherwise."""
    if a == b:
        return 0.0
    initial_a, final_a = _split(a)
    initial_b, final_b = _split(b)
    same_initial, same_final = initial_a == initial_b, final_a == final_b
    close_initial, close_final = _initials_close(initial_a, initial_b), _finals_close(final_a, final_b)
    if close_initial and close_final:
        return CLOSE_COST if (same_initial or same_final) else 2 * CLOSE_COST
    if close_initial or close_final:
        return HALF_COST
    return 1.0


def reading_distance(heard: tuple[str, ...], meant: tuple[str, ...]) -> float:
    """The closest pair of readings of two characters; 1 when either has none."""
    if not heard or not meant:
        return 1.0
    return min(syllable_distance(a, b) for a in heard for b in meant)


def _fold(syllable: str) -> str:
    initial, final = _split(syllable)
    final = final.removesuffix("g") if final.endswith(("ang", "eng", "ing", "ong")) else final
    return _FOLD_INITIAL.get(initial, initial) + final


@functools.lru_cache(maxsize=65536)
def sound_key(char: str) -> tuple[str, ...]:
    """Folded readings of a character: characters that share a key sound alike on the phone (for retrieval)."""
    return tuple(dict.fromkeys(_fold(reading) for reading in char_readings(char)))


@functools.lru_cache(maxsize=65536)
def pair_keys(first: str, second: str) -> tuple[tuple[str, str], ...]:
    """The folded sounds of a pair of characters (retrieval keys: texts sharing pairs sound alike)."""
    return tuple((a, b) for a in sound_key(first) for b in sound_key(second))


@dataclass(frozen=True)
class Alignment:
    """Where an entry lies in a text by sound: text[start:end], at `cost` (0 = sounds the same)."""

    start: int
    end: int
    cost: float

    def similarity(self, length: int) -> float:
        """1 - cost per syllable of the entry: 1.0 sounds identical, 0.75 one close syllable in four."""
        return max(0.0, 1.0 - self.cost / max(length, 1))


def align(entry: tuple[tuple[str, ...], ...], text: tuple[tuple[str, ...], ...]) -> Alignment | None:
    """Best local alignment (Smith-Waterman, costs) of the whole entry inside the text, by sound.

    The entry must be aligned end to end (it is the thing looked for); the text span may start and end
    anywhere. Returns the cheapest span, or None when the text is empty.
    """
    m, n = len(entry), len(text)
    if not m or not n:
        return None
    # cost[i][j]: cheapest alignment of entry[:i] ending at text[:j]; a match may start at any j
    previous = [0.0] * (n + 1)
    starts_previous = list(range(n + 1))
    for i in range(1, m + 1):
        current = [previous[0] + GAP_COST] + [0.0] * n
        starts_current = [0] * (n + 1)
        for j in range(1, n + 1):
            substitute = previous[j - 1] + reading_distance(text[j - 1], entry[i - 1])
            drop = previous[j] + GAP_COST  # the entry's syllable was not heard
            insert = current[j - 1] + GAP_COST  # the text has a syllable the entry does not
            best = min(substitute, drop, insert)
            current[j] = best
            if best == substitute:
                starts_current[j] = starts_previous[j - 1]
            elif best == drop:
                starts_current[j] = starts_previous[j]
            else:
                starts_current[j] = starts_current[j - 1]
        previous, starts_previous = current, starts_current
    end = min(range(1, n + 1), key=lambda j: (previous[j], -j))
    return Alignment(starts_previous[end], end, previous[end])
