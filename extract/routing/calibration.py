"""Auto-dispatch (自动派单): routing a ticket without a person only where the machine errs no more often than the
operators, and the calibration that lets a threshold chosen on one month hold on the next.

The question a hotline asks of its router is not its top-1 accuracy but how many tickets it can send on its own at
the operators' return rate (退单率; the seed city's is 4.13%). `auto_dispatch_share` answers it on labelled
tickets: ranked by the model's confidence in its first choice, the largest share whose first choices are wrong at
most `target_error` of the time, and the confidence where that share is cut (the threshold).

`TopScoreCalibration` maps the model's top-1 probability to the probability that the first choice is right
(top-label calibration), fitted on tickets the model did not train on. It is monotone, so it changes neither the
ranking of units within a ticket (top-1 and top-3 stay what they were) nor the order of tickets by confidence; what
it changes is that the number means what it says, so a threshold stated as a probability travels from the
validation tickets to the next month's. Calibrating every unit's probability instead (scikit-learn's
CalibratedClassifierCV, one-vs-rest and renormalised) reorders units within a ticket, and with 60 units and tens of
tickets for most of them it is fitted on too little per unit.

`calibration_error` is the expected calibration error (ECE) with the reliability-diagram bins it is made of.
"""

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

__all__ = [
    "CALIBRATION_METHODS",
    "DEFAULT_TARGET_ERROR",
    "TopScoreCalibration",
    "auto_dispatch_share",
    "calibration_error",
    "share_at_threshold",
]

DEFAULT_TARGET_ERROR = 0.0413
"""The seed city's dispatch return rate (退单率): the operators' own error rate."""

CALIBRATION_METHODS = ("isotonic", "sigmoid")


@dataclass(frozen=True)
class TopScoreCalibration:
    """Top-1 probability → probability that the first choice is right.

    sigmoid (the default): Platt scaling on the log-odds of the top-1 probability,
        1 / (1 + exp(-(slope * logit + intercept))): two numbers, smooth, steady on a few hundred validation tickets.
        On the Haikou tickets its validation threshold held on the test months (3.5% error at a 4.13% target on the
        temporal hold-out, 3.7% on the stratified one) with the larger share (docs/BENCHMARKS.md).
    isotonic: a non-decreasing step function (scikit-learn's IsotonicRegression), interpolated linearly between
        its points (`points_x`, `points_y`); assumes no shape, but its steps follow the validation tickets' noise
        and it needs more of them.
    Stored as plain numbers in the model's manifest (`to_dict`/`from_dict`).
    """

    method: str
    points_x: tuple[float, ...] = ()
    points_y: tuple[float, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0

    @classmethod
    def fit(
        cls, confidence: Sequence[float], correct: Sequence[bool], method: str = "sigmoid"
    ) -> "TopScoreCalibration":
        """Fit on validation tickets: the model's top-1 probability of each and whether that first choice was right."""
        x = np.asarray(confidence, dtype=np.float64)
        y = np.asarray(correct, dtype=np.float64)
        if len(x) != len(y) or len(x) < 2:
            raise ValueError(f"calibration needs at least 2 validation tickets, got {len(x)}")
        if method == "isotonic":
            isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y)
            return cls(
                method,
                points_x=tuple(float(value) for value in isotonic.X_thresholds_),
                points_y=tuple(float(value) for value in isotonic.y_thresholds_),
            )
        if method == "sigmoid":
            # Platt's targets, (right + 1) / (right + 2) and 1 / (wrong + 2) as scikit-learn's sigmoid calibration
            # uses them: no certainty from finitely many tickets, and a fit even when every first choice was right.
            # A soft target t is a ticket counted as right with weight t and as wrong with weight 1 - t.
            right = int(y.sum())
            target = np.where(y > 0, (right + 1) / (right + 2), 1 / (len(y) - right + 2))
            features = np.concatenate([_logit(x), _logit(x)])[:, None]
            outcome = np.concatenate([np.ones(len(x), dtype=int), np.zeros(len(x), dtype=int)])
            # weak regularisation: two parameters on hundreds of tickets need none to speak of
            platt = LogisticRegression(C=1e4).fit(features, outcome, sample_weight=np.concatenate([target, 1 - target]))
            return cls(method, slope=float(platt.coef_[0, 0]), intercept=float(platt.intercept_[0]))
        raise ValueError(f"unknown calibration {method!r} ({' or '.join(CALIBRATION_METHODS)})")

    def apply(self, confidence: Sequence[float] | np.ndarray) -> np.ndarray:
        """Calibrated probabilities that the first choices are right, for top-1 probabilities."""
        x = np.asarray(confidence, dtype=np.float64)
        if self.method == "isotonic":
            return np.interp(x, self.points_x, self.points_y)
        return 1.0 / (1.0 + np.exp(-(self.slope * _logit(x) + self.intercept)))

    def to_dict(self) -> dict:
        if self.method == "isotonic":
            return {"method": self.method, "points_x": list(self.points_x), "points_y": list(self.points_y)}
        return {"method": self.method, "slope": self.slope, "intercept": self.intercept}

    @classmethod
    def from_dict(cls, data: Mapping) -> "TopScoreCalibration":
        """The calibration of a manifest; raises ValueError when it is not one `to_dict` writes."""
        method = data.get("method")
        if method == "isotonic":
            x = tuple(float(value) for value in data["points_x"])
            y = tuple(float(value) for value in data["points_y"])
            if not x or len(x) != len(y) or any(b < a for a, b in itertools.pairwise(x)):
                raise ValueError("isotonic calibration points are not increasing pairs")
            return cls(method, points_x=x, points_y=y)
        if method == "sigmoid":
            return cls(method, slope=float(data["slope"]), intercept=float(data["intercept"]))
        raise ValueError(f"unknown calibration {method!r}")


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def auto_dispatch_share(confidence: Sequence[float], correct: Sequence[bool], target_error: float) -> dict:
    """The largest share of tickets that, taken most confident first, has a first-choice error rate at most
    `target_error`; cut only between different confidences, so that "confidence >= threshold" selects exactly it.

    Returns {"target_error", "n", "share", "count", "errors", "error" (their error rate), "threshold" (the lowest
    confidence taken; None when no share qualifies)}.
    """
    x = np.asarray(confidence, dtype=np.float64)
    wrong = ~np.asarray(correct, dtype=bool)
    result = {"target_error": target_error, "n": len(x), "share": 0.0, "count": 0, "errors": 0, "error": 0.0}
    result["threshold"] = None
    if not len(x):
        return result
    order = np.argsort(-x, kind="stable")
    ranked = x[order]
    errors = np.cumsum(wrong[order])
    counts = np.arange(1, len(x) + 1)
    # a cut after position i is possible only where the next ticket is less confident (or none follows)
    cuttable = np.append(ranked[:-1] > ranked[1:], True)
    # the error rate's margin for float rounding: 1 wrong in 25 is 4.0%, within a 4.0% target
    fits = cuttable & (errors <= target_error * counts + 1e-9)
    if not fits.any():
        return result
    last = int(np.flatnonzero(fits)[-1])
    count = last + 1
    result.update(
        share=count / len(x),
        count=count,
        errors=int(errors[last]),
        error=float(errors[last]) / count,
        threshold=float(ranked[last]),
    )
    return result


def share_at_threshold(confidence: Sequence[float], correct: Sequence[bool], threshold: float | None) -> dict:
    """What a fixed threshold does on tickets: {"threshold", "n", "share", "count", "errors", "error"} of those
    with confidence >= threshold (none when the threshold is None)."""
    x = np.asarray(confidence, dtype=np.float64)
    wrong = ~np.asarray(correct, dtype=bool)
    taken = x >= threshold if threshold is not None else np.zeros(len(x), dtype=bool)
    count = int(taken.sum())
    errors = int(wrong[taken].sum())
    return {
        "threshold": threshold,
        "n": len(x),
        "share": count / len(x) if len(x) else 0.0,
        "count": count,
        "errors": errors,
        "error": errors / count if count else 0.0,
    }


def calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 15) -> dict:
    """Expected calibration error over `bins` equal-width confidence bins, and the reliability diagram's data.

    ECE = sum over bins of (tickets in the bin / all) * |accuracy in the bin - mean confidence in the bin|.
    Returns {"ece" (None without tickets), "bins": [{"lower", "upper", "n", "confidence", "accuracy"}, …]} (empty
    bins have n 0 and None for the means).
    """
    x = np.asarray(confidence, dtype=np.float64)
    right = np.asarray(correct, dtype=np.float64)
    # the top bin includes 1.0; every other bin is [lower, upper)
    which = np.clip(np.floor(x * bins).astype(int), 0, bins - 1)
    ece = 0.0
    rows = []
    for index in range(bins):
        members = which == index
        n = int(members.sum())
        row = {"lower": round(index / bins, 6), "upper": round((index + 1) / bins, 6), "n": n}
        row["confidence"] = float(x[members].mean()) if n else None
        row["accuracy"] = float(right[members].mean()) if n else None
        if n:
            ece += n / len(x) * abs(row["accuracy"] - row["confidence"])
        rows.append(row)
    return {"ece": ece if len(x) else None, "bins": rows}
