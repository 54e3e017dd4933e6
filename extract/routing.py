"""Department routing (处置单位): ranked suggestions from a classifier trained on a deployment's tickets.

Ticket texts are the operator's written summary, and most end with the routing instruction written
after dispatch ("请市住建核实处理！（请职能局按规定在30分钟内联系市民，响应处置）"). That names the
answer and no caller ever says it, so `strip_routing_instruction` removes it (and the channel prefix
"市民来电反映:", department replies and callback headers of follow-up tickets) before training and
before prediction: the model only ever sees what a caller could have said.

The model averages the class probabilities of a TF-IDF char n-gram linear SVM (softmax-scaled scores, rare
units up-weighted) and, when enabled, a logistic regression on multilingual-e5-small sentence embeddings
(`extract.embeddings`) and a similarity-weighted vote of the most similar training tickets. The same
neighbours are the "similar past tickets" `RoutingModel.similar` returns as reasons.
Benchmark and defaults: bench/routing.py.
"""

import csv
import hashlib
import json
import logging
import pickle
import platform
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np
import scipy
import sklearn
from scipy.special import softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from extract.phone import mask_numbers
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
    "evaluate_routing",
    "read_labelled_csv",
    "read_labelled_rows",
    "split_channel_prefix",
    "stratified_split",
    "strip_routing_instruction",
    "write_predictions",
]

FORMAT_VERSION = 2
MODEL_FILE = "model.pkl"
MANIFEST_FILE = "manifest.json"

# --- stripping the operator's routing instruction --------------------------------------------------

# "市民来电反映:", "市民微信咨询：", "交警来电反馈:", "市民市民云反映：", "游客来电反映:": who wrote in, over
# which channel, and what kind of request. Not the caller's words; a unit's name here is the answer.
_KINDS = "反映|咨询|反馈|建议|投诉|补充|撤销|表扬|求助|报备|要求|举报|求证|来电"
_CHANNEL_PREFIX = re.compile(rf"^\s*(?P<who>[^:：，。！？!?（()）\s]{{0,20}}?)(?P<kind>{_KINDS})\s*[:：]\s*")
_REQUEST_KIND = re.compile(r"(反映|咨询|反馈|建议|投诉|补充|撤销|表扬|求助|报备|要求|举报|求证)$")
# A department's answer pasted into a follow-up ticket: "2018-01-11 19:41海口工商局答复：…",
# "市国土资源局答复：…", "琼山区旧州镇政府：…", "海南民生燃气股份有限公司2017-12-26 15:…".
_DATE = re.compile(r"\d{4}\s*[-年/.]\s*\d{1,2}\s*[-月/.]\s*\d{1,2}|\d{1,2}-\d{1,2}\s+\d{1,2}[:：]")
_REPLY_SPEAKER = re.compile(
    r"(答复|回复|回访|处理结果|处理情况|拟办意见|办理意见)\s*$|(局|政府|中心|公司|支队|大队|派出所|办|院|委|办公室|集团)\s*$"
)
_TICKET_NO = re.compile(r"[（(]?\s*(政府)?工单(编)?号\s*[:：]?\s*\d{8,}\s*[)）]?")
_TITLE = re.compile(r"《(?:关于)?(?P<title>[^《》]{2,80})》")
_CONTENT_LABEL = re.compile(r"^\s*(原)?工单内容\s*[:：]\s*")
# Boilerplate parentheticals: "（请职能局按规定在30分钟内联系市民，响应处置）", "（30分钟办件）".
_DUTY_NOTE = re.compile(r"[（(][^（()）]{0,60}?(职能局|分钟|响应|办件)[^（()）]{0,60}[)）]?")
_VERBS = (
    "打击|核实|处理|办理|回复|答复|核查|查处|解决|跟进|协调|落实|联系|调查|处置|督促|查看|审核|反馈|跟踪|监管|整改|执法"
)
# "请市住建核实处理！", "请交警核实处理，谢谢", "请龙华区核实处理。": a 请 clause (no comma inside) that
# ends the segment. "请问" is the caller asking something and stays; so does "请了工人来修，…协调".
_TRAILING_INSTRUCTION = re.compile(
    rf"[，,。；;\s]*请(?!问)[^。！？!?；;，,\n]{{0,40}}?({_VERBS})[^。！？!?；;，,\n]{{0,24}}$"
)
_TRAILING_NOISE = re.compile(
    r"[\s，,。！!；;、~～]+$|谢谢[！!。，,~～]*$|[)）]$|响应(处置|处理)$|请[^。！？!?，,；;\n]{0,20}(局|委|中心|公司|支队|大队|政府|办|部门)$"
)
# "故来电反映", "故此来电", "故投诉": the operator's closing formula.
_TRAILING_FORMULA = re.compile(
    r"[，,。]?\s*(故|因此|所以|遂)(此)?(来电|致电|微信|留言)?(反映|投诉|咨询|求助|建议|举报|询问|反馈)?[。，,！!]*$"
)
_NO_TEXT = re.compile(r"^[\W_]*$")
# Follow-up tickets paste the history into one line; these start a new segment.
_SEGMENT_START = re.compile(
    r"(?<=[。！!？?）)\s])(?=(?:于\s*)?\d{2,4}-\d{1,2}-\d{1,2})|(?=\d{4}-\d{1,2}-\d{1,2}\s*\d{1,2}:\d{2})"
    r"|(?<=[^\n])(?=市民(?:再次|通过)?(?:来电|微信|公众号|市民云|网站|短信)?(?:再次)?(?:反映|咨询|投诉|补充|反馈)[:：])"
    r"|(?<=[（(]\d{11}[)）])|(?<=[（(]\d{14}[)）])"
)
_BARE_TICKET_NO = re.compile(r"[（(]\s*\d{11,14}\s*[)）]")
# "请市公安局核实处理！" inside a segment (another remark follows it): operator-speak, never a caller's.
_INLINE_INSTRUCTION = re.compile(r"[，,]?请[^。！？!?，,；;\n请]{1,15}?核实(?:处理|调查|办理|回复)?[！!。，,]*")


def split_channel_prefix(text: str) -> tuple[str, str]:
    """Split "市民来电咨询：外地积分落户政策…" into ("咨询", "外地积分落户政策…").

    The first element is the request kind the operator wrote (反映, 咨询, 投诉, 建议, 反馈, …) or "" when
    the text has no channel prefix; the second is the text without the prefix.
    """
    match = _CHANNEL_PREFIX.match(text)
    if not match:
        return "", text.strip()
    kind = match.group("kind")
    if kind == "来电":
        kind = ""
    else:
        found = _REQUEST_KIND.search(kind)
        kind = found.group(1) if found else ""
    return kind, text[match.end() :].strip()


def strip_routing_instruction(text: str) -> str:
    """What a caller could have said: the ticket text without the operator's additions.

    Removes the channel prefix ("市民来电反映:"), trailing routing instructions ("请市住建核实处理，
    谢谢！"), the duty-time note ("（请职能局按规定在30分钟内联系市民，响应处置）"), closing formulas
    ("故来电反映"), ticket numbers, and in follow-up tickets the departments' replies and callback
    headers (keeping the quoted title 《关于…的问题》). A 请 inside the caller's own sentences stays.
    Segments are joined with newlines; the result may be empty.
    """
    kept: list[str] = []
    for raw_line in _SEGMENT_START.sub("\n", text or "").splitlines():
        line = _CONTENT_LABEL.sub("", raw_line.strip())
        if not line:
            continue
        if _is_reply(line):
            continue
        title = _TITLE.search(line) if _TICKET_NO.search(line) else None
        _, line = split_channel_prefix(line)
        if title:
            # a callback header ("交警来电反馈: 工单号…《关于…的问题》工单处理情况"): only the title is content
            line = title.group("title")
        line = _BARE_TICKET_NO.sub("", _TICKET_NO.sub("", line))
        line = _INLINE_INSTRUCTION.sub("", line)
        line = _DUTY_NOTE.sub("", line)
        line = _strip_tail(line)
        # "工单内容：（公安局来电反映:…）" leaves a prefix inside an opening bracket
        if line[:1] in "（(":
            _, line = split_channel_prefix(line[1:])
            line = _strip_tail(line)
        if not _NO_TEXT.match(line):
            kept.append(line)
    return "\n".join(kept)


def _is_reply(line: str) -> bool:
    head = re.split(r"[:：]", line, maxsplit=1)[0] if re.search(r"[:：]", line[:45]) else ""
    if _DATE.match(line) or re.match(r"^于\s*\d{4}", line):
        return True
    if not head or "市民" in head or len(head) > 40:
        return False
    if _DATE.search(head):
        return True
    return "来电" not in head and bool(_REPLY_SPEAKER.search(head))


def _strip_tail(line: str) -> str:
    while True:
        shorter = _TRAILING_NOISE.sub("", line)
        shorter = _TRAILING_INSTRUCTION.sub("", shorter)
        shorter = _TRAILING_FORMULA.sub("", shorter)
        if shorter == line:
            return line.strip()
        line = shorter


# --- data -------------------------------------------------------------------------------------------


def read_labelled_csv(path: Path, text_column: str, label_column: str) -> tuple[list[str], list[str]]:
    """Texts and labels from a UTF-8 CSV with a header row (a BOM is accepted).

    Rows with an empty text or label are skipped and counted in the log. Raises `ValueError` with a
    one-line message for a missing file, a missing column, or a file without any usable row.
    """
    texts, labels, _ = read_labelled_rows(path, text_column, label_column)
    return texts, labels


def read_labelled_rows(
    path: Path, text_column: str, label_column: str, id_column: str | None = None
) -> tuple[list[str], list[str], list[str]]:
    """`read_labelled_csv` plus the `id_column` of the same rows (empty strings without one), for
    splits that must put given tickets into the hold-out."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror or error}") from error
    texts: list[str] = []
    labels: list[str] = []
    ids: list[str] = []
    skipped = 0
    with handle:
        try:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            for column in (text_column, label_column, *([id_column] if id_column else [])):
                if column not in header:
                    raise ValueError(f"{path.name}: no column {column!r} (columns: {', '.join(header) or 'none'})")
            for row in reader:
                text = (row.get(text_column) or "").strip()
                label = (row.get(label_column) or "").strip()
                if not text or not label:
                    skipped += 1
                    continue
                texts.append(text)
                labels.append(label)
                ids.append((row.get(id_column) or "").strip() if id_column else "")
        except (UnicodeDecodeError, csv.Error) as error:
            raise ValueError(f"{path.name}: not a UTF-8 CSV file ({error})") from error
    if skipped:
        logger.warning("%s: skipped %d rows with an empty %s or %s", path.name, skipped, text_column, label_column)
    if not texts:
        raise ValueError(f"{path.name}: no rows with both {text_column!r} and {label_column!r}")
    return texts, labels, ids


def stratified_split(
    texts: Sequence[str],
    labels: Sequence[str],
    test_fraction: float = 0.2,
    seed: int = 0,
    force_test: Sequence[int] = (),
) -> tuple[list[int], list[int]]:
    """Train and test row indices, per label `test_fraction` of the rows (rounded, at least one).

    Labels with fewer than 2 rows go to train only, so that every test label was seen in training.
    Indices in `force_test` always go to test (e.g. tickets that gold calls were made from, so that a
    model trained on this split can be evaluated on those calls); they count towards their label's
    share. Deterministic for a given seed.
    """
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    forced = set(force_test)
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    rng = np.random.default_rng(seed)
    train: list[int] = []
    test: list[int] = []
    for label in sorted(by_label):
        indices = by_label[label]
        pinned = [index for index in indices if index in forced]
        free = [index for index in indices if index not in forced]
        n_test = 0 if len(indices) < 2 else min(len(indices) - 1, max(1, round(test_fraction * len(indices))))
        free = [free[i] for i in rng.permutation(len(free))]
        n_free_test = max(0, n_test - len(pinned))
        test.extend(pinned + free[:n_free_test])
        train.extend(free[n_free_test:])
    return sorted(train), sorted(test)


# --- model ------------------------------------------------------------------------------------------


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
    ):
        self.options = options
        self.labels = labels
        self.training_size = training_size
        self._vectorizer = vectorizer
        self._char_classifier = char_classifier
        self._embedding_classifier = embedding_classifier
        self._encoder = encoder
        self._last_embedded: tuple[list[str], np.ndarray] | None = None
        self._neighbours = neighbour_index

    @classmethod
    def train(
        cls,
        texts: list[str],
        labels: list[str],
        options: RoutingOptions | None = None,
        label_aliases: Mapping[str, str] | None = None,
        *,
        encoder: TextEncoder | None = None,
    ) -> "RoutingModel":
        """Fit on raw ticket texts (the routing instruction is stripped here) and their units.

        label_aliases maps an alias or former name to the canonical department name; the model then
        predicts canonical names only. encoder embeds texts when `options.use_embeddings` (default: the
        process-wide `extract.embeddings.get_embedder()`).
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
        clean = _prepare(texts, options)
        char_inputs = _char_inputs(texts, clean, options)
        started = time.perf_counter()
        vectorizer = TfidfVectorizer(
            analyzer=options.analyzer,
            ngram_range=(options.ngram_min, options.ngram_max),
            min_df=options.min_df,
            sublinear_tf=options.sublinear_tf,
            dtype=np.float32,
        )
        features = vectorizer.fit_transform(char_inputs)
        char_classifier = _char_classifier(options, targets)
        char_classifier.fit(features, targets)
        unit_names = [str(label) for label in char_classifier.classes_]
        column = {label: index for index, label in enumerate(unit_names)}
        embedding_classifier = None
        index_vectors = features
        if options.use_embeddings:
            encoder = encoder or _default_encoder()
            vectors = encoder.passages(clean)
            embedding_classifier = LogisticRegression(C=options.embedding_C, max_iter=3000)
            embedding_classifier.fit(vectors, targets)
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
        )

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        """(len(texts), len(labels)) probabilities; rows sum to 1, columns follow `labels`."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float64)
        clean = _prepare(texts, self.options)
        features = self._vectorizer.transform(_char_inputs(texts, clean, self.options))
        probabilities = _char_probabilities(self._char_classifier, features, self.options)
        if self._embedding_classifier is not None:
            vectors = self._embed(clean)
            weight = self.options.embedding_weight
            combined = weight * self._embedding_classifier.predict_proba(vectors)
            neighbour_weight = self.options.neighbour_weight if self._neighbours is not None else 0.0
            if neighbour_weight > 0:
                combined += neighbour_weight * self._neighbour_vote(self._neighbours.similarities(vectors))
            probabilities = (1.0 - weight - neighbour_weight) * probabilities + combined
        return probabilities

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

    def predict(self, texts: list[str], k: int = 3) -> list[list[tuple[str, float]]]:
        """Top-k (department, probability) per text, best first."""
        probabilities = self.predict_proba(texts)
        k = max(1, min(k, len(self.labels)))
        ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        return [
            [(self.labels[column], float(row[column])) for column in order]
            for row, order in zip(probabilities, ranked, strict=True)
        ]

    def save(self, directory: Path) -> None:
        """Write `model.pkl` (the fitted sklearn objects) and `manifest.json` into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        payload = pickle.dumps(
            {
                "vectorizer": self._vectorizer,
                "char_classifier": self._char_classifier,
                "embedding_classifier": self._embedding_classifier,
                "neighbour_index": self._neighbours,
            },
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        write_atomic(directory / MODEL_FILE, payload)
        manifest = {
            "format_version": FORMAT_VERSION,
            "kind": "hotline-intake routing model",
            "options": asdict(self.options),
            "labels": self.labels,
            "training_size": self.training_size,
            "model_file": MODEL_FILE,
            "model_sha256": hashlib.sha256(payload).hexdigest(),
            "versions": _library_versions(),
        }
        write_atomic(directory / MANIFEST_FILE, json.dumps(manifest, ensure_ascii=False, indent=2))

    @classmethod
    def load(cls, directory: Path, *, encoder: TextEncoder | None = None) -> "RoutingModel":
        """Read a model written by `save`, checking format version, checksum and library versions.

        Raises `ModelLoadError` for a missing, corrupt or incompatible directory. Only load models from
        a trusted place: the model file is a pickle.
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
            raise ModelLoadError(
                f"routing model at {directory} has format version {found}, this code reads {FORMAT_VERSION}"
            )
        saved_sklearn = manifest.get("versions", {}).get("scikit-learn")
        if saved_sklearn != sklearn.__version__:
            raise ModelLoadError(
                f"routing model at {directory} was saved with scikit-learn {saved_sklearn}, "
                f"this is {sklearn.__version__}: retrain it"
            )
        try:
            payload = (directory / MODEL_FILE).read_bytes()
        except OSError as error:
            raise ModelLoadError(f"routing model file {directory / MODEL_FILE} is unreadable: {error}") from error
        if hashlib.sha256(payload).hexdigest() != manifest.get("model_sha256"):
            raise ModelLoadError(f"routing model file {directory / MODEL_FILE} does not match its manifest checksum")
        try:
            parts = pickle.loads(payload)
            known = {field.name for field in fields(RoutingOptions)}
            options = RoutingOptions(**{key: value for key, value in manifest["options"].items() if key in known})
            model = cls(
                options=options,
                labels=list(manifest["labels"]),
                vectorizer=parts["vectorizer"],
                char_classifier=parts["char_classifier"],
                embedding_classifier=parts["embedding_classifier"],
                training_size=int(manifest["training_size"]),
                encoder=encoder,
                neighbour_index=parts["neighbour_index"],
            )
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as error:
            raise ModelLoadError(f"routing model at {directory} is corrupt: {error}") from error
        if model.labels != [str(label) for label in model._char_classifier.classes_]:
            raise ModelLoadError(f"routing model at {directory}: manifest labels do not match the classifier")
        return model


def _prepare(texts: Sequence[str], options: RoutingOptions) -> list[str]:
    return [strip_routing_instruction(text)[: options.max_chars] for text in texts]


def _char_inputs(texts: Sequence[str], clean: list[str], options: RoutingOptions) -> list[str]:
    if not options.request_kind:
        return clean
    # 〔〕 never occurs in ticket texts, so the kind token cannot be confused with the caller's words
    return [f"〔{split_channel_prefix(text or '')[0]}〕{body}" for text, body in zip(texts, clean, strict=True)]


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
    scores = classifier.decision_function(features)
    if scores.ndim == 1:  # two classes: one score for the second
        scores = np.column_stack([-scores, scores])
    return softmax(options.temperature * scores, axis=1)


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


# --- evaluation and output --------------------------------------------------------------------------


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
