"""Labelled ticket history: reading it from CSV, and the splits it is measured on: stratified (every unit in
proportion) and temporal (train on the past, test on the latest months: units are renamed and duties move, so
this is the honest one for a live hotline). `validation_folds` makes the (fit, validation) pairs that a model's
calibration is fitted on, inside the training part."""

import csv
import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = [
    "month_of",
    "read_labelled_csv",
    "read_labelled_rows",
    "stratified_folds",
    "stratified_split",
    "temporal_split",
    "validation_folds",
]

_MONTH = re.compile(r"^\s*(\d{4})[-/年.]?(\d{2})")


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


def month_of(value: str) -> str:
    """The month ("2018-05") of a ticket's time: an ISO date or time ("2018-05-03T10:00"), or a ticket number that
    starts with its date (the Haikou 工单编号 20180503184928). Raises ValueError for anything else."""
    match = _MONTH.match(value or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"not a date or a ticket number starting with one: {value!r}")
    return f"{match.group(1)}-{match.group(2)}"


def temporal_split(
    months: Sequence[str], test_from: str | None = None, exclude: Sequence[int] = ()
) -> tuple[list[int], list[int]]:
    """Train and test row indices by time: test = the rows of `test_from` (a month, "2018-05") and later, train =
    the earlier ones. Without `test_from` the latest month is the test. Rows in `exclude` that fall in the
    training months are left out of both (e.g. tickets the gold calls were made from: never trained on, and not
    from the test months either)."""
    if not months:
        raise ValueError("no rows to split")
    test_from = test_from or max(months)
    month_of(test_from)  # a month the way `month_of` writes it, or a clear error
    excluded = set(exclude)
    test = [index for index, month in enumerate(months) if month >= test_from]
    train = [index for index, month in enumerate(months) if month < test_from and index not in excluded]
    if not train or not test:
        raise ValueError(f"splitting at {test_from} leaves {len(train)} training and {len(test)} test rows")
    return train, test


def stratified_folds(labels: Sequence[str], folds: int = 3, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """(fit, validation) index pairs of a stratified k-fold: each label's rows shuffled and dealt round-robin, so
    every row is validated once."""
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    rng = np.random.default_rng(seed)
    fold_of = [0] * len(labels)
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    offset = 0
    for label in sorted(by_label):
        for position, index in enumerate(rng.permutation(by_label[label])):
            fold_of[int(index)] = (position + offset) % folds
        offset += len(by_label[label])
    return [
        ([i for i in range(len(labels)) if fold_of[i] != fold], [i for i in range(len(labels)) if fold_of[i] == fold])
        for fold in range(folds)
    ]


def validation_folds(
    labels: Sequence[str], months: Sequence[str] | None = None, folds: int = 3, seed: int = 0
) -> list[tuple[list[int], list[int]]]:
    """Where a model's calibration and dispatch threshold are fitted, inside its training rows.

    With `months` (temporal): rolling origin over the latest `folds` months, each validated by a model of the
    months before it, which is how a deployed model is used (trained on the past, routing the next month); several
    months rather than one, because one month of a few hundred tickets can be easier or harder than the next
    (on the Haikou tickets April alone set a threshold that erred 6% in May-June; February-April held at 3.5%).
    Without: stratified k-fold (every row validated once by a model that did not train on it)."""
    if months is None:
        return stratified_folds(labels, folds, seed)
    distinct = sorted(set(months))
    if len(distinct) < 2:
        raise ValueError(f"temporal calibration needs rows of at least two months, got {distinct}")
    pairs = []
    for month in distinct[1:][-folds:]:
        fit = [index for index, value in enumerate(months) if value < month]
        pairs.append((fit, [index for index, value in enumerate(months) if value == month]))
    return pairs
