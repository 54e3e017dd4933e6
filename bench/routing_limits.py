"""What limits the auto-dispatch share on the Haikou tickets (issue 15): how much of the default ranker's error among
its most confident tickets the history itself supports.

Trains the default routing model (catalogue unit names, instructions stripped) on the stratified split of
bench/routing.py --dispatch (seed 0, the calls' tickets held out) and reports, on the hold-out:
- the errors in the most confident 50/60/70% against what the 4.13% target allows there;
- of those errors, how many the history supports: a near-duplicate training ticket (e5 cosine ≥ 0.95) went to the
  unit the model chose, or the ticket's own matter category (行业分类, levels 1-3 as the operator filed it) went
  to that unit at least as often as to the gold one in training;
- the matter taxonomy as an oracle: routing each hold-out ticket to the unit its gold category (levels 1-2, 1-3,
  1-4) went to most often in training (top-1, and the share at ≤4.13% ranked by that unit's majority).

    OMP_NUM_THREADS=1 .venv/bin/python bench/routing_limits.py --threads 1 --json bench/results/routing-limits.json
"""

import argparse
import collections
import json
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))

import numpy as np  # noqa: E402
from routing import DEFAULT_DATA, CachedEncoder, gold_ticket_ids, read_taxonomy  # noqa: E402

from extract.catalogue import load_catalogue  # noqa: E402
from extract.routing import (  # noqa: E402
    DEFAULT_TARGET_ERROR,
    RoutingModel,
    auto_dispatch_share,
    read_labelled_rows,
    stratified_split,
    strip_routing_instruction,
)

NEAR_DUPLICATE = 0.95


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_DATA / "haikou12345" / "tickets.csv")
    parser.add_argument("--calls", type=Path, default=DEFAULT_DATA / "calls")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=Path("bench/results/routing-limits.json"))
    args = parser.parse_args(argv)
    if not args.csv.is_file():
        print(f"{args.csv} not found", file=sys.stderr)
        return 2
    texts, labels, ids = read_labelled_rows(args.csv, "诉求内容", "处置单位", "工单编号")
    catalogue = load_catalogue()
    canonical = [catalogue.canonical(label) for label in labels]
    taxonomy = read_taxonomy(args.csv, ids)
    gold_ids = set(gold_ticket_ids(args.calls)) if args.calls.is_dir() else set()
    forced = [index for index, ticket in enumerate(ids) if ticket in gold_ids]
    train, test = stratified_split(texts, labels, test_fraction=0.2, seed=0, force_test=forced)
    aliases = {label: catalogue.canonical(label) for label in set(labels)}
    encoder = CachedEncoder(args.threads)
    model = RoutingModel.train([texts[i] for i in train], [labels[i] for i in train], None, aliases, encoder=encoder)
    probabilities = model.predict_proba([texts[i] for i in test])
    confidence = probabilities.max(axis=1)
    chosen = [model.labels[column] for column in probabilities.argmax(axis=1)]
    gold = [canonical[i] for i in test]
    wrong = np.array([c != g for c, g in zip(chosen, gold, strict=True)])

    # near-duplicate training tickets, by e5 cosine on the stripped texts the model embeds
    vectors = encoder.passages([strip_routing_instruction(texts[i])[:2000] for i in train + test])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    similarity = vectors[len(train) :] @ vectors[: len(train)].T
    path3 = collections.defaultdict(collections.Counter)
    for i in train:
        path3[taxonomy[i][:3]][canonical[i]] += 1

    def supported(position: int) -> dict:
        near = np.flatnonzero(similarity[position] >= NEAR_DUPLICATE)
        near_units = {canonical[train[j]] for j in near}
        counts = path3.get(taxonomy[test[position]][:3], collections.Counter())
        return {
            "near_duplicate": chosen[position] in near_units,
            "category": counts[chosen[position]] > 0 and counts[chosen[position]] >= counts[gold[position]],
        }

    order = np.argsort(-confidence, kind="stable")
    report: dict = {"n_test": len(test), "near_duplicate_bar": NEAR_DUPLICATE, "coverage": {}}
    for share in (0.5, 0.6, 0.7):
        top = order[: round(share * len(test))]
        errors = [int(p) for p in top if wrong[p]]
        marks = [supported(p) for p in errors]
        report["coverage"][f"{share:.0%}"] = {
            "tickets": len(top),
            "errors": len(errors),
            "allowed_at_target": DEFAULT_TARGET_ERROR * len(top),
            "supported_by_near_duplicate": sum(m["near_duplicate"] for m in marks),
            "supported_by_category": sum(m["category"] for m in marks),
            "supported_by_either": sum(m["near_duplicate"] or m["category"] for m in marks),
        }
    has_near = (similarity >= NEAR_DUPLICATE).any(axis=1)
    near_disagree = [
        len({canonical[train[j]] for j in np.flatnonzero(similarity[p] >= NEAR_DUPLICATE)}) > 1
        for p in range(len(test))
        if has_near[p]
    ]
    report["near_duplicates"] = {
        "tickets_with_one": int(has_near.sum()),
        "of_which_their_units_disagree": int(sum(near_disagree)),
    }
    report["oracle_category"] = {}
    for levels in (2, 3, 4):
        by_path = collections.defaultdict(collections.Counter)
        for i in train:
            by_path[taxonomy[i][:levels]][canonical[i]] += 1
        score, right = [], []
        for i in test:
            counts = by_path.get(taxonomy[i][:levels])
            if not counts:
                score.append(0.0)
                right.append(False)
                continue
            unit, n = counts.most_common(1)[0]
            score.append(n / sum(counts.values()) + 1e-6 * sum(counts.values()))  # ties: the better-attested first
            right.append(unit == canonical[i])
        report["oracle_category"][f"levels 1-{levels}"] = {
            "categories": len(by_path),
            "top1": float(np.mean(right)),
            "share_at_target": auto_dispatch_share(score, right, DEFAULT_TARGET_ERROR)["share"],
        }
    print(json.dumps(report, ensure_ascii=False, indent=1))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
