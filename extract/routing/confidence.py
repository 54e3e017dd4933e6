"""A dispatch confidence that is more than the top-1 probability: a small second-stage classifier that predicts
"the first choice is right" from how the ranker's parts agree (`dispatch_features`).

The blended top-1 probability says how much probability the first unit got; it does not say whether the char model,
the e5 model, the similar past tickets and the matter category each chose that unit, how far ahead of the second
unit it is, or whether the unit is one the history has seen often. Those are what separate the first choices that are
right from the wrong ones among the confident tickets, where the auto-dispatch share is decided.

`ConfidenceModel` is a logistic regression on standardised features, fitted on validation predictions only (every
validation ticket predicted by a model that did not train on it, `RoutingModel.train_calibrated`); its own scores for
choosing the threshold are cross-fitted over the validation groups (`cross_fitted_scores`), so the threshold is not
chosen on scores of tickets the stacker learnt from.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["FEATURE_NAMES", "ConfidenceModel", "RankerParts", "cross_fitted_scores", "dispatch_features"]

PART_NAMES = ("char", "embedding", "neighbours", "category")

FEATURE_NAMES = (
    "top1_logit",
    "margin",
    "entropy",
    *(f"{part}_{what}" for part in PART_NAMES for what in ("probability", "agrees")),
    "nearest_similarity",
    "category_confidence",
    "log_length",
    "log_unit_count",
)


@dataclass
class RankerParts:
    """What the ranker's parts say about each text: each part's unit probabilities (columns follow the model's
    labels; None where the model has no such part), the similarity of the nearest training ticket, the category
    model's top probability, and the text's length in characters."""

    char: np.ndarray
    embedding: np.ndarray | None = None
    neighbours: np.ndarray | None = None
    category: np.ndarray | None = None
    nearest_similarity: np.ndarray | None = None
    category_confidence: np.ndarray | None = None
    lengths: np.ndarray | None = None
    similarities: np.ndarray | None = None
    """(texts, training tickets) e5 cosine similarities, for the near-duplicate vote."""
    zone: np.ndarray | None = None
    """(texts, units): 1 / the number of zones a text is inside, for each of their units (`extract.routing.zones`);
    zero rows for texts inside none."""


def dispatch_features(parts: RankerParts, probabilities: np.ndarray, unit_counts: np.ndarray) -> np.ndarray:
    """(texts, len(FEATURE_NAMES)) features of the first choice of each row of the blended `probabilities`; a part
    the model lacks gives zeros (the same model always lacks it, in fitting and in use). unit_counts: training
    tickets per unit, in the model's label order."""
    n = len(probabilities)
    choice = probabilities.argmax(axis=1)
    rows = np.arange(n)
    ordered = np.sort(probabilities, axis=1)
    top1 = ordered[:, -1]
    second = ordered[:, -2] if probabilities.shape[1] > 1 else np.zeros(n)
    clipped = np.clip(probabilities, 1e-12, 1.0)
    columns = [
        np.log(np.clip(top1, 1e-6, 1 - 1e-6) / np.clip(1 - top1, 1e-6, 1.0)),
        top1 - second,
        -(clipped * np.log(clipped)).sum(axis=1),
    ]
    for name in PART_NAMES:
        part = getattr(parts, name)
        if part is None:
            columns += [np.zeros(n), np.zeros(n)]
        else:
            columns += [part[rows, choice], (part.argmax(axis=1) == choice).astype(float)]
    for values in (parts.nearest_similarity, parts.category_confidence):
        columns.append(np.zeros(n) if values is None else np.asarray(values, dtype=float))
    lengths = np.zeros(n) if parts.lengths is None else np.asarray(parts.lengths, dtype=float)
    columns.append(np.log1p(lengths))
    columns.append(np.log1p(np.asarray(unit_counts, dtype=float)[choice]))
    return np.column_stack(columns)


class ConfidenceModel:
    """P(first choice right | dispatch features): standardised features and a logistic regression, or (boosted) a
    small gradient-boosted tree ensemble, which can learn interactions (all parts agree) at the price of variance.

    C: inverse regularisation of the logistic regression; a few thousand validation tickets and 17 features need
    little."""

    def __init__(self, pipeline: Pipeline | HistGradientBoostingClassifier):
        self.pipeline = pipeline

    @classmethod
    def fit(cls, features: np.ndarray, correct, C: float = 1.0, boosted: bool = False) -> "ConfidenceModel":
        correct = np.asarray(correct, dtype=int)
        if len(set(correct.tolist())) < 2:
            raise ValueError("the confidence model needs validation tickets routed both right and wrong")
        if boosted:
            estimator = HistGradientBoostingClassifier(
                max_depth=3,
                max_iter=150,
                learning_rate=0.05,
                min_samples_leaf=40,
                l2_regularization=1.0,
                random_state=0,
            )
        else:
            estimator = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
        return cls(estimator.fit(features, correct))

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Probability that each row's first choice is right."""
        if not len(features):
            return np.zeros(0)
        return self.pipeline.predict_proba(features)[:, 1]


def cross_fitted_scores(features: np.ndarray, correct, groups, C: float = 1.0, boosted: bool = False) -> np.ndarray:
    """Each validation ticket's score from a `ConfidenceModel` fitted on the other groups (the validation folds, or
    months): what the threshold is chosen on, so that it is not set on tickets the stacker learnt from."""
    correct = np.asarray(correct, dtype=bool)
    groups = np.asarray(groups)
    scores = np.zeros(len(features))
    distinct = np.unique(groups)
    if len(distinct) < 2:
        raise ValueError("cross-fitting the confidence model needs at least two validation groups")
    for fit, held in GroupKFold(n_splits=len(distinct)).split(features, correct, groups):
        scores[held] = ConfidenceModel.fit(features[fit], correct[fit], C, boosted).predict(features[held])
    return scores
