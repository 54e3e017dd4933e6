"""Department routing classifiers side by side on the Haikou 12345 tickets (and the Teddy 2020 messages).

Every text goes through `extract.routing.strip_routing_instruction` first: the operator's routing
instruction names the answer. Split: stratified 20% hold-out with a fixed seed; the tickets that the
24 gold calls (shared/data/calls) were made from are forced into the hold-out, so a model trained on
this split can be scored on those calls honestly. Model choices were made by k-fold cross-validation
on the training part (printed as cv_top1/cv_top3); the hold-out is scored once per configuration.

Label sets: raw 处置单位 (124 names, with units renamed during the period counted as different),
canonical (an alias map built here from labels_merge.txt plus renames found in the data), and, if
`extract.catalogue` is present, the duty catalogue's `canonical()`.

e5 embeddings are cached under bench/results/routing-embeddings/ by text hash (the first run embeds
4.8k tickets, about 4-5 minutes on 2 cores); predict throughput of embedding variants is measured
with cached embeddings, and the embedder's own throughput is printed separately.

Coverage columns: top-1 accuracy on the most confident 50/70/90% of the hold-out (by top-1 probability),
the share an operator could pre-accept with a threshold; the JSON also has the probability cut-offs.

    .venv/bin/python bench/routing.py --threads 2 --json bench/results/routing.json

`--dispatch` measures instead what the product uses the model for (issue 15): the default model with catalogue
unit names, calibrated as `hotline train routing` does, on a stratified hold-out and on a temporal one (train on
the months before --test-from, test on the rest; the calls' tickets never trained on): top-1/top-3, the share
auto-dispatched at the target error (4.13%) with its threshold, the threshold chosen on validation and the error
it gives on the test months, ECE before and after calibration, per calibration method.

    .venv/bin/python bench/routing.py --threads 1 --dispatch --json bench/results/routing-dispatch.json

`--dispatch --variants` does the same for each ranker of DISPATCH_VARIANTS (the default first), on the same splits.
The key-area variants (`--only default,"zones rule …"`) take the catalogue's zones, and with history places the
places the training tickets show a zone's unit handling: candidates are the places `hotline lexicon build` mines (Baidu
LAC, cached per text in bench/results/zone-places.json) from the split's training tickets only, named in 2 or more of
them, and their stems, as a lexicon built with `--exclude-ids` would list them; the table also reports top-1 on the
hold-out tickets inside a zone and on those of the zones' units.

    .venv/bin/python bench/routing.py --threads 1 --dispatch --variants --methods sigmoid \
        --only "default,zones rule (catalogue places),zones rule + history places,zones feature + history places"
"""

import argparse
import hashlib
import json
import logging
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

# Run as `python bench/routing.py`, this file's folder comes first on sys.path; keep the project's
# packages importable and unshadowed.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from extract.lexicon import division_entries, mine_places, place_suffix  # noqa: E402
from extract.routing import (  # noqa: E402
    DEFAULT_TARGET_ERROR,
    RoutingModel,
    RoutingOptions,
    evaluate_routing,
    month_of,
    read_labelled_csv,
    read_labelled_rows,
    share_at_threshold,
    stratified_folds,
    stratified_split,
    strip_routing_instruction,
    temporal_split,
    validation_folds,
)
from extract.routing.zones import PlaceTerms, ZoneTable  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
CACHE = ROOT / "bench" / "results" / "routing-embeddings"
PLACES_CACHE = ROOT / "bench" / "results" / "zone-places.json"

out = Console(width=170)
log = Console(stderr=True, width=170)

VARIANTS: dict[str, RoutingOptions] = {
    "baseline char_wb 1-3 LR": RoutingOptions(
        analyzer="char_wb",
        ngram_max=3,
        min_df=2,
        classifier="logreg",
        C=10.0,
        request_kind=False,
        use_embeddings=False,
    ),
    "char 1-2 SVM": RoutingOptions(request_kind=False, class_weight_power=0.0, use_embeddings=False),
    "char 1-2 SVM +kind": RoutingOptions(class_weight_power=0.0, use_embeddings=False),
    "char 1-2 SVM +kind +weights": RoutingOptions(use_embeddings=False),
    "e5 LR": RoutingOptions(embedding_weight=1.0, neighbour_weight=0.0),
    # the default until class weights and the neighbour vote: char SVM 0.6 + e5 LR 0.4
    "ensemble (previous)": RoutingOptions(class_weight_power=0.0, embedding_weight=0.4, neighbour_weight=0.0),
    "ensemble (default)": RoutingOptions(),
}


@dataclass(frozen=True)
class DispatchVariant:
    """A ranker of `--dispatch --variants`: its options, and how many levels of the 行业分类 matter taxonomy its
    category part is trained on (0: no category part)."""

    options: RoutingOptions
    category_levels: int = 0
    history_places: bool = False
    """With zones: add the places the split's training tickets show each zone's unit handling."""


# `--dispatch --variants`: the default and candidate rankers, on the same splits in the same run. Step 1 (issue 15)
# measured near-duplicate votes and a heavier neighbour vote here (docs/BENCHMARKS.md: none helped); step 2: the
# matter taxonomy as an intermediate target, a stacked dispatch confidence, recency weights.
DISPATCH_VARIANTS: dict[str, DispatchVariant] = {
    "default": DispatchVariant(RoutingOptions()),
    "category route L2 0.1": DispatchVariant(RoutingOptions(category_weight=0.1), 2),
    "category route L2 0.2": DispatchVariant(RoutingOptions(category_weight=0.2), 2),
    "category route L3 0.1": DispatchVariant(RoutingOptions(category_weight=0.1), 3),
    "stacked confidence": DispatchVariant(RoutingOptions(confidence="stacked")),
    "stacked confidence + category L2": DispatchVariant(RoutingOptions(confidence="stacked"), 2),
    "stacked + category route L2 0.1": DispatchVariant(RoutingOptions(confidence="stacked", category_weight=0.1), 2),
    "boosted confidence + category L2": DispatchVariant(RoutingOptions(confidence="boosted"), 2),
    "recency half-life 2 months": DispatchVariant(RoutingOptions(recency_half_life=2.0)),
    "recency half-life 4 months": DispatchVariant(RoutingOptions(recency_half_life=4.0)),
    # key areas (the catalogue's zones): a rule on the scores, or a feature of the char model
    "zones rule (catalogue places)": DispatchVariant(RoutingOptions(zones="rule")),
    "zones rule + history places": DispatchVariant(RoutingOptions(zones="rule"), history_places=True),
    "zones rule 0.5 + history places": DispatchVariant(
        RoutingOptions(zones="rule", zone_weight=0.5), history_places=True
    ),
    "zones feature (catalogue places)": DispatchVariant(RoutingOptions(zones="feature")),
    "zones feature + history places": DispatchVariant(RoutingOptions(zones="feature"), history_places=True),
}

# Renames and spellings of the same unit seen in the data, beyond labels_merge.txt's second column.
# The same 原处置单位 "海口工商局" appears as both 工商局 and 工商行政管理局; both are market regulation today.
EXTRA_ALIASES = {
    "工商局": "市场监督管理局",
    "工商行政管理局": "市场监督管理局",
    "市政务中心": "政务服务中心",
    "人口计划生育委员会": "卫生与计划生育委员会",
    "住房保障中心": "住房保障和房产管理局",
    "生态环境保护局": "环境保护局",
    "人事劳动仲裁院": "劳动争议仲裁委员会",
}
# labels_merge.txt groups 财政局 with the state-assets commission; that is a grouping, not a rename.
NOT_ALIASES = {"财政局"}


def build_aliases(merge_file: Path, labels: list[str]) -> dict[str, str]:
    """alias → canonical for every label, following chains (人民政府 → 人民政府办公室)."""
    direct: dict[str, str] = {}
    if merge_file.is_file():
        for line in merge_file.read_text(encoding="utf-8").splitlines():
            name, _, rest = line.strip().partition(",")
            parts = rest.split(maxsplit=1)
            if len(parts) == 2 and parts[1] != name and name not in NOT_ALIASES:
                direct[name] = parts[1]
    direct.update(EXTRA_ALIASES)
    aliases = {}
    for label in set(labels):
        seen, name = {label}, label
        while name in direct and direct[name] not in seen:
            name = direct[name]
            seen.add(name)
        if name != label:
            aliases[label] = name
    return aliases


class CachedEncoder:
    """`TextEncoder` that keeps each embedding on disk by text hash, computing only what is missing."""

    def __init__(self, threads: int):
        self.threads = threads
        self.computed = 0
        self.compute_seconds = 0.0
        CACHE.mkdir(parents=True, exist_ok=True)

    def passages(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] for text in texts]
        missing = {key: text for key, text in zip(keys, texts, strict=True) if not (CACHE / f"{key}.npy").exists()}
        if missing:
            from extract.embeddings import get_embedder

            embedder = get_embedder(self.threads)
            items = list(missing.items())
            log.print(f"embedding {len(items)} texts (cached afterwards) …")
            for start in range(0, len(items), 32):
                chunk = items[start : start + 32]
                began = time.perf_counter()
                vectors = embedder.passages([text for _, text in chunk])
                self.compute_seconds += time.perf_counter() - began
                self.computed += len(chunk)
                for (key, _), vector in zip(chunk, vectors, strict=True):
                    np.save(CACHE / f"{key}.npy", vector)
        return np.stack([np.load(CACHE / f"{key}.npy") for key in keys]).astype(np.float32)


class CachedPlaces:
    """The place names `extract.lexicon.mine_places` finds in each (stripped) ticket text, kept on disk by text hash:
    Baidu LAC takes some 20-50 ms a text."""

    def __init__(self):
        self.known = [entry.term for entry in division_entries("海南省", "海口市")]
        self.cache: dict[str, list[str]] = {}
        if PLACES_CACHE.is_file():
            self.cache = json.loads(PLACES_CACHE.read_text(encoding="utf-8"))

    def of(self, texts: list[str]) -> list[set[str]]:
        keys = [hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] for text in texts]
        missing = [(key, text) for key, text in zip(keys, texts, strict=True) if key not in self.cache]
        if missing:
            log.print(f"mining places in {len(missing)} texts (cached afterwards) …")
            for key, text in missing:
                self.cache[key] = sorted(mine_places([text], known=self.known))
            PLACES_CACHE.parent.mkdir(parents=True, exist_ok=True)
            PLACES_CACHE.write_text(json.dumps(self.cache, ensure_ascii=False), encoding="utf-8")
        return [set(self.cache[key]) for key in keys]

    def terms(self, texts: list[str], min_count: int = 2) -> PlaceTerms:
        """The places named in `min_count` or more of `texts` and their stems (3+ characters), as `hotline lexicon
        build --csv` would list them from these texts: the candidates for a zone's places."""
        counts: dict[str, int] = {}
        for places in self.of(texts):
            for place in places:
                counts[place] = counts.get(place, 0) + 1
        names = {place for place, count in counts.items() if count >= min_count}
        stems = {name[: -len(place_suffix(name))] for name in names if place_suffix(name)}
        return PlaceTerms(names | {stem for stem in stems if len(stem) >= 3})


def read_taxonomy(path: Path, ids: list[str]) -> list[tuple[str, ...]]:
    """The 行业分类1级..4级 of each ticket of `ids` (the rows `read_labelled_rows` kept, in its order)."""
    import csv

    with path.open(encoding="utf-8-sig", newline="") as handle:
        by_id = {
            row["工单编号"].strip(): tuple((row.get(f"行业分类{level}级") or "").strip() for level in range(1, 5))
            for row in csv.DictReader(handle)
        }
    return [by_id[ticket] for ticket in ids]


def gold_ticket_ids(calls: Path) -> list[str]:
    ids = []
    for gold in sorted(calls.glob("*.json")):
        data = json.loads(gold.read_text(encoding="utf-8"))
        if data.get("source_ticket_id"):
            ids.append(str(data["source_ticket_id"]))
    return ids


def score_variant(
    options: RoutingOptions,
    texts: list[str],
    labels: list[str],
    train: list[int],
    test: list[int],
    aliases: dict[str, str],
    encoder: CachedEncoder,
    folds: int,
    seed: int,
) -> dict:
    pick = lambda indices, values: [values[i] for i in indices]  # noqa: E731
    train_texts, train_labels = pick(train, texts), pick(train, labels)
    row: dict = {}
    if folds > 1:
        scores = []
        for fold_train, fold_test in stratified_folds([aliases.get(x, x) for x in train_labels], folds, seed):
            model = RoutingModel.train(
                pick(fold_train, train_texts), pick(fold_train, train_labels), options, aliases, encoder=encoder
            )
            scores.append(
                evaluate_routing(model, pick(fold_test, train_texts), pick(fold_test, train_labels), (1, 3), aliases)
            )
        row["cv_top1"] = float(np.mean([s["top1"] for s in scores]))
        row["cv_top3"] = float(np.mean([s["top3"] for s in scores]))
    began = time.perf_counter()
    model = RoutingModel.train(train_texts, train_labels, options, aliases, encoder=encoder)
    row["train_s"] = time.perf_counter() - began
    began = time.perf_counter()
    result = evaluate_routing(model, pick(test, texts), pick(test, labels), (1, 3), aliases)
    row["predict_per_s"] = len(test) / (time.perf_counter() - began)
    row.update(top1=result["top1"], top3=result["top3"], n_test=result["n"], unseen=result["unseen"])
    row["coverage"] = result["coverage"]
    row["labels"] = len(model.labels)
    row["model"] = model
    return row


def dispatch_rows(
    texts: list[str],
    labels: list[str],
    months: list[str],
    forced: list[int],
    aliases: dict[str, str],
    encoder: CachedEncoder,
    seed: int,
    test_from: str,
    target_error: float,
    methods: tuple[str, ...],
    variants: dict[str, DispatchVariant] | None = None,
    taxonomy: list[tuple[str, ...]] | None = None,
    zones: ZoneTable | None = None,
) -> list[dict]:
    """Each variant (default: the default model), calibrated by each method, on the stratified and the temporal
    hold-out. taxonomy: each ticket's 行业分类 levels (for variants with a category part); zones: the catalogue's key
    areas (for variants with zones)."""
    variants = variants or {"default": DispatchVariant(RoutingOptions())}
    canonical = [aliases.get(label, label) for label in labels]
    needs_places = any(spec.history_places for spec in variants.values())
    places = CachedPlaces() if needs_places else None
    # what the model reads of each ticket (and finds zones in)
    clean = [strip_routing_instruction(text)[: RoutingOptions().max_chars] for text in texts]
    splits = {
        "stratified": stratified_split(texts, labels, test_fraction=0.2, seed=seed, force_test=forced),
        "temporal": temporal_split(months, test_from, exclude=forced),
    }
    rows = []
    for split, (train, test) in splits.items():
        train_months = [months[i] for i in train] if split == "temporal" else None
        folds = validation_folds([canonical[i] for i in train], train_months, seed=seed)
        # the candidates for a zone's places: mined from this split's training tickets only
        split_places = places.terms([clean[i] for i in train]) if places is not None else None
        # hold-out tickets inside a catalogue zone whose unit the history knows, and the zones' units' own tickets
        zone_units = set(zones.units) if zones is not None else set()
        inside = [i for i in test if zones is not None and zones.find(clean[i])]
        of_zone_units = [i for i in test if canonical[i] in zone_units]
        for (variant, spec), method in [(item, method) for item in variants.items() for method in methods]:
            log.print(f"dispatch / {split} / {variant} / {method} …")
            options, levels = spec.options, spec.category_levels
            categories = None
            if levels:
                categories = ["/".join(taxonomy[i][:levels]) for i in train]
            began = time.perf_counter()
            model = RoutingModel.train_calibrated(
                [texts[i] for i in train],
                [labels[i] for i in train],
                folds,
                options,
                aliases,
                target_error=target_error,
                method=method,
                encoder=encoder,
                categories=categories,
                months=[months[i] for i in train],
                zones=zones if options.zones != "off" else None,
                zone_places=split_places if spec.history_places else None,
            )
            train_s = time.perf_counter() - began
            test_texts, test_labels = [texts[i] for i in test], [labels[i] for i in test]
            result = evaluate_routing(model, test_texts, test_labels, (1, 3), aliases, target_error=target_error)
            subsets = {}
            for subset, rows_of in (("inside a catalogue zone", inside), ("of a zone's unit", of_zone_units)):
                if rows_of:
                    scored = evaluate_routing(
                        model, [texts[i] for i in rows_of], [labels[i] for i in rows_of], (1, 3), aliases
                    )
                    subsets[subset] = {"n": scored["n"], "top1": scored["top1"], "top3": scored["top3"]}
            zone_places = None
            if model.zones is not None:
                zone_places = {
                    zone.name: [place.name for place in zone.places if place.source == "history"]
                    for zone in model.zones.zones
                }
            per_month = {}
            if split == "temporal":
                # the validation month's threshold, month by month on the test months
                probabilities, confidence = model.predict_with_confidence(test_texts)
                first = [model.labels[column] for column in probabilities.argmax(axis=1)]
                correct = [choice == canonical[i] for choice, i in zip(first, test, strict=True)]
                for month in sorted({months[i] for i in test}):
                    members = [position for position, i in enumerate(test) if months[i] == month]
                    per_month[month] = share_at_threshold(
                        confidence[members], [correct[p] for p in members], model.dispatch_threshold
                    )
            rows.append(
                {
                    "split": split,
                    "variant": variant,
                    "options": asdict(options),
                    "category_levels": levels,
                    "method": method,
                    "n_train": len(train),
                    "n_test": len(test),
                    "validation": "3 stratified folds"
                    if split == "stratified"
                    else ", ".join(train_months[validation[0]] for _, validation in folds),
                    "train_s": train_s,
                    "top1": result["top1"],
                    "top3": result["top3"],
                    "auto_dispatch": result["auto_dispatch"],
                    "at_model_threshold": result["at_model_threshold"],
                    "model_dispatch": model.dispatch,
                    "calibration": result["calibration"],
                    "per_test_month": per_month,
                    "subsets": subsets,
                    "history_zone_places": zone_places,
                }
            )
    return rows


def print_dispatch(rows: list[dict], target_error: float) -> None:
    table = Table(title=f"Auto-dispatch at ≤{target_error:.2%} error, catalogue units")
    columns = ("split", "variant", "calibration", "train / test", "top-1", "top-3", "share (best thr.)", "best thr.")
    columns += ("validation thr.", "val. share / error", "test share / error", "ECE raw → cal.")
    for column in columns:
        table.add_column(column, justify="left" if column in ("split", "variant", "calibration") else "right")
    for row in rows:
        best, chosen, validation = row["auto_dispatch"], row["at_model_threshold"], row["model_dispatch"]["validation"]
        table.add_row(
            row["split"],
            row["variant"],
            row["method"],
            f"{row['n_train']} / {row['n_test']}",
            f"{row['top1']:.1%}",
            f"{row['top3']:.1%}",
            f"{best['share']:.1%}",
            "-" if best["threshold"] is None else f"{best['threshold']:.3f}",
            "-" if chosen["threshold"] is None else f"{chosen['threshold']:.3f}",
            f"{validation['share']:.1%} / {validation['error']:.2%}",
            f"{chosen['share']:.1%} / {chosen['error']:.2%}",
            f"{row['calibration']['ece_raw']:.3f} → {row['calibration']['ece']:.3f}",
        )
    out.print(table)
    for row in rows:
        for subset, scored in row["subsets"].items():
            out.print(
                f"{row['split']} / {row['variant']}: hold-out tickets {subset}: {scored['n']}, "
                f"top-1 {scored['top1']:.1%}, top-3 {scored['top3']:.1%}"
            )
        if row["history_zone_places"]:
            out.print(f"{row['split']} / {row['variant']}: places from the history: {row['history_zone_places']}")
    for row in rows:
        for month, result in row["per_test_month"].items():
            out.print(
                f"{row['split']} / {row['variant']} / {row['method']}: {month}: {result['count']} of {result['n']} "
                f"({result['share']:.1%}) at the validation threshold, error {result['error']:.2%}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_DATA / "haikou12345" / "tickets.csv")
    parser.add_argument("--merge", type=Path, default=DEFAULT_DATA / "haikou12345" / "labels_merge.txt")
    parser.add_argument("--calls", type=Path, default=DEFAULT_DATA / "calls")
    parser.add_argument("--teddy", type=Path, default=DEFAULT_DATA / "teddy2020c" / "messages.csv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="embedder threads")
    parser.add_argument("--folds", type=int, default=3, help="cross-validation folds on the training part (0: none)")
    parser.add_argument("--teddy-embeddings", action="store_true", help="also embed the long Teddy letters (slow)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "routing.json")
    parser.add_argument("--dispatch", action="store_true", help="auto-dispatch share and calibration only")
    parser.add_argument("--test-from", default="2018-05", help="--dispatch: first month of the temporal hold-out")
    parser.add_argument("--target-error", type=float, default=DEFAULT_TARGET_ERROR)
    parser.add_argument("--methods", default="sigmoid,isotonic", help="--dispatch: calibration methods")
    parser.add_argument(
        "--variants", action="store_true", help="--dispatch: compare the candidate rankers (DISPATCH_VARIANTS)"
    )
    parser.add_argument(
        "--only", default="", help="--variants: comma-separated names of DISPATCH_VARIANTS to run (default: all)"
    )
    parser.add_argument(
        "--no-embeddings", action="store_true", help="--dispatch: every variant without the e5 parts (char model only)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if not args.csv.is_file():
        log.print(f"[red]{args.csv} not found")
        return 2

    texts, labels, ids = read_labelled_rows(args.csv, "诉求内容", "处置单位", "工单编号")
    gold_ids = set(gold_ticket_ids(args.calls)) if args.calls.is_dir() else set()
    forced = [index for index, ticket in enumerate(ids) if ticket in gold_ids]
    if args.dispatch:
        from extract.catalogue import load_catalogue

        catalogue = load_catalogue()
        aliases = {label: catalogue.canonical(label) for label in set(labels)}
        months = [month_of(ticket) for ticket in ids]
        methods = tuple(args.methods.split(","))
        taxonomy = read_taxonomy(args.csv, ids)
        wanted = [name.strip() for name in args.only.split(",") if name.strip()] or list(DISPATCH_VARIANTS)
        unknown = [name for name in wanted if name not in DISPATCH_VARIANTS]
        if unknown:
            log.print(f"[red]unknown variants: {', '.join(unknown)}")
            return 2
        variants = {name: DISPATCH_VARIANTS[name] for name in wanted} if args.variants else None
        if args.no_embeddings:
            chosen = variants or {"default": DispatchVariant(RoutingOptions())}
            variants = {
                name: replace(spec, options=replace(spec.options, use_embeddings=False))
                for name, spec in chosen.items()
            }
        rows = dispatch_rows(
            texts,
            labels,
            months,
            forced,
            aliases,
            CachedEncoder(args.threads),
            args.seed,
            args.test_from,
            args.target_error,
            methods,
            variants,
            taxonomy,
            ZoneTable.from_catalogue(catalogue),
        )
        print_dispatch(rows, args.target_error)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        config = {"csv": str(args.csv), "seed": args.seed, "test_from": args.test_from, "forced": len(forced)}
        config["target_error"] = args.target_error
        config["variants"] = list(variants) if variants else ["default"]
        config["embeddings"] = not args.no_embeddings
        args.json.write_text(json.dumps({"config": config, "results": rows}, ensure_ascii=False, indent=1), "utf-8")
        log.print(f"wrote {args.json}")
        return 0
    train, test = stratified_split(texts, labels, test_fraction=0.2, seed=args.seed, force_test=forced)
    log.print(f"{len(texts)} tickets: train {len(train)}, hold-out {len(test)} ({len(forced)} from gold calls)")

    label_sets: dict[str, dict[str, str]] = {"raw": {}, "canonical": build_aliases(args.merge, labels)}
    try:
        from extract.catalogue import load_catalogue

        catalogue = load_catalogue()
        label_sets["catalogue"] = {label: catalogue.canonical(label) for label in set(labels)}
    except ImportError:
        log.print("extract.catalogue not available: skipping the catalogue label set")

    stripped = [strip_routing_instruction(text) for text in texts]
    leak_pattern = __import__("re").compile(r"请.*(局|委|中心|公司|支队|大队|政府|办)")
    residual = sum(bool(leak_pattern.search(text)) for text in stripped)
    residual_not_question = sum(bool(leak_pattern.search(text.replace("请问", ""))) for text in stripped)

    encoder = CachedEncoder(args.threads)
    results: list[dict] = []
    default_model = None
    for set_name, aliases in label_sets.items():
        for variant, options in VARIANTS.items():
            log.print(f"{set_name} / {variant} …")
            row = score_variant(options, texts, labels, train, test, aliases, encoder, args.folds, args.seed)
            model = row.pop("model")
            if set_name == "canonical" and variant == "ensemble (default)":
                default_model = model
            results.append({"labels_set": set_name, "variant": variant, **row})

    # The gold calls' source tickets (ticket text, not the calls' transcripts), all in the hold-out.
    gold_score = None
    if default_model is not None and forced:
        aliases = label_sets["canonical"]
        gold_score = evaluate_routing(
            default_model, [texts[i] for i in forced], [labels[i] for i in forced], (1, 3), aliases
        )
        gold_score.pop("per_label")

    # The embedder alone, on texts it has not seen (not cached).
    embed_rate = None
    if default_model is not None:
        from extract.embeddings import get_embedder

        sample = [f"{stripped[i][:300]}（{n}）" for n, i in enumerate(test[:48])]
        began = time.perf_counter()
        get_embedder(args.threads).passages(sample)
        embed_rate = len(sample) / (time.perf_counter() - began)

    size_mb = None
    if default_model is not None:
        with tempfile.TemporaryDirectory() as folder:
            default_model.save(Path(folder))
            size_mb = sum(path.stat().st_size for path in Path(folder).iterdir()) / 1e6

    teddy_rows: list[dict] = []
    if args.teddy.is_file():
        t_texts, t_labels = read_labelled_csv(args.teddy, "text", "一级标签")
        t_train, t_test = stratified_split(t_texts, t_labels, test_fraction=0.2, seed=args.seed)
        teddy_variants = ["baseline char_wb 1-3 LR", "char 1-2 SVM", "char 1-2 SVM +kind +weights"]
        if args.teddy_embeddings:
            teddy_variants += ["e5 LR", "ensemble (default)"]
        for variant in teddy_variants:
            # the Teddy letters have no channel prefix, so the kind token would carry nothing
            options = replace(VARIANTS[variant], request_kind=False)
            log.print(f"teddy / {variant} …")
            row = score_variant(options, t_texts, t_labels, t_train, t_test, {}, encoder, args.folds, args.seed)
            row.pop("model")
            teddy_rows.append({"labels_set": "teddy2020c", "variant": variant, **row})

    table = Table(title=f"Department routing, stratified 20% hold-out, seed {args.seed}, instructions stripped")
    columns = ("data / labels", "variant", "labels", "cv top-1", "cv top-3", "top-1", "top-3")
    columns += ("top-1 @50%", "@70%", "@90%", "train s", "pred/s")
    for column in columns:
        table.add_column(column, justify="left" if column in ("data / labels", "variant") else "right")
    for row in results + teddy_rows:
        table.add_row(
            row["labels_set"],
            row["variant"],
            str(row["labels"]),
            f"{row['cv_top1']:.3f}" if "cv_top1" in row else "-",
            f"{row['cv_top3']:.3f}" if "cv_top3" in row else "-",
            f"{row['top1']:.3f}",
            f"{row['top3']:.3f}",
            *(f"{row['coverage'][share]['top1']:.3f}" for share in ("50%", "70%", "90%")),
            f"{row['train_s']:.1f}",
            f"{row['predict_per_s']:.0f}",
        )
    out.print(table)
    out.print(
        f"hold-out n={len(test)} (Haikou), n={len(teddy_rows and t_test)} (Teddy); "
        f"pred/s of e5 variants uses cached embeddings; e5 embedder alone: {embed_rate or 0:.1f} texts/s "
        f"({args.threads} threads); default model on disk: {size_mb or 0:.1f} MB"
    )
    if gold_score:
        out.print(
            f"gold-call source tickets (n={gold_score['n']}, canonical, default model): "
            f"top-1 {gold_score['top1']:.3f}, top-3 {gold_score['top3']:.3f}"
        )
    out.print(
        f"residual '请…(局|委|中心|公司|支队|大队|政府|办)' after stripping: {residual} of {len(texts)} texts "
        f"({residual_not_question} not counting 请问)"
    )

    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "config": {
            "csv": str(args.csv),
            "seed": args.seed,
            "folds": args.folds,
            "threads": args.threads,
            "n_train": len(train),
            "n_test": len(test),
            "gold_tickets_in_test": len(forced),
            "default_options": asdict(RoutingOptions()),
            "aliases_canonical": label_sets["canonical"],
        },
        "results": results + teddy_rows,
        "gold_call_tickets": gold_score,
        "embedder_texts_per_s": embed_rate,
        "model_size_mb": size_mb,
        "residual_instruction_texts": residual,
        "residual_instruction_texts_not_question": residual_not_question,
    }
    args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    log.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
