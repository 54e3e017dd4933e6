"""Mono live calls: who is speaking, decided utterance by utterance as the call goes on.

The batch backend (`asr.diarize.embedding`) clusters the whole call's voice embeddings at once; a live call
has only what was said so far. The same Resemblyzer windows (1.6 s every `hop_s`) are embedded per
utterance. Until two voices have been told apart, the windows heard so far are clustered the batch way
(Ward on unit vectors, `embedding.cluster`) and the split is taken once its two centroids differ clearly
(`split_similarity`) and each holds enough windows: a mono utterance often holds both parties (the caller
answers within the pause that would close it), so the first one or two utterances usually settle it. From
then on each window goes to the nearer of the two centroids, which keep learning (a running mean of their
windows), and labels are smoothed over neighbouring windows; words take the label of the time they hold
(`asr.turns.build_turns`), so an utterance holding both parties becomes two turns.

Everything it has learnt fits in `state()` (JSON, embeddings as base64 float32) so a live call restarted
from a checkpoint labels its next utterances as the first worker would have.
"""

import base64
from dataclasses import dataclass

import numpy as np
from pyannote.core import Annotation
from pyannote.core import Segment as Span

from asr.diarize.base import DiarizationResult, speaker_label
from asr.diarize.embedding import cluster
from asr.ports import SpeakerEncoder

_SAMPLE_RATE = 16000


@dataclass(frozen=True)
class OnlineSpeakerOptions:
    """Knobs of online speaker assignment (measured on the demo and shared mono calls, docs/BENCHMARKS.md).

    hop_s: step between 1.6 s embedding windows, as in batch.
    split_similarity: two clusters of the windows heard so far are two voices when their centroids are
        less similar than this (one voice split in two stays above about 0.9; the two parties of the
        shared calls sit near 0.75).
    min_windows: each of the two clusters needs this many windows before the split is taken.
    max_pool: windows kept while waiting for a second voice (the oldest go first), which bounds the state.
    smoothing: a window's label is the majority of this many neighbouring windows (odd).
    """

    hop_s: float = 0.8
    split_similarity: float = 0.85
    min_windows: int = 3
    max_pool: int = 60
    smoothing: int = 3


class OnlineSpeakers:
    """Labels each mono utterance's speech SPEAKER_00 / SPEAKER_01 as it arrives (see the module docstring)."""

    name = "online-embedding"

    def __init__(self, encoder: SpeakerEncoder, options: OnlineSpeakerOptions | None = None, state: dict | None = None):
        self.encoder = encoder
        self.options = options or OnlineSpeakerOptions()
        self._pool = np.zeros((0, 256), dtype=np.float32)  # windows heard while only one voice is known
        self._sums: list[np.ndarray] = []  # per speaker: the sum of its windows (unit vectors)
        self._counts: list[int] = []
        if state:
            self._pool = _decode(state["pool"])
            self._sums = [_decode(s)[0] for s in state["sums"]]
            self._counts = [int(c) for c in state["counts"]]

    @property
    def centroids(self) -> dict[str, np.ndarray]:
        """Each speaker's voice so far (unit vectors), for the enrolled-voiceprint role rule."""
        if not self._sums and len(self._pool):
            return {speaker_label(0): _unit(self._pool.sum(axis=0))}
        return {speaker_label(index): _unit(total) for index, total in enumerate(self._sums)}

    def state(self) -> dict:
        """What was learnt, JSON-serialisable; `OnlineSpeakers(encoder, options, state)` takes it up."""
        return {
            "pool": _encode(self._pool),
            "sums": [_encode(total[None, :]) for total in self._sums],
            "counts": list(self._counts),
        }

    def assign(self, samples: np.ndarray, offset_s: float) -> DiarizationResult:
        """Who speaks when in one utterance (16 kHz float32 starting `offset_s` into the call)."""
        duration = len(samples) / _SAMPLE_RATE
        annotation = Annotation()
        [(windows, centres)] = self.encoder.embed_windows_many([samples], _SAMPLE_RATE, self.options.hop_s)
        if len(windows) == 0:
            return DiarizationResult(annotation, self.name, embeddings=self.centroids)
        labels = self._labels(windows.astype(np.float32))
        labels = _majority(labels, self.options.smoothing)
        # each window's label holds from halfway after the previous window's centre to halfway to the next
        bounds = [0.0, *((centres[1:] + centres[:-1]) / 2).tolist(), duration]
        for index, label in enumerate(labels):
            start, end = offset_s + bounds[index], offset_s + bounds[index + 1]
            if end > start:
                annotation[Span(start, end), index] = speaker_label(int(label))
        return DiarizationResult(annotation.support(), self.name, embeddings=self.centroids)

    def _labels(self, windows: np.ndarray) -> np.ndarray:
        learnt = len(self._sums) == 2
        if not learnt:
            self._pool = np.concatenate([self._pool, windows])[-self.options.max_pool :]
            if not self._split():
                return np.zeros(len(windows), dtype=int)
        centroids = np.stack([_unit(total) for total in self._sums])
        labels = np.argmax(windows @ centroids.T, axis=1)
        if not learnt:
            return labels  # these windows were in the pool the centroids were made from
        for window, label in zip(windows, labels, strict=True):
            self._sums[label] = self._sums[label] + window
            self._counts[label] += 1
        return labels

    def _split(self) -> bool:
        """Two voices among the pooled windows? Then they become the two speakers (the first heard is 0)."""
        labels = cluster(self._pool, 2)
        if len(set(labels.tolist())) < 2:
            return False
        groups = [self._pool[labels == label] for label in (0, 1)]
        if min(len(group) for group in groups) < self.options.min_windows:
            return False
        if float(_unit(groups[0].sum(axis=0)) @ _unit(groups[1].sum(axis=0))) >= self.options.split_similarity:
            return False
        self._sums = [group.sum(axis=0) for group in groups]
        self._counts = [len(group) for group in groups]
        self._pool = np.zeros((0, self._pool.shape[1]), dtype=np.float32)
        return True


def _majority(labels: np.ndarray, width: int) -> np.ndarray:
    half = width // 2
    if half == 0 or len(labels) < width:
        return labels
    padded = np.pad(labels, half, mode="edge")
    return np.array(
        [np.bincount(window).argmax() for window in np.lib.stride_tricks.sliding_window_view(padded, width)]
    )


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def _encode(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def _decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").reshape(-1, 256).copy()
