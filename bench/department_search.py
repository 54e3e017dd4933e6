"""Search by duty (`Catalogue.search`, the operator page's 其他单位 box) scored on the Haikou 12345 tickets.

A query is what an operator would type to find who handles a matter: a ticket's most specific matter label
(行业分类4级, else 3级: "拒开发票", "开发商合同纠纷", "投诉违停"; generic labels such as 其他 or 信息咨询 are
skipped), taken from the held-out 20% of the routing benchmark's split (`stratified_split`, seed 0), up to
`--per-unit` distinct phrases per unit, for every catalogue unit that has held-out tickets. The right unit is
the ticket's 处置单位 through the catalogue's `canonical()`. Rows:

- "keywords only": `Catalogue.match` (the duty keywords in the query, by characters and by sound), the ranking
  the box could have had from what routing already did;
- "search": `Catalogue.search` (names and aliases, keywords, sound, and character pairs shared with a matter);
- "best possible top-1": the share of queries whose phrase goes to their unit more often than to any other in
  all 4,788 tickets; the same phrase is filed under several units (信息咨询-like labels that remain), so no
  ranker can do better at top-1 from the phrase alone;
- "search, then e5" (`--e5`, not served): units the search scores equal (most often: none matched) ordered by
  multilingual-e5-small similarity of the query to each matter's name and keywords (`extract.embeddings`);
  what the embeddings would add if the web process loaded them;
- unit names as written on the tickets (原处置单位, e.g. "海口市工商局"): the unit `canonical()` gives that
  name should come first (the tickets file town governments under 人民政府办公室, the catalogue under
  街道办事处: the catalogue's reading is the one scored here).

Phrases that are also a catalogue keyword are counted in the JSON (`verbatim_keywords`): the catalogue was
written with these tickets at hand, so read the numbers as a check of the ranking, not of the catalogue's reach.
Skips cleanly when ../shared/data is absent.

    .venv/bin/python bench/department_search.py [--per-unit 3] [--e5] [--json bench/results/department_search.json]
"""

import argparse
import csv
import json
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

# Run as `python bench/department_search.py`, this file's folder comes first on sys.path; keep the project's
# packages importable and unshadowed.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from extract.catalogue import Catalogue, load_catalogue  # noqa: E402
from extract.routing import stratified_split  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
# labels that say nothing about the matter
GENERIC_LABELS = {"", "其他", "其它", "信息咨询", "咨询", "投诉", "建议", "求助", "举报", "表扬", "12345热线"}

out = Console(width=140)


def matter_phrase(row: dict[str, str]) -> str | None:
    """The ticket's most specific matter label that says something (4级, else 3级), or None."""
    for column in ("行业分类4级", "行业分类3级"):
        label = (row.get(column) or "").strip()
        if label not in GENERIC_LABELS:
            return label
    return None


def rank_of(target: str, ranked: list[str]) -> int | None:
    return ranked.index(target) + 1 if target in ranked else None


def score(queries: list[tuple[str, str]], rank) -> dict:
    ranks = []
    started = time.perf_counter()
    for query, target in queries:
        ranks.append(rank_of(target, rank(query)))
    elapsed = time.perf_counter() - started
    total = len(queries)
    return {
        "queries": total,
        "top1": sum(r == 1 for r in ranks) / total,
        "top3": sum(r is not None and r <= 3 for r in ranks) / total,
        "none": sum(r is None for r in ranks) / total,
        "ms_per_query": 1000 * elapsed / total,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--per-unit", type=int, default=3, help="distinct held-out phrases per unit, at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--e5", action="store_true", help="also rank ties by e5 similarity (loads the model)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "department_search.json")
    args = parser.parse_args()
    tickets = args.data / "haikou12345" / "tickets.csv"
    if not tickets.is_file():
        out.print(f"skipped: {tickets} is absent (the shared data folder, see its README)")
        return 0

    catalogue: Catalogue = load_catalogue()
    with tickets.open(encoding="utf-8-sig", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get("处置单位") and row.get("诉求内容")]
    units = [catalogue.canonical(row["处置单位"]) for row in rows]
    _, test = stratified_split([row["诉求内容"] for row in rows], units, test_fraction=0.2, seed=args.seed)

    phrase_units: dict[str, Counter] = defaultdict(Counter)
    for row, unit in zip(rows, units, strict=True):
        if (phrase := matter_phrase(row)) is not None:
            phrase_units[phrase][unit] += 1
    held_out: dict[str, list[str]] = defaultdict(list)
    for index in test:
        phrase = matter_phrase(rows[index])
        if phrase is not None and phrase not in held_out[units[index]]:
            held_out[units[index]].append(phrase)
    rng = random.Random(args.seed)
    queries = [
        (phrase, unit)
        for unit in sorted(held_out)
        for phrase in rng.sample(held_out[unit], min(args.per_unit, len(held_out[unit])))
    ]
    names = sorted({(name, catalogue.canonical(name)) for row in rows if (name := row["原处置单位"].strip())})

    def by_keywords(query: str) -> list[str]:
        return [match.department for match in catalogue.match(query, k=len(catalogue.departments))]

    def by_search(query: str) -> list[str]:
        return [found.department for found in catalogue.search(query, k=len(catalogue.departments))]

    matter_phrases = {"keywords only": score(queries, by_keywords), "search": score(queries, by_search)}
    if args.e5:
        matter_phrases["search, then e5"] = score(queries, e5_tiebreak(catalogue, by_search))
    keywords = {_fold(word) for dept in catalogue.departments for matter in dept.matters for word in matter.keywords}
    majority = sum(phrase_units[phrase].most_common(1)[0][0] == unit for phrase, unit in queries) / len(queries)
    results = {
        "units": len(held_out),
        "per_unit": args.per_unit,
        "verbatim_keywords": sum(_fold(phrase) in keywords for phrase, _ in queries),
        "best_possible_top1": majority,
        "matter_phrases": matter_phrases,
        "unit_names": {"keywords only": score(names, by_keywords), "search": score(names, by_search)},
    }

    table = Table(title=f"search by duty: {len(queries)} matter phrases of {len(held_out)} units, {len(names)} names")
    for column in ("query", "ranker", "top-1", "top-3", "no result", "ms/query"):
        table.add_column(column, justify="left" if column in ("query", "ranker") else "right")
    for kind in ("matter_phrases", "unit_names"):
        for ranker, row in results[kind].items():
            table.add_row(
                kind.replace("_", " "),
                ranker,
                f"{row['top1']:.1%}",
                f"{row['top3']:.1%}",
                f"{row['none']:.1%}",
                f"{row['ms_per_query']:.2f}",
            )
    table.add_row("matter phrases", "best possible top-1", f"{majority:.1%}", "", "", "")
    out.print(table)
    out.print(f"phrases that are also a catalogue keyword: {results['verbatim_keywords']} of {len(queries)}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    out.print(f"wrote {args.json}")
    return 0


def e5_tiebreak(catalogue: Catalogue, by_search):
    """A ranker: the search's ranking, then the remaining units by their best matter's e5 similarity."""
    from extract.embeddings import get_embedder

    embedder = get_embedder()
    matters = [
        (dept.name, f"{matter.name}：{'、'.join(matter.keywords)}")
        for dept in catalogue.departments
        for matter in dept.matters
    ]
    passages = embedder.passages([text for _, text in matters])

    def rank(query: str) -> list[str]:
        similarity = passages @ embedder.queries([query])[0]
        by_e5 = [matters[index][0] for index in similarity.argsort()[::-1]]
        found = by_search(query)
        return list(dict.fromkeys(found + by_e5))

    return rank


def _fold(text: str) -> str:
    return text.strip().lower()


if __name__ == "__main__":
    sys.exit(main())
