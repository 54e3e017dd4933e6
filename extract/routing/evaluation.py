"""Scoring a routing model on labelled texts, and writing its predictions as CSV."""

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from extract.routing.model import RoutingModel

__all__ = ["evaluate_routing", "write_predictions"]


def evaluate_routing(
    model: RoutingModel,
    texts: list[str],
    labels: list[str],
    ks: Sequence[int] = (1, 3),
    label_aliases: Mapping[str, str] | None = None,
    coverages: Sequence[float] = (0.5, 0.7, 0.9),
) -> dict:
    """Top-k accuracy of `model` on labelled texts.

    Returns {"n", "top{k}" for each k, "unseen" (test rows whose label the model cannot predict),
    "coverage": {"50%": {"top1", "min_score"}, …} (top-1 accuracy on the `coverages` most confident share
    of the texts by top-1 probability, and the probability at which that share is cut: what a
    pre-accept threshold would route automatically), "per_label": {label: {"support", "top1"}}}.
    label_aliases canonicalises the gold labels the same way the model's training labels were.
    """
    aliases = dict(label_aliases or {})
    gold = [aliases.get(label, label) for label in labels]
    predictions = model.predict(texts, k=max(ks)) if texts else []
    result: dict = {"n": len(gold)}
    for k in ks:
        hits = sum(label in [name for name, _ in ranked[:k]] for label, ranked in zip(gold, predictions, strict=True))
        result[f"top{k}"] = hits / len(gold) if gold else 0.0
    known = set(model.labels)
    result["unseen"] = sum(label not in known for label in gold)
    confidence = np.array([ranked[0][1] for ranked in predictions])
    correct = np.array([ranked[0][0] == label for label, ranked in zip(gold, predictions, strict=True)])
    order = np.argsort(-confidence, kind="stable")
    result["coverage"] = {}
    for share in coverages:
        count = max(1, round(share * len(gold))) if gold else 0
        result["coverage"][f"{share:.0%}"] = {
            "top1": float(correct[order[:count]].mean()) if count else 0.0,
            "min_score": float(confidence[order[count - 1]]) if count else 0.0,
        }
    per_label: dict[str, dict] = {}
    for label, ranked in zip(gold, predictions, strict=True):
        entry = per_label.setdefault(label, {"support": 0, "top1": 0.0})
        entry["support"] += 1
        entry["top1"] += float(ranked[0][0] == label)
    for entry in per_label.values():
        entry["top1"] /= entry["support"]
    result["per_label"] = dict(sorted(per_label.items(), key=lambda item: -item[1]["support"]))
    return result


def write_predictions(
    rows: Sequence[Mapping[str, str]],
    predictions: Sequence[Sequence[tuple[str, float]]],
    out_csv: Path,
    text_column: str = "text",
) -> None:
    """CSV with the input text column, then top1, top1_score, top2, top2_score, … per row (UTF-8)."""
    if len(rows) != len(predictions):
        raise ValueError(f"{len(rows)} rows but {len(predictions)} predictions")
    k = max((len(ranked) for ranked in predictions), default=1)
    header = [text_column]
    for rank in range(1, k + 1):
        header += [f"top{rank}", f"top{rank}_score"]
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with out_csv.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row, ranked in zip(rows, predictions, strict=True):
            cells = [row.get(text_column, "")]
            for name, score in ranked:
                cells += [name, f"{score:.4f}"]
            cells += [""] * (len(header) - len(cells))
            writer.writerow(cells)
