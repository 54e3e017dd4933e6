"""How much the duty catalogue's keyword matches should count against the trained routing model.

Department suggestions score `(1 - w) * model probability + w * catalogue match score`
(`ExtractOptions.catalogue_weight`). w is chosen on a validation split inside the training part of the
Haikou tickets (char model, no embeddings, so it runs in a minute) and then reported once on the
hold-out the routing benchmark uses (stratified 20%, seed 0, the gold calls' tickets in it). Labels are
the catalogue's canonical unit names; routing instructions are stripped.

    .venv/bin/python bench/catalogue_blend.py [--csv ../shared/data/haikou12345/tickets.csv] [--json OUT]
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _HERE]

from extract.catalogue import load_catalogue  # noqa: E402
from extract.routing import (  # noqa: E402
    RoutingModel,
    RoutingOptions,
    read_labelled_rows,
    stratified_split,
    strip_routing_instruction,
)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6)


def blended_accuracy(model, catalogue, texts, gold, weights):
    predictions = model.predict(texts, k=10)
    matches = [catalogue.match(strip_routing_instruction(text), k=5) for text in texts]
    results = {}
    for weight in weights:
        top1 = top3 = 0
        for expected, ranked_model, ranked_catalogue in zip(gold, predictions, matches, strict=True):
            scores: dict[str, float] = {}
            for label, probability in ranked_model:
                name = catalogue.canonical(label)
                scores[name] = scores.get(name, 0.0) + (1 - weight) * probability
            for match in ranked_catalogue:
                name = catalogue.canonical(match.department)
                scores[name] = scores.get(name, 0.0) + weight * match.score
            ranked = [name for name, _ in sorted(scores.items(), key=lambda item: -item[1])]
            top1 += ranked[:1] == [expected]
            top3 += expected in ranked[:3]
        results[weight] = {"top1": round(top1 / len(gold), 3), "top3": round(top3 / len(gold), 3)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=SHARED / "haikou12345" / "tickets.csv")
    parser.add_argument("--calls", type=Path, default=SHARED / "calls")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "catalogue_blend.json")
    args = parser.parse_args()
    if not args.csv.is_file():
        sys.exit(f"no tickets at {args.csv} (../shared/data is not here)")
    catalogue = load_catalogue()
    texts, labels, ids = read_labelled_rows(args.csv, "诉求内容", "处置单位", "工单编号")
    call_tickets = {
        json.loads(path.read_text(encoding="utf-8"))["source_ticket_id"] for path in args.calls.glob("*.json")
    }
    train, test = stratified_split(
        texts, labels, 0.2, 0, force_test=[index for index, ticket in enumerate(ids) if ticket in call_tickets]
    )
    aliases = {label: catalogue.canonical(label) for label in set(labels)}
    options = dataclasses.replace(RoutingOptions(), use_embeddings=False)

    def fit(rows):
        return RoutingModel.train([texts[i] for i in rows], [labels[i] for i in rows], options, aliases)

    fit_part, validation = stratified_split([texts[i] for i in train], [labels[i] for i in train], 0.2, 1)
    fit_rows, validation_rows = [train[i] for i in fit_part], [train[i] for i in validation]
    report = {
        "validation": blended_accuracy(
            fit(fit_rows),
            catalogue,
            [texts[i] for i in validation_rows],
            [catalogue.canonical(labels[i]) for i in validation_rows],
            WEIGHTS,
        ),
    }
    chosen = max(WEIGHTS, key=lambda weight: (report["validation"][weight]["top1"], -weight))
    report["chosen_weight"] = chosen
    report["holdout"] = blended_accuracy(
        fit(train), catalogue, [texts[i] for i in test], [catalogue.canonical(labels[i]) for i in test], WEIGHTS
    )
    print(f"{'catalogue weight':>17} {'val top1':>9} {'val top3':>9} {'hold-out top1':>14} {'hold-out top3':>14}")
    for weight in WEIGHTS:
        val, hold = report["validation"][weight], report["holdout"][weight]
        mark = "  ← chosen on validation" if weight == chosen else ""
        print(f"{weight:>17} {val['top1']:>9} {val['top3']:>9} {hold['top1']:>14} {hold['top3']:>14}{mark}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
