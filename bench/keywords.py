"""Finding the duty catalogue's keywords in text: one Aho-Corasick pass (pyahocorasick, what
`extract.catalogue.Catalogue` uses) against the regex alternation it replaced. Both give the same hits.

    .venv/bin/python bench/keywords.py [--repeat 5]
"""

import argparse
import json
import re
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

import ahocorasick  # noqa: E402

from extract.catalogue import _fold, load_catalogue  # noqa: E402

ROOT = _HERE.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    words = sorted(load_catalogue()._keywords, key=lambda word: (-len(word), word))
    started = time.perf_counter()
    pattern = re.compile("(?=(" + "|".join(map(re.escape, words)) + "))")
    regex_build = time.perf_counter() - started
    started = time.perf_counter()
    automaton = ahocorasick.Automaton()
    for word in words:
        automaton.add_word(word, word)
    automaton.make_automaton()
    automaton_build = time.perf_counter() - started

    gold = json.loads((ROOT / "samples" / "demo-call.json").read_text(encoding="utf-8"))
    request = "我们小区楼下的工地天天晚上施工，噪音很大，还有垃圾没人清理，路灯也不亮，占道经营很严重" * 5
    texts = [_fold(turn["text"]) for turn in gold["turns"]] * 50 + [_fold(request)] * 100

    def by_regex(text: str) -> list[tuple[int, str]]:
        return sorted((match.start(), match.group(1)) for match in pattern.finditer(text))

    def by_automaton(text: str) -> list[tuple[int, str]]:
        longest: dict[int, str] = {}
        for end, word in automaton.iter(text):
            start = end - len(word) + 1
            if len(word) > len(longest.get(start, "")):
                longest[start] = word
        return sorted(longest.items())

    assert all(by_regex(text) == by_automaton(text) for text in texts), "the two disagree"
    print(f"{len(words)} keywords, {len(texts)} texts, {sum(map(len, texts))} characters")
    print(f"| method | build ms | match ms (best of {args.repeat}) |")
    print("|---|---|---|")
    for name, build, find in (
        ("regex alternation", regex_build, by_regex),
        ("Aho-Corasick", automaton_build, by_automaton),
    ):
        runs = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            for text in texts:
                find(text)
            runs.append(time.perf_counter() - started)
        print(f"| {name} | {build * 1000:.1f} | {min(runs) * 1000:.1f} |")


if __name__ == "__main__":
    main()
