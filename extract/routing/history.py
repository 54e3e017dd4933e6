"""Labelled ticket history: reading it from CSV, and the stratified train/test split."""

import csv
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["read_labelled_csv", "read_labelled_rows", "stratified_split"]


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
