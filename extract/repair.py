"""Sound-alike repair of a recognised call with the hotline lexicon, and of digits in number contexts.

Whisper base writes names it does not know as characters that sound like them: 修英区 for 秀英区, 成绩路 for
城西路, 名马标价 for 明码标价, 要三八 for 138. Each turn is searched by sound for lexicon entries
(retrieval by folded-pinyin bigrams, then a Smith-Waterman alignment in `extract.phonetic`), and a span is
rewritten only when the repair is clearly better: the entry sounds (nearly) the same, is long enough to be
specific, and what was heard is neither a lexicon term itself nor something Whisper was sure of. Where the
lexicon has nothing to say, a transcript comes back unchanged.

Every repaired word keeps what was heard in `Word.raw`, and each repair is listed as a `repaired` warning
with its time, so QA sees the machine's change next to the audio.
"""

import functools
import itertools
import math
import re
from collections import defaultdict
from dataclasses import dataclass

from extract.lexicon import PLACE_KINDS, Lexicon, LexiconEntry, place_suffix
from extract.nlp import jieba
from extract.phonetic import (
    HALF_COST,
    Alignment,
    align,
    char_readings,
    is_hanzi,
    pair_keys,
    reading_distance,
    text_readings,
)
from models import PipelineWarning, Turn, Word

__all__ = ["LexiconIndex", "LexiconReviser", "Repair", "RepairOptions", "repair_digits", "repair_text", "repair_turns"]


@dataclass(frozen=True)
class RepairOptions:
    """When a sound-alike is rewritten to a lexicon entry (defaults measured on the shared calls and on
    speech_real for no damage; docs/BENCHMARKS.md).

    min_chars: entries shorter than this are never repaired towards: two syllables sound like too much.
    min_similarity_3 / _4 / _long: sound similarity (1 - alignment cost per syllable) an entry of 3, 4 and
        5+ characters needs: a three-character name may differ by one close sound (z/zh, in/ing), longer
        ones by about one syllable in five.
        Every syllable must keep at least its initial or its final (成绩路 → 城西路 yes, 时启 → 市场 no), and
        the entry replaces as many characters as were heard.
    sure_probability: what Whisper heard at this word probability or above is kept unless the entry sounds
        exactly the same (a homophone written with other characters).
    word_frequency: what was heard reads as ordinary words (jieba's dictionary, words at least this frequent
        covering all but one character: 登记了, 需要相关部门) is kept unless the entry sounds exactly the same.
    settled_bonus: a term already repaired elsewhere in the call needs this much less similarity, and neither
        word check applies to it: the call is about that place.
    same_sound_kinds: terms of these kinds are repaired only towards the same sound: matter keywords are
        everyday phrases, and a close sound is as often another phrase (政策措施 is not 政策落实).
    digits: repair sound-alike digits inside number strings (要 → 1 between digits).
    """

    min_chars: int = 3
    min_similarity_3: float = 0.9
    min_similarity_4: float = 0.85
    min_similarity_long: float = 0.8
    sure_probability: float = 0.85
    word_frequency: int = 30
    settled_bonus: float = 0.1
    same_sound_kinds: frozenset[str] = frozenset({"matter"})
    digits: bool = True

    def threshold(self, length: int) -> float:
        if length <= 3:
            return self.min_similarity_3
        if length == 4:
            return self.min_similarity_4
        return self.min_similarity_long


@dataclass(frozen=True)
class Repair:
    """One rewrite in a text: text[start:end] was `heard`, is now `written`."""

    start: int
    end: int
    heard: str
    written: str
    kind: str
    similarity: float


class LexiconIndex:
    """The lexicon's repairable entries with their readings, indexed by folded-sound bigrams."""

    def __init__(self, lexicon: Lexicon, min_chars: int = 3):
        self.lexicon = lexicon
        self.entries: list[LexiconEntry] = []
        self.readings: list[tuple[tuple[str, ...], ...]] = []
        self.bigrams: list[int] = []
        self._index: dict[tuple[str, str], list[int]] = defaultdict(list)
        for entry in lexicon.entries:
            if len(entry.term) < min_chars or not all(is_hanzi(char) for char in entry.term):
                continue
            number = len(self.entries)
            self.entries.append(entry)
            self.readings.append(text_readings(entry.term))
            keys = _bigram_keys(entry.term)
            self.bigrams.append(len(keys))
            for key in keys:
                self._index[key].append(number)

    def candidates(self, text: str) -> list[int]:
        """Entries sharing at least half of their sound bigrams with the text."""
        shared: dict[int, int] = defaultdict(int)
        for key in _bigram_keys(text):
            for number in self._index.get(key, ()):
                shared[number] += 1
        return [number for number, count in shared.items() if count >= max(1, math.ceil(self.bigrams[number] / 2))]


@functools.lru_cache(maxsize=4)
def _cached_index(lexicon: Lexicon, min_chars: int) -> LexiconIndex:
    return LexiconIndex(lexicon, min_chars)


def _bigram_keys(text: str) -> set[tuple[str, str]]:
    return {key for first, second in itertools.pairwise(text) for key in pair_keys(first, second)}


def repair_text(
    text: str,
    lexicon: Lexicon,
    options: RepairOptions | None = None,
    probabilities: list[float] | None = None,
    settled: frozenset[str] = frozenset(),
) -> list[Repair]:
    """The lexicon repairs of one text, non-overlapping, in text order (the text itself is not changed).

    `probabilities` (one per character, from the words' probabilities) let a confidently heard span stand.
    `settled` terms were already repaired elsewhere in the call: the call is about them, so they need a little
    less similarity and override what Whisper was sure of (the read-back heard 东领小区 like the request).
    """
    options = options or RepairOptions()
    index = _cached_index(lexicon, options.min_chars)
    readings = text_readings(text)
    found: list[tuple[float, Repair]] = []
    for number in index.candidates(text):
        entry = index.entries[number]
        for alignment in _alignments(index.readings[number], readings):
            repair = _accept(
                lexicon, text, alignment, entry, index.readings[number], readings, options, settled, probabilities
            )
            if repair is not None:
                found.append((repair.similarity * entry.weight + 0.01 * len(entry.term), repair))
    chosen: list[Repair] = []
    for _, repair in sorted(found, key=lambda item: -item[0]):
        if all(repair.end <= other.start or repair.start >= other.end for other in chosen):
            chosen.append(repair)
    return sorted(chosen, key=lambda repair: repair.start)


def _alignments(entry: tuple, readings: tuple, offset: int = 0, limit: int = 3) -> list[Alignment]:
    """Where the entry lies in the text by sound: the best place, then the best in what is left on each side."""
    alignment = align(entry, readings)
    if alignment is None or limit <= 0:
        return []
    found = [Alignment(alignment.start + offset, alignment.end + offset, alignment.cost)]
    if alignment.start >= len(entry):
        found += _alignments(entry, readings[: alignment.start], offset, limit - 1)
    if len(readings) - alignment.end >= len(entry):
        found += _alignments(entry, readings[alignment.end :], offset + alignment.end, limit - 1)
    return found


def _accept(
    lexicon: Lexicon,
    text: str,
    alignment: Alignment,
    entry: LexiconEntry,
    entry_readings: tuple,
    readings: tuple,
    options: RepairOptions,
    settled: frozenset[str],
    probabilities: list[float] | None,
) -> Repair | None:
    """The repair this alignment makes, if it is clearly better than what was heard (RepairOptions)."""
    term, length = entry.term, len(entry.term)
    heard = text[alignment.start : alignment.end]
    similarity = alignment.similarity(length)
    is_settled = term in settled
    if (
        heard == term
        or len(heard) != length
        or similarity < options.threshold(length) - (options.settled_bonus if is_settled else 0.0)
        or not all(is_hanzi(char) for char in heard)
        or heard in lexicon
        or max(map(reading_distance, readings[alignment.start : alignment.end], entry_readings)) > HALF_COST
    ):
        return None
    if similarity < 1.0 and entry.kind in options.same_sound_kinds:
        return None
    if entry.kind == "unit" and readings[alignment.end - 1] != entry_readings[-1]:
        return None  # a unit's last character says what it is (部, 局, 委, 办): 人力资源社会保障部 is no 局
    reads_as_words = _reads_as_words(heard, options.word_frequency)
    if not _is_a_name(entry) and (
        _splits_a_word(text, alignment.start, alignment.end)
        or (similarity == 1.0 and _reads_as_words(heard, options.word_frequency, whole=True))
    ):
        # everyday phrases (units, matters, the script, 菜市场) only where what was heard is no phrase itself:
        # 工地超|时施工 and 建|材市场 cut through words, 有证据 sounds exactly like 邮政局. Place names are
        # spared: Whisper's garble of a name makes accidental words across it (吉|林山镇, 道可村|村口).
        return None
    if similarity < 1.0 and not is_settled:
        if probabilities and min(probabilities[alignment.start : alignment.end]) >= options.sure_probability:
            return None
        # 成绩路 is two ordinary words, but a name before the road's own suffix is a road's name
        if reads_as_words and not _same_place_suffix(heard, entry):
            return None
    return Repair(alignment.start, alignment.end, heard, term, entry.kind, round(similarity, 3))


def _is_a_name(entry: LexiconEntry) -> bool:
    """A place's own name (龙昆南路, 秀英区, 金科嘉园), not a generic place word (菜市场: 菜 + 市场)."""
    if entry.kind not in PLACE_KINDS:
        return False
    suffix = place_suffix(entry.term)
    return suffix is None or len(entry.term) - len(suffix) >= 2


def _splits_a_word(text: str, start: int, end: int) -> bool:
    """Whether a dictionary word of the text (jieba, whole-text segmentation) starts before the span and ends
    inside it, or starts inside it and ends after it."""
    position = 0
    for word in _segment(text):  # jieba without HMM: a token of two characters or more is a dictionary word
        word_end = position + len(word)
        if len(word) >= 2 and (position < start < word_end or position < end < word_end):
            return True
        position = word_end
    return False


@functools.lru_cache(maxsize=4096)
def _segment(text: str) -> tuple[str, ...]:
    return tuple(jieba().lcut(text, HMM=False))


def _same_place_suffix(heard: str, entry: LexiconEntry) -> bool:
    suffix = place_suffix(entry.term) if entry.kind in PLACE_KINDS else None
    return suffix is not None and heard.endswith(suffix)


# Single characters that are words of their own in a sentence (有证据, 是政府, 向燃气公司)
_FUNCTION_CHARS = frozenset("有是在我你他她的了和就也都还要会能向给对把被从这那很")


def _reads_as_words(text: str, min_frequency: int, whole: bool = False) -> bool:
    """Whether the text is ordinary words: frequent dictionary words cover all its characters but one (`whole`:
    dictionary words cover all of them, a function word such as 有 or 是 counting as a word)."""
    segmenter = jieba()
    covered = sum(
        len(word)
        for word in segmenter.lcut(text, HMM=False)
        if (len(word) >= 2 and segmenter.get_FREQ(word, 0) >= (1 if whole or len(word) >= 3 else min_frequency))
        or (whole and word in _FUNCTION_CHARS)
    )
    return covered >= len(text) - (0 if whole else 1)


# Characters Whisper writes for a spoken digit, by toneless reading (幺 yao is the 1 of phone numbers).
_DIGIT_OF_READING = {
    "yao": "1",
    "yi": "1",
    "er": "2",
    "liang": "2",
    "san": "3",
    "si": "4",
    "wu": "5",
    "liu": "6",
    "qi": "7",
    "ba": "8",
    "jiu": "9",
    "ling": "0",
    "dong": "0",
}
_CHINESE_DIGITS = "零〇一二三四五六七八九幺两"
_DIGIT_SEPARATORS = " ,，、-—"
MIN_DIGITS_IN_RUN = 4
"""A sound-alike becomes a digit only inside a run holding at least this many real digits (a phone
number, a house number): "号码是138…" keeps its 是, "要三八六七…" gets its 1."""


def repair_digits(text: str) -> list[Repair]:
    """Sound-alike characters between digits of a number string, as the digits they stand for."""
    repairs = []
    for match in re.finditer("[0-9" + re.escape(_DIGIT_SEPARATORS) + "\u4e00-\u9fff]+", text):
        run = match.group()
        kinds = [_digit_kind(char) for char in run]
        if sum(kind == "digit" for kind in kinds) < MIN_DIGITS_IN_RUN:
            continue
        for position, char in enumerate(run):
            if kinds[position] != "alike":
                continue
            before = _nearest_digit(run, kinds, position, -1)
            after = _nearest_digit(run, kinds, position, 1)
            if before is None or after is None:
                continue
            written = _digit_for(char, arabic=run[before].isdigit())
            at = match.start() + position
            repairs.append(Repair(at, at + 1, char, written, "digit", 1.0))
    return repairs


def _digit_kind(char: str) -> str:
    if (char.isdigit() and char.isascii()) or char in _CHINESE_DIGITS:
        return "digit"
    if char in _DIGIT_SEPARATORS:
        return "separator"
    if any(reading in _DIGIT_OF_READING for reading in char_readings(char)):
        return "alike"
    return "other"


def _nearest_digit(run: str, kinds: list[str], position: int, step: int) -> int | None:
    """The nearest real digit in this direction, across separators and other sound-alikes only."""
    position += step
    while 0 <= position < len(run):
        if kinds[position] == "digit":
            return position
        if kinds[position] == "other":
            return None
        position += step
    return None


def _digit_for(char: str, arabic: bool) -> str:
    digit = next(_DIGIT_OF_READING[reading] for reading in char_readings(char) if reading in _DIGIT_OF_READING)
    return digit if arabic else "零一二三四五六七八九"[int(digit)]


def repair_turns(
    turns: list[Turn], lexicon: Lexicon | None, options: RepairOptions | None = None
) -> list[PipelineWarning]:
    """Repair every turn in place (words keep what was heard in `raw`); a `repaired` warning per repair."""
    options = options or RepairOptions()
    warnings = []
    settled: frozenset[str] = frozenset()
    if lexicon is not None:  # first pass: which terms the call is about
        settled = frozenset(
            repair.written
            for turn in turns
            for repair in repair_text(turn.text, lexicon, options, _char_probabilities(turn))
        )
    for turn in turns:
        spans = _word_char_spans(turn)
        repairs = (
            repair_text(turn.text, lexicon, options, _char_probabilities(turn), settled) if lexicon is not None else []
        )
        if options.digits:
            taken = [(repair.start, repair.end) for repair in repairs]
            repairs += [
                repair
                for repair in repair_digits(turn.text)
                if all(repair.end <= start or repair.start >= end for start, end in taken)
            ]
        if not repairs:
            continue
        for repair in sorted(repairs, key=lambda item: -item.start):  # right to left: offsets stay valid
            start_time, end_time = _apply(turn, spans, repair)
            warnings.append(
                PipelineWarning(
                    "repaired",
                    f"{repair.heard} → {repair.written} ({repair.kind}, sound {repair.similarity:.2f})",
                    start_time,
                    end_time,
                )
            )
            spans = _word_char_spans(turn)
    return warnings


def _char_probabilities(turn: Turn) -> list[float]:
    """The probability of the word each character of the turn's text belongs to."""
    probabilities = [1.0] * len(turn.text)
    for word, (start, end) in zip(turn.words, _word_char_spans(turn), strict=True):
        for position in range(start, min(end, len(probabilities))):
            probabilities[position] = word.probability
    return probabilities


def _word_char_spans(turn: Turn) -> list[tuple[int, int]]:
    """Where each word's text lies in the turn's text (words are joined in order)."""
    spans, cursor = [], 0
    for word in turn.words:
        position = turn.text.find(word.text, cursor)
        if position == -1:
            position = cursor
        spans.append((position, position + len(word.text)))
        cursor = position + len(word.text)
    return spans


def _apply(turn: Turn, spans: list[tuple[int, int]], repair: Repair) -> tuple[float | None, float | None]:
    """Rewrite the words under text[repair.start:repair.end]; returns the audio time of the repaired span."""
    covered = [index for index, (start, end) in enumerate(spans) if start < repair.end and end > repair.start]
    turn.text = turn.text[: repair.start] + repair.written + turn.text[repair.end :]
    if not covered:
        return turn.start, turn.end
    first, last = covered[0], covered[-1]
    words = turn.words
    start_time, end_time = words[first].start, words[last].end
    if len(repair.written) == len(repair.heard):
        # same length: character for character, every word keeps its own timing
        for index in covered:
            word_start, word_end = spans[index]
            chars = list(words[index].text)
            for position in range(max(word_start, repair.start), min(word_end, repair.end)):
                chars[position - word_start] = repair.written[position - repair.start]
            _rewrite(words[index], "".join(chars))
        return start_time, end_time
    head = words[first].text[: max(0, repair.start - spans[first][0])]
    tail = words[last].text[max(0, repair.end - spans[last][0]) :]
    merged = Word(
        start=start_time,
        end=end_time,
        text=head + repair.written + tail,
        probability=min(word.probability for word in words[first : last + 1]),
        raw="".join(word.raw if word.raw is not None else word.text for word in words[first : last + 1]),
    )
    turn.words[first : last + 1] = [merged]
    return start_time, end_time


def _rewrite(word: Word, text: str) -> None:
    if text != word.text:
        if word.raw is None:
            word.raw = word.text
        word.text = text


class LexiconReviser:
    """The pipeline's transcript reviser (`pipeline.run.Reviser`): sound-alike repair with one lexicon."""

    def __init__(self, lexicon: Lexicon | None, options: RepairOptions | None = None):
        self.lexicon = lexicon
        self.options = options or RepairOptions()

    def revise(self, turns: list[Turn]) -> list[PipelineWarning]:
        return repair_turns(turns, self.lexicon, self.options)
