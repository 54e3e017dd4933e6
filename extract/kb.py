"""Knowledge base (知识库): consultations the operator can answer directly, with plain-language versions.

A hotline answers most consultations from its knowledge base without dispatching a ticket. Each
entry carries the operator's answer and a "policy translation" (政策翻译): the same answer in
everyday words, with jargon such as 灵活就业人员 or 异地就医备案 explained.

Retrieval embeds the caller's request as an e5 query and each entry's title and caller-style
questions as passages; an entry scores the best cosine similarity over its texts. E5 similarities
are compressed (unrelated Chinese sentences still score about 0.75), so the cut-off sits high;
`DEFAULT_MIN_SCORE` is chosen on the dev queries of bench/kb.py.
"""

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from pydantic import field_validator

from extract.resource_files import DATA_DIR, ConfigModel, OptionalText, OptionalTexts, Text, Texts, load_config_file
from models import KbAnswer

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_MIN_SCORE", "Embedder", "KbEntry", "KnowledgeBase"]

DEFAULT_KB = DATA_DIR / "kb.yaml"

DEFAULT_MIN_SCORE = 0.905
"""Cosine cut-off for a KB suggestion, from bench/kb.py (41 caller-style dev queries, 21 answerable):
the lowest right answer scored 0.917 and the highest unrelated request (a complaint about a broken
street lamp) 0.897, so 0.905 splits them (precision 1.00, recall 1.00 there); at 0.89 five of the 20
unanswerable requests already get a suggestion. A small dev set: expect some of both on real calls."""


class Embedder(Protocol):
    """Sentence embeddings, L2-normalised rows (`extract.embeddings.TextEmbedder`)."""

    def passages(self, texts: list[str]) -> np.ndarray:
        """Embed documents: (len(texts), dim) float32."""

    def queries(self, texts: list[str]) -> np.ndarray:
        """Embed search queries: (len(texts), dim) float32."""


@dataclass(frozen=True)
class KbEntry:
    """One knowledge-base entry. `questions` are ways callers ask it; `plain` is the 政策翻译."""

    entry_id: str
    title: str
    questions: tuple[str, ...]
    answer: str
    plain: str
    department: str | None
    tags: tuple[str, ...]


class KnowledgeBase:
    """Entries plus embedding search. The embedder is resolved on the first search, and entry texts are
    embedded once per instance."""

    def __init__(self, entries: list[KbEntry] | tuple[KbEntry, ...], embedder: Embedder | None = None):
        self.entries = tuple(entries)
        ids = [entry.entry_id for entry in self.entries]
        duplicates = sorted({entry_id for entry_id in ids if ids.count(entry_id) > 1})
        if duplicates:
            raise ValueError(f"duplicate knowledge-base entry id {duplicates[0]!r}")
        self._embedder = embedder
        self._matrix: np.ndarray | None = None
        self._owners: np.ndarray | None = None

    @classmethod
    def load(cls, path: Path | None = None, embedder: Embedder | None = None) -> "KnowledgeBase":
        """Load a YAML file, or every *.yaml file of a folder (in name order); None loads the bundled one.

        Raises ValueError with a one-line message naming the file on bad YAML, a missing or unknown
        key, or an entry id used twice.
        """
        path = DEFAULT_KB if path is None else Path(path)
        files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
        if not files:
            raise ValueError(f"{path}: no *.yaml knowledge-base files")
        entries: list[KbEntry] = []
        seen: set[str] = set()
        for file in files:
            for entry in _read_entries(file):
                if entry.entry_id in seen:
                    raise ValueError(f"{file}: duplicate knowledge-base entry id {entry.entry_id!r}")
                seen.add(entry.entry_id)
                entries.append(entry)
        logger.debug("loaded %d knowledge-base entries from %s", len(entries), path)
        return cls(entries, embedder=embedder)

    def search(self, query: str, k: int = 3, min_score: float = DEFAULT_MIN_SCORE) -> list[KbAnswer]:
        """Entries that answer `query`, best first: at most `k`, each scoring at least `min_score`.

        An entry's score is the highest cosine similarity between the query and its title or one of
        its questions.
        """
        if not query or not query.strip() or not self.entries or k <= 0:
            return []
        matrix, owners = self._passage_index()
        vector = np.asarray(self._get_embedder().queries([query]), dtype=np.float32)[0]
        similarities = matrix @ vector
        scores = np.full(len(self.entries), -np.inf, dtype=np.float32)
        np.maximum.at(scores, owners, similarities)
        # stable sort: equal scores keep the file's order
        order = np.argsort(-scores, kind="stable")
        answers = []
        for index in order[:k]:
            score = float(scores[index])
            if score < min_score:
                break
            entry = self.entries[index]
            answers.append(
                KbAnswer(
                    entry_id=entry.entry_id,
                    title=entry.title,
                    answer=entry.answer,
                    plain=entry.plain,
                    score=round(score, 4),
                    department=entry.department,
                )
            )
        return answers

    def _get_embedder(self) -> Embedder:
        if self._embedder is None:
            from extract.embeddings import get_embedder

            self._embedder = get_embedder()
        return self._embedder

    def _passage_index(self) -> tuple[np.ndarray, np.ndarray]:
        if self._matrix is None or self._owners is None:
            texts, owners = [], []
            for index, entry in enumerate(self.entries):
                for text in (entry.title, *entry.questions):
                    texts.append(text)
                    owners.append(index)
            self._matrix = np.asarray(self._get_embedder().passages(texts), dtype=np.float32)
            self._owners = np.asarray(owners, dtype=np.int64)
        return self._matrix, self._owners


def _read_entries(path: Path) -> list[KbEntry]:
    data = load_config_file(path, KbFile, "an 'entries' list")
    return [
        KbEntry(
            entry_id=item.id,
            title=item.title,
            questions=item.questions,
            answer=item.answer,
            plain=item.plain,
            department=item.department,
            tags=item.tags,
        )
        for item in data.entries
    ]


# --- the file's shape (kb.yaml) ------------------------------------------------------------------------


class KbFileEntry(ConfigModel):
    """An entry: `id`, `title`, caller-style `questions` (at least one), `answer`, `plain` (政策翻译),
    optional `department` and `tags`."""

    id: Text
    title: Text
    questions: Texts
    answer: Text
    plain: Text
    department: OptionalText = None
    tags: OptionalTexts = ()

    @field_validator("questions")
    @classmethod
    def _some_questions(cls, questions: tuple[str, ...]) -> tuple[str, ...]:
        if not questions:
            raise ValueError("no questions")
        return questions


class KbFile(ConfigModel):
    """A knowledge-base file: `entries`."""

    entries: tuple[KbFileEntry, ...]
