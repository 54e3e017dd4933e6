"""Scoring a routing model on labelled texts, and writing its predictions as CSV."""

import csv
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import top_k_accuracy_score

from extract.routing.calibration import (
    DEFAULT_TARGET_ERROR,
    auto_dispatch_share,
    calibration_error,
    share_at_threshold,
)
from extract.routing.model import RoutingModel

__all__ = ["evaluate_routing", "write_predictions"]


def evaluate_routing(
    model: RoutingModel,
    texts: list[str],
    labels: list[str],
    ks: Sequence[int] = (1, 3),
    label_aliases: Mapping[str, str] | None = None,
    coverages: Sequence[float] = (0.5, 0.7, 0.9),
    target_error: float = DEFAULT_TARGET_ERROR,
    bins: int = 15,
) -> dict:
    """Top-k accuracy, auto-dispatch share and calibration of `model` on labelled texts.

    Returns {"n", "top{k}" for each k, "unseen" (test rows whose label the model cannot predict),
    "coverage": {"50%": {"top1", "min_score"}, …} (top-1 accuracy on the `coverages` most confident share
    of the texts by top-1 probability, and the probability at which that share is cut: what a
    pre-accept threshold would route automatically), "per_label": {label: {"support", "top1"}},
    "auto_dispatch": the largest share routed with at most `target_error` errors, ranked by the model's confidence
    (`RoutingModel.predict_with_confidence`: the stacked confidence or the top-1 probability, calibrated when the model
    is), with the threshold that cuts it (`auto_dispatch_share`; what the best threshold
    for these very texts would give), "at_model_threshold": what the model's own threshold (chosen on validation
    tickets when it was trained) gives on these texts (`share_at_threshold`), "calibration": {"ece", "bins"} of
    the confidence the model reports and "ece_raw" of its uncalibrated top-1 probability (`calibration_error`)}.
    label_aliases canonicalises the gold labels the same way the model's training labels were.
    """
    aliases = dict(label_aliases or {})
    gold = [aliases.get(label, label) for label in labels]
    probabilities, calibrated = model.predict_with_confidence(texts)
    result: dict = {"n": len(gold)}
    for k in ks:
        result[f"top{k}"] = _top_k_hits(model.labels, probabilities, gold, k) / len(gold) if gold else 0.0
    known = set(model.labels)
    result["unseen"] = sum(label not in known for label in gold)
    # the model's first choice as `RoutingModel.predict` makes it: the first unit among equal probabilities
    first = [model.labels[column] for column in probabilities.argmax(axis=1)]
    confidence = probabilities.max(axis=1)
    correct = np.array([choice == label for label, choice in zip(gold, first, strict=True)])
    order = np.argsort(-confidence, kind="stable")
    result["coverage"] = {}
    for share in coverages:
        count = max(1, round(share * len(gold))) if gold else 0
        result["coverage"][f"{share:.0%}"] = {
            "top1": float(correct[order[:count]].mean()) if count else 0.0,
            "min_score": float(confidence[order[count - 1]]) if count else 0.0,
        }
    per_label: dict[str, dict] = {}
    for label, choice in zip(gold, first, strict=True):
        entry = per_label.setdefault(label, {"support": 0, "top1": 0.0})
        entry["support"] += 1
        entry["top1"] += float(choice == label)
    for entry in per_label.values():
        entry["top1"] /= entry["support"]
    result["per_label"] = dict(sorted(per_label.items(), key=lambda item: -item[1]["support"]))
    result["auto_dispatch"] = auto_dispatch_share(calibrated, correct, target_error)
    result["at_model_threshold"] = share_at_threshold(calibrated, correct, model.dispatch_threshold)
    result["calibration"] = {
        "method": model.calibration.method if model.calibration else None,
        **calibration_error(calibrated, correct, bins),
        "ece_raw": calibration_error(confidence, correct, bins)["ece"],
    }
    return result


def _top_k_hits(units: Sequence[str], probabilities: np.ndarray, gold: Sequence[str], k: int) -> int:
    """How many texts have their gold unit among the model's first k; a unit the model never learnt is a miss."""
    learnt = set(units)
    known = [row for row, label in enumerate(gold) if label in learnt]
    if not known:
        return 0
    # Each unit's place in the model's ranking as a score in (0, 1], 1 for the first: sklearn then counts the
    # ranking `RoutingModel.predict` returns, ties between equal probabilities broken the same way.
    places = np.argsort(np.argsort(-probabilities[known], axis=1, kind="stable"), axis=1)
    scores = 1.0 - places / len(units)
    if len(units) == 2:
        scores = scores[:, 1]  # sklearn's two-class form: the second unit's score, first when above 0.5
    with warnings.catch_warnings():
        # k >= the number of units: every known unit is among the first k, which is the count we want
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        hits = top_k_accuracy_score([gold[row] for row in known], scores, k=k, labels=list(units), normalize=False)
    return int(hits)


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
