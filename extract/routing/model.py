"""The routing classifier: ranked departments (处置单位) for a ticket text, trained on a deployment's tickets.

The model averages the class probabilities of a TF-IDF char n-gram linear SVM (softmax-scaled scores, rare
units up-weighted) and, when enabled, a logistic regression on multilingual-e5-small sentence embeddings
(`extract.embeddings`) and a similarity-weighted vote of the most similar training tickets. The same
neighbours are the "similar past tickets" `RoutingModel.similar` returns as reasons. Trained with the tickets' matter
categories (the history's 行业分类), it also has a category part: P(category | text) routed to units by the history's
P(unit | category). With a zone table (`extract.routing.zones`: the catalogue's key areas and the places the
history shows their units handling), a ticket inside a zone is moved towards the zone's unit, by a rule or through a
feature of the char model (`RoutingOptions.zones`). How sure it is of its first choice is the top-1 probability or a
stacked confidence over the parts (`extract.routing.confidence`), calibrated. Every text is passed through
`strip_routing_instruction` first, in training and in prediction.
Benchmark and defaults: bench/routing.py.
"""

import copy
import hashlib
import json
import logging
import platform
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
import scipy
import scipy.sparse
import sklearn
import skops.io
from scipy.special import softmax
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC
from skops.io.exceptions import UntrustedTypesFoundException

from extract.masking import mask_numbers
from extract.request_text import split_channel_prefix, strip_routing_instruction
from extract.routing.calibration import (
    DEFAULT_TARGET_ERROR,
    TopScoreCalibration,
    auto_dispatch_share,
    calibration_error,
)
from extract.routing.confidence import ConfidenceModel, RankerParts, cross_fitted_scores, dispatch_features
from extract.routing.zones import ZoneHit, ZoneTable
from models import ModelLoadError
from models.files import write_atomic

logger = logging.getLogger(__name__)

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "MODEL_FILE",
    "RoutingModel",
    "RoutingOptions",
    "SimilarTicket",
    "TextEncoder",
]

FORMAT_VERSION = 3
"""3: the fitted parts in a skops file. 1 and 2 were pickles, which are not loaded: loading one runs code from it."""
MODEL_FILE = "model.skops"
NEXT_MODEL_FILE = "model.skops.next"
"""Where `save` puts a new model while the manifest still names the old one."""
MANIFEST_FILE = "manifest.json"
CONFIDENCE_KINDS = ("top1", "stacked", "boosted")
ZONE_MODES = ("off", "rule", "feature")
# Beyond skops' defaults (sklearn estimators, NumPy arrays, Python values): the neighbour index of a model
# without embeddings is its char TF-IDF rows, a SciPy CSR matrix, which skops rebuilds from arrays.
# The boosted dispatch confidence's trees are sklearn objects of arrays that skops rebuilds without running code.
TRUSTED_TYPES = ["scipy.sparse._csr.csr_matrix", "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


class TextEncoder(Protocol):
    """Anything that embeds documents like `extract.embeddings.TextEmbedder.passages`."""

    def passages(self, texts: list[str]) -> np.ndarray:
        """L2-normalised sentence embeddings, one row per text."""


@dataclass(frozen=True)
class RoutingOptions:
    """Routing classifier knobs. Defaults won 3-fold cross-validation on the training part of the Haikou
    tickets (bench/routing.py; the hold-out was not used to choose them).

    analyzer / ngram_min / ngram_max: TF-IDF over characters. Unsegmented Chinese suits "char" n-grams;
        (1, 2) beat (1, 3), (1, 4), char_wb and added jieba word n-grams by 0.5-1.5 points of top-1.
    min_df: n-grams seen in fewer training texts are dropped.
    sublinear_tf: 1 + log(tf); long follow-up tickets otherwise dominate by repetition.
    classifier: "svm" (LinearSVC, scores turned into probabilities by a softmax with `temperature`) or
        "logreg" (multinomial logistic regression, saga); the SVM was 2-3 points better and 3x faster.
    C: inverse regularisation of the char n-gram classifier.
    class_weight_power: the char classifier weighs each unit's tickets by (n / (units * n_unit)) ** power:
        0 is unweighted, 1 is sklearn's "balanced". 0.75 gave +1 point of top-1 in cross-validation on both
        label sets (the 103 canonical and the 60 catalogue units); 1.0 lost top-3.
    temperature: softmax scale of the SVM scores; 8 minimised the cross-validated log loss.
    request_kind: add the request kind of the channel prefix ("市民来电咨询：" → 咨询) as a token; the
        operator knows it at intake (the ticket's request type). Worth ~0.5 point of top-1.
    use_embeddings: also train a logistic regression on multilingual-e5-small embeddings and average
        the probabilities; needs the embedder at training and prediction time (~30-60 ms per text on
        2 cores). +1 point top-1, +1.5 points top-3 in cross-validation.
    embedding_C: inverse regularisation of the embedding logistic regression (weakly regularised is best).
    embedding_weight: weight of the embedding model in the probability average.
    neighbour_weight: weight of the nearest-neighbour vote (with embeddings only); the char model gets
        1 - embedding_weight - neighbour_weight. 0.3 / 0.1 beat the former 0.4 / 0 by ~1 point of top-1
        and 0.5 of top-3 in cross-validation together with class_weight_power.
    neighbours / neighbour_temperature: the vote counts the `neighbours` training tickets most similar
        (e5 cosine) to the text, each weighted by exp((similarity - best) / temperature).
    duplicate_similarity / duplicate_weight: near-duplicate past tickets as evidence (with embeddings only):
        the training tickets at e5 cosine similarity `duplicate_similarity` or more to the text vote one each for
        their unit, and where there is at least one, their vote takes `duplicate_weight` of the probabilities
        (the rest scaled down). Repeats are common on a hotline, but their units disagree as often as the confident
        first choices are wrong: no bar and weight raised the auto-dispatch share on validation (docs/BENCHMARKS.md),
        so it is off (weight 0) by default.
    category_weight: weight of the matter-category route in the probability average (needs `categories` at
        training): a char SVM predicts the ticket's matter category (the history's 行业分类 path), and each unit gets
        sum over categories of P(category | text) * P(unit | category), the latter counted in the training tickets
        (`category_smoothing` added to every count). Taken from the char model's share. Off (0) by default: on the
        Haikou tickets the taxonomy hardly determines the unit (the gold level-1-2 category's most frequent unit is
        right 51% of the time), and 0.1-0.2 moved the validation share by +0.5/+1.8 points (stratified) and
        -2.5/-3.1 (temporal) (docs/BENCHMARKS.md, "A better ranker, step 2").
    category_smoothing: pseudo-count of every unit under every category in P(unit | category).
    confidence: what the dispatch threshold is compared with: "top1" (the blended top-1 probability, calibrated),
        "stacked" (a second-stage logistic regression, `extract.routing.confidence`, on how the parts agree, the
        margin, the unit's frequency and the text's length, fitted on validation predictions only, then calibrated)
        or "boosted" (the same with gradient-boosted trees). "top1" by default: the stacked one lowered the
        validation share (37.6% vs 38.7% stratified, 32.1% vs 36.1% temporal) and its threshold erred 4.9% on the
        temporal hold-out.
    confidence_C: inverse regularisation of the stacked confidence's logistic regression.
    recency_half_life: with months at training, a ticket `recency_half_life` months older than the newest weighs
        half as much in the char and e5 models (0: all weigh the same). Units are renamed and duties move, but
        half-lives of 2 and 4 months lowered the temporal validation share (34.6%, 35.6% vs 36.1%): off by default.
    zones: key areas (`extract.routing.zones`, needs a zone table at training): "off", "rule" (a text inside a zone
        whose unit the model knows gets `zone_weight` of its probabilities on that unit, the rest scaled down) or
        "feature" (one column per zone unit in the char model's features, 1 where the text is inside its zone: the
        char SVM learns from the history how much being inside a zone says about each unit). Off by default: on the
        Haikou tickets neither raised the auto-dispatch share (validation share +0.3 / +0.0 points stratified /
        temporal for the rule); the rule put the zone's unit first more often inside the zones (68.8% → 87.5% of 16
        stratified hold-out tickets), too few to rest a default on (docs/BENCHMARKS.md, "Key areas").
    zone_weight: the rule's share of the probabilities.
    zone_min_count / zone_min_share: with a place finder at training, the places the training tickets show a zone's
        unit handling are added to its zone: named in at least `zone_min_count` of the unit's tickets, and the unit
        had at least `zone_min_share` of the tickets naming the place (`ZoneTable.with_history`).
    snippet_chars: `similar` returns this many characters of each neighbour's stripped text (stored in
        the model file; 0 stores none).
    max_chars: texts are cut to this many characters (the e5 model reads 512 tokens anyway).
    """

    analyzer: str = "char"
    ngram_min: int = 1
    ngram_max: int = 2
    min_df: int = 1
    sublinear_tf: bool = True
    classifier: str = "svm"
    C: float = 1.0
    class_weight_power: float = 0.75
    temperature: float = 8.0
    request_kind: bool = True
    use_embeddings: bool = True
    embedding_C: float = 100.0
    embedding_weight: float = 0.3
    neighbour_weight: float = 0.1
    neighbours: int = 10
    neighbour_temperature: float = 0.02
    duplicate_similarity: float = 0.95
    duplicate_weight: float = 0.0
    category_weight: float = 0.0
    category_smoothing: float = 0.5
    confidence: str = "top1"
    confidence_C: float = 1.0
    recency_half_life: float = 0.0
    zones: str = "off"
    zone_weight: float = 0.3
    zone_min_count: int = 2
    zone_min_share: float = 0.5
    snippet_chars: int = 80
    max_chars: int = 2000


class SimilarTicket(NamedTuple):
    """A training ticket similar to a text: its row in the training data, the start of its stripped text,
    its (canonical) unit and the cosine similarity."""

    index: int
    text: str
    label: str
    similarity: float


@dataclass
class _NeighbourIndex:
    """What `similar` and the neighbour vote need: training vectors (e5 as float16, or the char TF-IDF
    rows when the model has no embeddings), their label columns and text snippets."""

    vectors: object  # np.ndarray (float16) or a scipy CSR matrix (float32)
    targets: np.ndarray  # column of each training ticket's label in `labels`
    snippets: list[str]

    def similarities(self, queries) -> np.ndarray:
        if isinstance(self.vectors, np.ndarray):
            vectors = self.vectors.astype(np.float32)
            queries = np.asarray(queries, dtype=np.float32)
            queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
            return queries @ vectors.T
        return np.asarray((queries @ self.vectors.T).todense())


class RoutingModel:
    """Ranked department suggestions for ticket texts. Train with `RoutingModel.train`, persist with
    `save`/`load`. Texts are passed through `strip_routing_instruction` in both training and prediction.
    """

    def __init__(
        self,
        options: RoutingOptions,
        labels: list[str],
        vectorizer: TfidfVectorizer,
        char_classifier: LinearSVC | LogisticRegression,
        embedding_classifier: LogisticRegression | None,
        training_size: int,
        encoder: TextEncoder | None = None,
        neighbour_index: _NeighbourIndex | None = None,
        calibration: TopScoreCalibration | None = None,
        dispatch: dict | None = None,
        category_classifier: LinearSVC | None = None,
        category_units: np.ndarray | None = None,
        confidence_model: ConfidenceModel | None = None,
        unit_counts: Sequence[int] | None = None,
        zones: ZoneTable | None = None,
    ):
        self.options = options
        self.calibration = calibration
        """Top-1 probability → probability the first choice is right (`calibrate`); None: not calibrated."""
        self.dispatch = dispatch
        """{"target_error", "threshold", "validation": {…}} from `calibrate`: the calibrated confidence at or above
        which the first choice is sent without a person (None: no threshold, nothing is auto-dispatched)."""
        self.labels = labels
        self.training_size = training_size
        self._vectorizer = vectorizer
        self._char_classifier = char_classifier
        self._embedding_classifier = embedding_classifier
        self._encoder = encoder
        self._last_embedded: tuple[list[str], np.ndarray] | None = None
        self._neighbours = neighbour_index
        self._category_classifier = category_classifier
        self._category_units = category_units
        """P(unit | category): one row per category of `_category_classifier`, columns follow `labels`."""
        self.confidence_model = confidence_model
        """The stacked dispatch confidence (`options.confidence == "stacked"`), set by `train_calibrated`."""
        self.unit_counts = np.zeros(len(labels)) if unit_counts is None else np.asarray(unit_counts, dtype=float)
        """Training tickets per unit, in `labels` order (a feature of the stacked confidence)."""
        self.zones = zones
        """The key areas the model scores with (`options.zones`), places from the history included; None when off."""

    @classmethod
    def train(
        cls,
        texts: list[str],
        labels: list[str],
        options: RoutingOptions | None = None,
        label_aliases: Mapping[str, str] | None = None,
        *,
        encoder: TextEncoder | None = None,
        categories: Sequence[str] | None = None,
        months: Sequence[str] | None = None,
        zones: ZoneTable | None = None,
        zone_places=None,
    ) -> "RoutingModel":
        """Fit on raw ticket texts (the routing instruction is stripped here) and their units.

        label_aliases maps an alias or former name to the canonical department name; the model then
        predicts canonical names only. encoder embeds texts when `options.use_embeddings` (default: the
        process-wide `extract.embeddings.get_embedder()`). categories: each ticket's matter category (the
        history's 行业分类 path), for the category route (`options.category_weight`) and the stacked confidence;
        without them the model has no category part. months ("2018-04", one per ticket): for
        `options.recency_half_life`. zones: the key areas (`ZoneTable.from_catalogue`), for `options.zones`;
        zone_places (text → place names, e.g. `zones.PlaceTerms` over the lexicon's places): with it, the places these
        training tickets show each zone's unit handling are added to its zone (`ZoneTable.with_history`).
        """
        options = options or RoutingOptions()
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        aliases = dict(label_aliases or {})
        targets = [aliases.get(label, label) for label in labels]
        if len(set(targets)) < 2:
            raise ValueError("routing needs at least two different departments to train on")
        if options.use_embeddings and options.embedding_weight + options.neighbour_weight > 1.0:
            raise ValueError("embedding_weight + neighbour_weight must not exceed 1")
        if not 0.0 <= options.duplicate_weight <= 1.0:
            raise ValueError("duplicate_weight must be between 0 and 1")
        if options.category_weight > 0 and categories is None:
            raise ValueError("category_weight needs the tickets' categories")
        if options.confidence not in CONFIDENCE_KINDS:
            raise ValueError(f"unknown confidence {options.confidence!r} ({' or '.join(CONFIDENCE_KINDS)})")
        if options.zones not in ZONE_MODES:
            raise ValueError(f"unknown zones {options.zones!r} ({' or '.join(ZONE_MODES)})")
        if options.zones != "off" and zones is None:
            raise ValueError(f"zones={options.zones!r} needs a zone table (ZoneTable.from_catalogue)")
        blended = options.category_weight + (
            options.embedding_weight + options.neighbour_weight if options.use_embeddings else 0.0
        )
        if blended > 1.0:
            raise ValueError("embedding_weight + neighbour_weight + category_weight must not exceed 1")
        for name, values in (("categories", categories), ("months", months)):
            if values is not None and len(values) != len(texts):
                raise ValueError(f"{len(texts)} texts but {len(values)} {name}")
        recency = _recency_weights(months, options.recency_half_life)
        clean = _prepare(texts, options)
        char_inputs = _char_inputs(texts, clean, options)
        if options.zones == "off":
            zones = None
        elif zone_places is not None:
            # counted on these training tickets only: a model is never given places mined from its test tickets
            zones = zones.with_history(clean, targets, zone_places, options.zone_min_count, options.zone_min_share)
        started = time.perf_counter()
        vectorizer = TfidfVectorizer(
            analyzer=options.analyzer,
            ngram_range=(options.ngram_min, options.ngram_max),
            min_df=options.min_df,
            sublinear_tf=options.sublinear_tf,
            dtype=np.float32,
        )
        tfidf = vectorizer.fit_transform(char_inputs)
        features = _with_zone_columns(tfidf, zones, options, clean)
        char_classifier = _char_classifier(options, targets)
        char_classifier.fit(features, targets, sample_weight=recency)
        unit_names = [str(label) for label in char_classifier.classes_]
        column = {label: index for index, label in enumerate(unit_names)}
        category_classifier = category_units = None
        if categories is not None:
            category_classifier, category_units = _category_route(
                features, categories, [column[target] for target in targets], len(unit_names), options
            )
        embedding_classifier = None
        index_vectors = tfidf
        if options.use_embeddings:
            encoder = encoder or _default_encoder()
            vectors = encoder.passages(clean)
            embedding_classifier = LogisticRegression(C=options.embedding_C, max_iter=3000)
            embedding_classifier.fit(vectors, targets, sample_weight=recency)
            norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
            index_vectors = (vectors / norms).astype(np.float16)
        neighbour_index = _NeighbourIndex(
            vectors=index_vectors,
            targets=np.array([column[target] for target in targets], dtype=np.int32),
            # shown to operators of other calls as reasons: phone and ID numbers never leave their ticket
            snippets=[mask_numbers(text.replace("\n", " "))[: options.snippet_chars] for text in clean],
        )
        logger.info(
            "trained routing model on %d texts, %d departments, %d features in %.1f s",
            len(clean),
            len(char_classifier.classes_),
            len(vectorizer.vocabulary_),
            time.perf_counter() - started,
        )
        return cls(
            options=options,
            labels=unit_names,
            vectorizer=vectorizer,
            char_classifier=char_classifier,
            embedding_classifier=embedding_classifier,
            training_size=len(clean),
            encoder=encoder,
            neighbour_index=neighbour_index,
            category_classifier=category_classifier,
            category_units=category_units,
            unit_counts=np.bincount([column[target] for target in targets], minlength=len(unit_names)),
            zones=zones,
        )

    @classmethod
    def train_calibrated(
        cls,
        texts: list[str],
        labels: list[str],
        validation: Sequence[tuple[Sequence[int], Sequence[int]]],
        options: RoutingOptions | None = None,
        label_aliases: Mapping[str, str] | None = None,
        *,
        target_error: float = DEFAULT_TARGET_ERROR,
        method: str = "sigmoid",
        encoder: TextEncoder | None = None,
        categories: Sequence[str] | None = None,
        months: Sequence[str] | None = None,
        zones: ZoneTable | None = None,
        zone_places=None,
    ) -> "RoutingModel":
        """`train` on all texts, then `calibrate` on validation predictions: for each (fit rows, validation rows)
        pair of `validation` (`extract.routing.validation_folds`), a model trained on the fit rows only predicts the
        validation rows, so the calibration sees scores of tickets the model did not learn from. With
        `options.confidence == "stacked"` the confidence model is fitted on those same validation predictions, and
        the calibration and threshold on its scores cross-fitted over the validation folds. Each fold's model mines its
        zone places from its own fit rows (`zone_places`), so a validation ticket never lends its unit to its places."""
        aliases = dict(label_aliases or {})
        options = options or RoutingOptions()
        if options.use_embeddings:
            # every fold embeds the same texts: once is enough
            encoder = _MemoEncoder(encoder or _default_encoder())

        def pick(values, rows):
            return None if values is None else [values[i] for i in rows]

        confidence: list[float] = []
        correct: list[bool] = []
        features: list[np.ndarray] = []
        groups: list[int] = []
        for fold, (fit_rows, validation_rows) in enumerate(validation):
            fold_model = cls.train(
                pick(texts, fit_rows),
                pick(labels, fit_rows),
                options,
                aliases,
                encoder=encoder,
                categories=pick(categories, fit_rows),
                months=pick(months, fit_rows),
                zones=zones,
                zone_places=zone_places,
            )
            parts = fold_model._parts(pick(texts, validation_rows))
            probabilities = fold_model._blend(parts)
            confidence += probabilities.max(axis=1).tolist()
            correct += [
                fold_model.labels[column] == aliases.get(labels[row], labels[row])
                for column, row in zip(probabilities.argmax(axis=1), validation_rows, strict=True)
            ]
            features.append(dispatch_features(parts, probabilities, fold_model.unit_counts))
            groups += [fold] * len(validation_rows)
        model = cls.train(
            texts,
            labels,
            options,
            aliases,
            encoder=encoder,
            categories=categories,
            months=months,
            zones=zones,
            zone_places=zone_places,
        )
        if options.confidence != "top1":
            stacked, boosted = np.concatenate(features), options.confidence == "boosted"
            try:
                scores = cross_fitted_scores(stacked, correct, groups, options.confidence_C, boosted)
                model.confidence_model = ConfidenceModel.fit(stacked, correct, options.confidence_C, boosted)
                confidence = scores.tolist()
            except ValueError as error:
                # a small history whose validation routings are all right (or one fold's are): nothing to learn
                # the difference from; the top score still orders the tickets
                logger.warning("routing: no stacked dispatch confidence (%s); the top-1 probability is used", error)
        model.calibrate(confidence, correct, target_error, method)
        if isinstance(encoder, _MemoEncoder):
            model._encoder = encoder.encoder  # the memo is for training; in use it would only grow
        return model

    def calibrate(
        self, confidence: Sequence[float], correct: Sequence[bool], target_error: float, method: str = "sigmoid"
    ) -> None:
        """Fit the calibration on validation tickets (this model's top-1 probability for each, and whether its
        first choice was right) and choose the dispatch threshold there: the calibrated confidence at which the
        largest share of them is routed with at most `target_error` errors."""
        calibration = TopScoreCalibration.fit(confidence, correct, method)
        calibrated = calibration.apply(confidence)
        chosen = auto_dispatch_share(calibrated, correct, target_error)
        self.calibration = calibration
        self.dispatch = {
            "target_error": target_error,
            "threshold": chosen["threshold"],
            "validation": {
                "n": chosen["n"],
                "share": chosen["share"],
                "error": chosen["error"],
                "ece_raw": calibration_error(confidence, correct)["ece"],
                "ece": calibration_error(calibrated, correct)["ece"],
            },
        }
        logger.info(
            "routing calibrated (%s) on %d validation tickets: %.1f%% auto-dispatch at %.2f%% error, threshold %s",
            method,
            chosen["n"],
            100 * chosen["share"],
            100 * target_error,
            chosen["threshold"],
        )

    @property
    def dispatch_threshold(self) -> float | None:
        """The calibrated confidence at or above which the first choice may be dispatched automatically."""
        return None if self.dispatch is None else self.dispatch.get("threshold")

    def predict_with_confidence(
        self, texts: list[str], addresses: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """`predict_proba` and how sure the model is of each row's first choice (the number `dispatch_threshold` is
        compared with): the stacked confidence when the model has one, else the top-1 probability; calibrated when
        the model is. addresses: each ticket's address, looked in for zones before its text (a model with zones)."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float64), np.zeros(0)
        parts = self._parts(texts, addresses)
        probabilities = self._blend(parts)
        if self.confidence_model is not None:
            score = self.confidence_model.predict(dispatch_features(parts, probabilities, self.unit_counts))
        else:
            score = probabilities.max(axis=1)
        return probabilities, score if self.calibration is None else self.calibration.apply(score)

    def confidence(self, texts: list[str]) -> np.ndarray:
        """The confidence of `predict_with_confidence` alone."""
        return self.predict_with_confidence(texts)[1]

    def predict_proba(self, texts: list[str], addresses: Sequence[str] | None = None) -> np.ndarray:
        """(len(texts), len(labels)) probabilities; rows sum to 1, columns follow `labels`. addresses: as in
        `predict_with_confidence`."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float64)
        return self._blend(self._parts(texts, addresses))

    def zone_hits(self, texts: list[str], addresses: Sequence[str] | None = None) -> list[list[ZoneHit]]:
        """The zones each text (its address first) is inside, as the model scores them; [] for each without zones."""
        if self.zones is None:
            return [[] for _ in texts]
        return [self.zones.find(text) for text in _zone_texts(_prepare(texts, self.options), addresses)]

    def _parts(self, texts: list[str], addresses: Sequence[str] | None = None) -> RankerParts:
        """Each part's unit probabilities for non-empty `texts` (what `_blend` averages), and what the stacked
        confidence reads besides."""
        clean = _prepare(texts, self.options)
        zone_texts = _zone_texts(clean, addresses)
        features = _with_zone_columns(
            self._vectorizer.transform(_char_inputs(texts, clean, self.options)), self.zones, self.options, zone_texts
        )
        parts = RankerParts(
            char=_char_probabilities(self._char_classifier, features, self.options),
            lengths=np.array([len(text) for text in clean]),
        )
        if self.zones is not None and self.options.zones == "rule":
            parts.zone = self._zone_part(zone_texts)
        if self._category_classifier is not None:
            category = _softmax_scores(self._category_classifier, features, self.options.temperature)
            parts.category = category @ self._category_units
            parts.category_confidence = category.max(axis=1)
        if self._embedding_classifier is not None:
            vectors = self._embed(clean)
            parts.embedding = self._embedding_classifier.predict_proba(vectors)
            if self._neighbours is not None:
                parts.similarities = self._neighbours.similarities(vectors)
                parts.neighbours = self._neighbour_vote(parts.similarities)
                parts.nearest_similarity = parts.similarities.max(axis=1)
        return parts

    def _blend(self, parts: RankerParts) -> np.ndarray:
        """The parts' weighted average (the char model takes what the others leave), near-duplicates blended in."""
        probabilities = parts.char
        shares = []
        if parts.embedding is not None:
            shares.append((self.options.embedding_weight, parts.embedding))
        if parts.neighbours is not None and self.options.neighbour_weight > 0:
            shares.append((self.options.neighbour_weight, parts.neighbours))
        if parts.category is not None and self.options.category_weight > 0:
            shares.append((self.options.category_weight, parts.category))
        if shares:
            probabilities = (1.0 - sum(weight for weight, _ in shares)) * probabilities
            for weight, part in shares:
                probabilities = probabilities + weight * part
        if self.options.duplicate_weight > 0 and parts.neighbours is not None:
            probabilities = self._with_duplicates(probabilities, parts.similarities)
        if parts.zone is not None:
            inside = parts.zone.sum(axis=1) > 0
            weight = self.options.zone_weight
            probabilities = probabilities.copy()
            probabilities[inside] = (1.0 - weight) * probabilities[inside] + weight * parts.zone[inside]
        return probabilities

    def _zone_part(self, zone_texts: list[str]) -> np.ndarray:
        """(texts, units): each text's zones' units that the model knows share 1; rows of texts inside none are 0."""
        column = {label: index for index, label in enumerate(self.labels)}
        part = np.zeros((len(zone_texts), len(self.labels)))
        for row, text in enumerate(zone_texts):
            known = [column[hit.unit] for hit in self.zones.find(text) if hit.unit in column]
            for index in known:
                part[row, index] = 1.0 / len(known)
        return part

    def similar(self, texts: list[str], n: int = 5) -> list[list[SimilarTicket]]:
        """The n training tickets most similar to each text, most similar first: (row in the training
        data, start of its stripped text, its unit, cosine similarity). e5 embeddings when the model has
        them, else the char TF-IDF vectors. Reasons for a suggestion: how similar requests were routed."""
        if self._neighbours is None:
            raise ValueError("this routing model was saved without its training tickets")
        if not texts:
            return []
        clean = _prepare(texts, self.options)
        if self._embedding_classifier is not None:
            queries = self._embed(clean)
        else:
            queries = self._vectorizer.transform(_char_inputs(texts, clean, self.options))
        similarities = self._neighbours.similarities(queries)
        n = max(1, min(n, similarities.shape[1]))
        nearest = np.argsort(-similarities, axis=1, kind="stable")[:, :n]
        index = self._neighbours
        return [
            [
                SimilarTicket(int(row), index.snippets[row], self.labels[index.targets[row]], float(scores[row]))
                for row in order
            ]
            for scores, order in zip(similarities, nearest, strict=True)
        ]

    def _embed(self, clean: list[str]) -> np.ndarray:
        # predict() and similar() on the same ticket text: embed it once (the embedding is the cost)
        if self._last_embedded is not None and self._last_embedded[0] == clean:
            return self._last_embedded[1]
        if self._encoder is None:
            self._encoder = _default_encoder()
        vectors = self._encoder.passages(clean)
        self._last_embedded = (list(clean), vectors)
        return vectors

    def _neighbour_vote(self, similarities: np.ndarray) -> np.ndarray:
        """Votes of the `neighbours` most similar training tickets, weighted by their similarity."""
        n = min(self.options.neighbours, similarities.shape[1])
        nearest = np.argpartition(-similarities, n - 1, axis=1)[:, :n]
        scores = np.take_along_axis(similarities, nearest, axis=1)
        weights = np.exp((scores - scores.max(axis=1, keepdims=True)) / self.options.neighbour_temperature)
        votes = np.zeros((len(similarities), len(self.labels)))
        np.add.at(votes, (np.arange(len(similarities))[:, None], self._neighbours.targets[nearest]), weights)
        return votes / votes.sum(axis=1, keepdims=True)

    def _with_duplicates(self, probabilities: np.ndarray, similarities: np.ndarray) -> np.ndarray:
        """Blend in the units of the near-duplicate training tickets (similarity >= `duplicate_similarity`), one
        vote each, with `duplicate_weight`, on the rows that have any; the other rows are left as they are."""
        rows, columns = np.nonzero(similarities >= self.options.duplicate_similarity)
        if not len(rows):
            return probabilities
        votes = np.zeros_like(probabilities)
        np.add.at(votes, (rows, self._neighbours.targets[columns]), 1.0)
        has_duplicates = votes.sum(axis=1) > 0
        weight = self.options.duplicate_weight
        blended = probabilities.copy()
        blended[has_duplicates] = (1.0 - weight) * probabilities[has_duplicates] + weight * (
            votes[has_duplicates] / votes[has_duplicates].sum(axis=1, keepdims=True)
        )
        return blended

    def predict(
        self, texts: list[str], k: int = 3, addresses: Sequence[str] | None = None
    ) -> list[list[tuple[str, float]]]:
        """Top-k (department, probability) per text, best first. addresses: as in `predict_with_confidence`."""
        probabilities = self.predict_proba(texts, addresses)
        k = max(1, min(k, len(self.labels)))
        ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        return [
            [(self.labels[column], float(row[column])) for column in order]
            for row, order in zip(probabilities, ranked, strict=True)
        ]

    def save(self, directory: Path) -> None:
        """Write `model.skops` (the fitted sklearn objects and the neighbour index) and `manifest.json` into
        `directory`, replacing a model there atomically: a reader loads the old model or the new one, never a mix
        (a read that straddles the switch fails the checksum and says so), even if the process dies half-way.

        The manifest names its model file, and each file is written whole (`write_atomic`): the new model goes to
        `model.skops.next`, the manifest is switched to it (the one rename that replaces the model), then the same
        is done again to bring it back under `model.skops`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # The vocabulary goes as one JSON string of the terms in column order: skops would write its ~60k
        # entries as as many schema nodes (a file half as large again, loading some 20 times slower).
        vectorizer = copy.copy(self._vectorizer)
        del vectorizer.vocabulary_
        payload = skops.io.dumps(
            {
                "vectorizer": vectorizer,
                "vocabulary": json.dumps(self._vectorizer.get_feature_names_out().tolist(), ensure_ascii=False),
                "char_classifier": self._char_classifier,
                "embedding_classifier": self._embedding_classifier,
                "neighbour_index": None if self._neighbours is None else asdict(self._neighbours),
                "category_classifier": self._category_classifier,
                "category_units": self._category_units,
                "confidence_model": None if self.confidence_model is None else self.confidence_model.pipeline,
            }
        )
        manifest = {
            "format_version": FORMAT_VERSION,
            "kind": "hotline-intake routing model",
            "options": asdict(self.options),
            "labels": self.labels,
            "training_size": self.training_size,
            "model_file": MODEL_FILE,
            "model_sha256": hashlib.sha256(payload).hexdigest(),
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
            "dispatch": self.dispatch,
            "unit_counts": self.unit_counts.astype(int).tolist(),
            "zones": None if self.zones is None else self.zones.to_dict(),
            "versions": _library_versions(),
        }
        for name in (NEXT_MODEL_FILE, MODEL_FILE):
            write_atomic(directory / name, payload)
            write_atomic(
                directory / MANIFEST_FILE, json.dumps({**manifest, "model_file": name}, ensure_ascii=False, indent=2)
            )
        (directory / NEXT_MODEL_FILE).unlink()

    @classmethod
    def load(cls, directory: Path, *, encoder: TextEncoder | None = None) -> "RoutingModel":
        """Read a model written by `save`, checking format version, checksum and library versions.

        Raises `ModelLoadError` for a missing, corrupt or incompatible directory. The model file is read by
        skops, which builds only known types (sklearn estimators, NumPy and SciPy arrays, Python values) and
        runs no code from the file; a pickle from an older version is refused, not loaded.
        """
        directory = Path(directory)
        manifest_path = directory / MANIFEST_FILE
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise ModelLoadError(f"no routing model at {directory}: {MANIFEST_FILE} is missing") from error
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ModelLoadError(f"routing model manifest {manifest_path} is unreadable: {error}") from error
        if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
            found = manifest.get("format_version") if isinstance(manifest, dict) else None
            pickled = " (a pickle, which is not loaded: loading one runs code from the file)" if found in (1, 2) else ""
            raise ModelLoadError(
                f"routing model at {directory} has format version {found}{pickled}, this code reads "
                f"{FORMAT_VERSION}: retrain it with `hotline train routing`"
            )
        saved_sklearn = manifest.get("versions", {}).get("scikit-learn")
        if saved_sklearn != sklearn.__version__:
            raise ModelLoadError(
                f"routing model at {directory} was saved with scikit-learn {saved_sklearn}, "
                f"this is {sklearn.__version__}: retrain it"
            )
        name = manifest.get("model_file", MODEL_FILE)
        if name not in (MODEL_FILE, NEXT_MODEL_FILE):  # never a path the manifest points elsewhere with
            raise ModelLoadError(f"routing model at {directory}: the manifest names model file {name!r}")
        model_path = directory / name
        try:
            payload = model_path.read_bytes()
        except OSError as error:
            raise ModelLoadError(f"routing model file {model_path} is unreadable: {error}") from error
        if hashlib.sha256(payload).hexdigest() != manifest.get("model_sha256"):
            raise ModelLoadError(
                f"routing model file {model_path} does not match its manifest checksum: changed since it was "
                "trained (tampered with or damaged); it is not loaded, retrain it"
            )
        try:
            parts = skops.io.loads(payload, trusted=TRUSTED_TYPES)
        except UntrustedTypesFoundException as error:
            raise ModelLoadError(f"routing model file {model_path} is refused: {error}") from error
        except (zipfile.BadZipFile, EOFError, KeyError, TypeError, ValueError, AttributeError) as error:
            raise ModelLoadError(f"routing model at {directory} is corrupt: {error}") from error
        try:
            _check_parts(parts)
            known = {field.name for field in fields(RoutingOptions)}
            options = RoutingOptions(**{key: value for key, value in manifest["options"].items() if key in known})
            vectorizer = parts["vectorizer"]
            vectorizer.vocabulary_ = {term: column for column, term in enumerate(json.loads(parts["vocabulary"]))}
            index = parts["neighbour_index"]
            calibration = manifest.get("calibration")
            dispatch = manifest.get("dispatch")
            if dispatch is not None and not isinstance(dispatch, dict):
                raise TypeError(f"dispatch is a {type(dispatch).__name__}")
            model = cls(
                options=options,
                labels=list(manifest["labels"]),
                vectorizer=vectorizer,
                char_classifier=parts["char_classifier"],
                embedding_classifier=parts["embedding_classifier"],
                training_size=int(manifest["training_size"]),
                encoder=encoder,
                neighbour_index=None if index is None else _NeighbourIndex(**index),
                calibration=None if calibration is None else TopScoreCalibration.from_dict(calibration),
                dispatch=dispatch,
                category_classifier=parts.get("category_classifier"),
                category_units=parts.get("category_units"),
                confidence_model=None
                if parts.get("confidence_model") is None
                else ConfidenceModel(parts["confidence_model"]),
                unit_counts=manifest.get("unit_counts"),
                zones=None if manifest.get("zones") is None else ZoneTable.from_dict(manifest["zones"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ModelLoadError(f"routing model at {directory} is corrupt: {error}") from error
        if model.labels != [str(label) for label in model._char_classifier.classes_]:
            raise ModelLoadError(f"routing model at {directory}: manifest labels do not match the classifier")
        return model


def _check_parts(parts) -> None:
    """The model file holds what `save` writes, or a `TypeError` says which part does not."""
    if not isinstance(parts, dict):
        raise TypeError(f"the model file holds a {type(parts).__name__}, not the model's parts")
    expected = {
        "vectorizer": (TfidfVectorizer,),
        "vocabulary": (str,),
        "char_classifier": (LinearSVC, LogisticRegression),
        "embedding_classifier": (LogisticRegression, type(None)),
        "neighbour_index": (dict, type(None)),
        # absent from models saved before the category route and the stacked confidence
        "category_classifier": (LinearSVC, type(None)),
        "category_units": (np.ndarray, type(None)),
        "confidence_model": (Pipeline, HistGradientBoostingClassifier, type(None)),
    }
    for name, types in expected.items():
        if not isinstance(parts.get(name), types):
            raise TypeError(f"{name} is a {type(parts.get(name)).__name__}")


def _prepare(texts: Sequence[str], options: RoutingOptions) -> list[str]:
    return [strip_routing_instruction(text)[: options.max_chars] for text in texts]


def _char_inputs(texts: Sequence[str], clean: list[str], options: RoutingOptions) -> list[str]:
    if not options.request_kind:
        return clean
    # 〔〕 never occurs in ticket texts, so the kind token cannot be confused with the caller's words
    return [f"〔{split_channel_prefix(text or '')[0]}〕{body}" for text, body in zip(texts, clean, strict=True)]


def _zone_texts(clean: list[str], addresses: Sequence[str] | None) -> list[str]:
    """Where zones are looked for: the address (when given) before the text, so its place is found first."""
    if addresses is None:
        return clean
    if len(addresses) != len(clean):
        raise ValueError(f"{len(clean)} texts but {len(addresses)} addresses")
    return [f"{address or ''}\n{text}" for address, text in zip(addresses, clean, strict=True)]


def _with_zone_columns(features, zones: ZoneTable | None, options: RoutingOptions, zone_texts: list[str]):
    """The char features, and with `options.zones == "feature"` one more column per zone unit: 1 where the text is
    inside one of the unit's zones."""
    if zones is None or options.zones != "feature":
        return features
    units = {unit: index for index, unit in enumerate(zones.units)}
    columns = scipy.sparse.lil_matrix((features.shape[0], len(units)), dtype=features.dtype)
    for row, text in enumerate(zone_texts):
        for hit in zones.find(text):
            columns[row, units[hit.unit]] = 1.0
    return scipy.sparse.hstack([features, columns.tocsr()], format="csr")


def _char_classifier(options: RoutingOptions, targets: Sequence[str]) -> LinearSVC | LogisticRegression:
    weights = None
    if options.class_weight_power:
        units, counts = np.unique(np.asarray(targets, dtype=object), return_counts=True)
        balanced = (len(targets) / (len(units) * counts)) ** options.class_weight_power
        weights = {str(unit): float(weight) for unit, weight in zip(units, balanced, strict=True)}
    if options.classifier == "svm":
        return LinearSVC(C=options.C, class_weight=weights)
    if options.classifier == "logreg":
        return LogisticRegression(C=options.C, solver="saga", max_iter=300, tol=1e-3, class_weight=weights)
    raise ValueError(f"unknown routing classifier {options.classifier!r} (svm or logreg)")


def _char_probabilities(classifier, features, options: RoutingOptions) -> np.ndarray:
    if isinstance(classifier, LogisticRegression):
        return classifier.predict_proba(features)
    return _softmax_scores(classifier, features, options.temperature)


def _softmax_scores(classifier: LinearSVC, features, temperature: float) -> np.ndarray:
    scores = classifier.decision_function(features)
    if scores.ndim == 1:  # two classes: one score for the second
        scores = np.column_stack([-scores, scores])
    return softmax(temperature * scores, axis=1)


def _category_route(
    features, categories: Sequence[str], unit_columns: Sequence[int], units: int, options: RoutingOptions
) -> tuple[LinearSVC | None, np.ndarray | None]:
    """A char SVM for the matter category and P(unit | category) counted in the training tickets (with
    `category_smoothing`); (None, None) when the tickets have fewer than two categories."""
    names = [str(category) for category in categories]
    if len(set(names)) < 2:
        return None, None
    classifier = LinearSVC(C=options.C).fit(features, names)
    row = {str(name): index for index, name in enumerate(classifier.classes_)}
    counts = np.full((len(row), units), options.category_smoothing, dtype=np.float64)
    np.add.at(counts, ([row[name] for name in names], list(unit_columns)), 1.0)
    return classifier, counts / counts.sum(axis=1, keepdims=True)


def _month_number(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number)


def _recency_weights(months: Sequence[str] | None, half_life: float) -> np.ndarray | None:
    """Sample weights halving every `half_life` months back from the newest ticket (None: all equal)."""
    if not months or half_life <= 0:
        return None
    numbers = np.array([_month_number(month) for month in months], dtype=np.float64)
    return 0.5 ** ((numbers.max() - numbers) / half_life)


class _MemoEncoder:
    """A `TextEncoder` that embeds each distinct text once per training run."""

    def __init__(self, encoder: TextEncoder):
        self.encoder = encoder
        self.vectors: dict[str, np.ndarray] = {}

    def passages(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(text for text in texts if text not in self.vectors))
        if missing:
            self.vectors.update(zip(missing, self.encoder.passages(missing), strict=True))
        return np.stack([self.vectors[text] for text in texts])


def _default_encoder() -> TextEncoder:
    from extract.embeddings import get_embedder

    return get_embedder()


def _library_versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }
