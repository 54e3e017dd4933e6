"""Mono recordings: speaker embeddings over sliding windows, clustered into the call's parties.

The voice encoder is Resemblyzer's (a 3-layer LSTM d-vector model whose 17 MB weights ship in
the `resemblyzer` package). Each speech span is cut into 1.6 s windows; each window gets an
embedding; the windows are clustered (agglomerative, Ward on unit vectors) into `num_speakers` parties; the
labels are smoothed and turned into a pyannote.core Annotation.
"""

import functools
import itertools
import logging
from dataclasses import dataclass

import numpy as np
from pyannote.core import Annotation
from pyannote.core import Segment as Span

from asr.diarize.base import DiarizationResult, speaker_label
from models import Audio, ModelLoadError, SpeechSpan

logger = logging.getLogger(__name__)

_SAMPLE_RATE = 16000
_N_FFT = 400  # 25 ms, as Resemblyzer was trained
_HOP = 160  # 10 ms
_N_MELS = 40
_PARTIAL_FRAMES = 160  # 1.6 s per embedding window


@dataclass(frozen=True)
class EmbeddingDiarizerOptions:
    """Knobs of the embedding backend.

    num_speakers: a hotline call has two parties; a transferred call may have three.
    hop_s: step between embedding windows (each window is 1.6 s); 0.8 s measured better and
        faster than 0.4 s (bench/diarize.py).
    resolution_s: time grid on which labels are decided and smoothed.
    smoothing_s: labels flipping for less than this are taken as noise (median filter).
    same_speaker_similarity: if the clusters' centroids are at least this similar, the call is
        taken to have one speaker only and a warning is raised.
    """

    num_speakers: int = 2
    hop_s: float = 0.8
    resolution_s: float = 0.1
    smoothing_s: float = 0.5
    same_speaker_similarity: float = 0.97
    device: str = "auto"


class ResemblyzerEncoder:
    """`SpeakerEncoder` on Resemblyzer's pretrained voice encoder, with a NumPy mel front end.

    Resemblyzer computes its mel spectrogram with librosa, whose first call spends seconds
    compiling with numba; the same filterbank in NumPy costs nothing.
    """

    def __init__(self, device: str = "cpu"):
        self.device = device

    @functools.cached_property
    def _model(self):
        return _load_voice_encoder(self.device)

    def embed(self, samples: np.ndarray, sample_rate: int = _SAMPLE_RATE) -> np.ndarray:
        """One embedding for a stretch of one speaker's speech (mean of its window embeddings)."""
        embeddings, _ = self.embed_windows(samples, sample_rate, hop_s=0.8)
        if len(embeddings) == 0:
            raise ValueError("no audio to embed")
        mean = embeddings.mean(axis=0)
        return mean / np.linalg.norm(mean)

    def embed_windows(
        self, samples: np.ndarray, sample_rate: int = _SAMPLE_RATE, hop_s: float = 0.8
    ) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings of 1.6 s windows every `hop_s`, and each window's centre time in seconds."""
        return self.embed_windows_many([samples], sample_rate, hop_s)[0]

    def embed_windows_many(
        self, pieces: list[np.ndarray], sample_rate: int = _SAMPLE_RATE, hop_s: float = 0.8
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """`embed_windows` for several stretches of audio in one forward pass.

        Many small batches are slow on a busy CPU (torch's thread pool spins waiting for cores);
        one batch for the whole call is not.
        """
        if sample_rate != _SAMPLE_RATE:
            raise ValueError(f"the voice encoder needs {_SAMPLE_RATE} Hz audio, got {sample_rate}")
        step = max(1, round(hop_s * _SAMPLE_RATE / _HOP))
        windows: list[np.ndarray] = []
        layout: list[tuple[int, np.ndarray]] = []  # per piece: how many windows, their centres
        for samples in pieces:
            mel = mel_spectrogram(_normalize_volume(samples))
            if len(mel) == 0:
                layout.append((0, np.zeros(0)))
                continue
            if len(mel) < _PARTIAL_FRAMES:
                # loop a short stretch rather than pad it with silence, which the encoder was never
                # trained on and which pulls short utterances towards one cluster
                mel = np.resize(mel, (_PARTIAL_FRAMES, _N_MELS))
            starts = list(range(0, len(mel) - _PARTIAL_FRAMES + 1, step))
            if starts[-1] + _PARTIAL_FRAMES < len(mel):
                starts.append(len(mel) - _PARTIAL_FRAMES)
            windows.extend(mel[start : start + _PARTIAL_FRAMES] for start in starts)
            duration = len(samples) / sample_rate
            centres = np.minimum((np.array(starts) + _PARTIAL_FRAMES / 2) * _HOP / _SAMPLE_RATE, duration)
            layout.append((len(starts), centres))
        embeddings = self._forward(np.stack(windows)) if windows else np.zeros((0, 256), np.float32)
        result, offset = [], 0
        for count, centres in layout:
            result.append((embeddings[offset : offset + count], centres))
            offset += count
        return result

    def _forward(self, batch: np.ndarray, chunk: int = 512) -> np.ndarray:
        import torch

        outputs = []
        with torch.inference_mode():
            for start in range(0, len(batch), chunk):
                tensor = torch.from_numpy(batch[start : start + chunk]).to(self._model.device)
                outputs.append(self._model(tensor).cpu().numpy())
        return np.concatenate(outputs)


class EmbeddingDiarizer:
    """`Diarizer` for mono calls: cluster voice embeddings of the speech into the call's parties."""

    name = "embedding"

    def __init__(self, options: EmbeddingDiarizerOptions | None = None, encoder: ResemblyzerEncoder | None = None):
        self.options = options or EmbeddingDiarizerOptions()
        self.encoder = encoder or ResemblyzerEncoder(self.options.device)

    def diarize(self, audio: Audio, speech: list[SpeechSpan]) -> DiarizationResult:
        opts = self.options
        samples = audio.mono()
        rate = audio.sample_rate
        spans = [span for span in speech if span.duration >= 0.25]
        pieces = [samples[int(span.start * rate) : int(span.end * rate)] for span in spans]
        embeddings, times = [], []
        for span, (window_embeddings, centres) in zip(
            spans, self.encoder.embed_windows_many(pieces, rate, opts.hop_s), strict=True
        ):
            embeddings.append(window_embeddings)
            times.append(centres + span.start)
        if not any(len(e) for e in embeddings):
            return DiarizationResult(Annotation(), self.name)
        vectors = np.concatenate(embeddings)
        centres = np.concatenate(times)

        labels = cluster(vectors, opts.num_speakers)
        centroids = _centroids(vectors, labels)
        if len(centroids) > 1 and _max_similarity(centroids) >= opts.same_speaker_similarity:
            logger.info("speaker clusters are near-identical; treating the call as one speaker")
            labels = np.zeros_like(labels)
            centroids = _centroids(vectors, labels)

        annotation = _annotate(speech, centres, labels, opts)
        names = {index: speaker_label(index) for index in range(len(centroids))}
        annotation = annotation.rename_labels(names)
        return DiarizationResult(
            annotation,
            self.name,
            embeddings={names[index]: centroid for index, centroid in enumerate(centroids)},
        )


def cluster(vectors: np.ndarray, num_speakers: int) -> np.ndarray:
    """Cluster labels 0..k-1, numbered by first appearance in time."""
    if len(vectors) < 2 or num_speakers < 2:
        return np.zeros(len(vectors), dtype=int)
    from scipy.cluster.hierarchy import fcluster, linkage

    k = min(num_speakers, len(vectors))
    # Ward on unit vectors: average-linkage cosine leaves a few outlier windows as a "speaker"
    # and lumps both parties together (measured in docs/BENCHMARKS.md).
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    raw = fcluster(linkage(unit, method="ward"), t=k, criterion="maxclust")
    order = {label: rank for rank, label in enumerate(dict.fromkeys(raw))}
    return np.array([order[label] for label in raw])


def mel_spectrogram(samples: np.ndarray) -> np.ndarray:
    """(frames, 40) power mel spectrogram as Resemblyzer's librosa call computes it."""
    if len(samples) == 0:
        return np.zeros((0, _N_MELS), np.float32)
    padded = np.pad(samples.astype(np.float32), _N_FFT // 2)
    count = 1 + (len(padded) - _N_FFT) // _HOP
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(count, _N_FFT), strides=(padded.strides[0] * _HOP, padded.strides[0])
    )
    power = np.abs(np.fft.rfft(frames * _hann(), axis=1)) ** 2
    return (power @ _mel_filters().T).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _hann() -> np.ndarray:
    return np.hanning(_N_FFT + 1)[:-1].astype(np.float32)  # periodic window, as librosa uses


@functools.lru_cache(maxsize=1)
def _mel_filters() -> np.ndarray:
    from faster_whisper.feature_extractor import FeatureExtractor

    return FeatureExtractor.get_mel_filters(_SAMPLE_RATE, _N_FFT, _N_MELS).astype(np.float32)


@functools.lru_cache(maxsize=2)
def _load_voice_encoder(device: str):
    try:
        import warnings

        with warnings.catch_warnings():
            # resemblyzer imports scipy.ndimage.morphology, deprecated in SciPy 1.x
            warnings.simplefilter("ignore", DeprecationWarning)
            from resemblyzer import VoiceEncoder
    except ImportError as error:
        raise ModelLoadError(
            "the embedding diarizer needs resemblyzer: pip install --no-deps resemblyzer==0.1.4"
        ) from error
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = VoiceEncoder(device, verbose=False)
    model.eval()
    return model


def _normalize_volume(samples: np.ndarray, target_dbfs: float = -30.0) -> np.ndarray:
    """Raise quiet audio to Resemblyzer's training level (never lowers loud audio)."""
    rms = np.sqrt(np.mean(samples.astype(np.float64) ** 2)) if len(samples) else 0.0
    if rms <= 0:
        return samples
    gain_db = target_dbfs - 20 * np.log10(rms)
    return samples * (10 ** (gain_db / 20)) if gain_db > 0 else samples


def _centroids(vectors: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    result = []
    for label in range(labels.max() + 1):
        mean = vectors[labels == label].mean(axis=0)
        result.append(mean / np.linalg.norm(mean))
    return result


def _max_similarity(centroids: list[np.ndarray]) -> float:
    matrix = np.stack(centroids)
    similarity = matrix @ matrix.T
    np.fill_diagonal(similarity, -1)
    return float(similarity.max())


def _annotate(speech: list[SpeechSpan], centres: np.ndarray, labels: np.ndarray, opts) -> Annotation:
    """Label each speech grid step with its nearest window's cluster, smooth, and collect turns."""
    annotation = Annotation()
    order = np.argsort(centres)
    centres, labels = centres[order], labels[order]
    half_smooth = max(0, round(opts.smoothing_s / opts.resolution_s / 2))
    track = 0
    for span in speech:
        grid = np.arange(span.start, span.end, opts.resolution_s)
        if len(grid) == 0:
            continue
        nearest = np.clip(np.searchsorted(centres, grid), 1, len(centres) - 1)
        left_closer = np.abs(grid - centres[nearest - 1]) <= np.abs(centres[nearest] - grid)
        grid_labels = np.where(left_closer, labels[nearest - 1], labels[nearest])
        grid_labels = _median_filter(grid_labels, half_smooth)
        change = np.flatnonzero(np.diff(grid_labels)) + 1
        bounds = [0, *change.tolist(), len(grid)]
        for lo, hi in itertools.pairwise(bounds):
            start = float(grid[lo])
            end = float(span.end if hi == len(grid) else grid[hi])
            annotation[Span(start, end), track] = int(grid_labels[lo])
            track += 1
    return annotation


def _median_filter(labels: np.ndarray, half: int) -> np.ndarray:
    """Majority vote in a window of 2*half+1 steps (labels are small integers)."""
    if half == 0 or len(labels) < 3:
        return labels
    padded = np.pad(labels, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)
    return np.array([np.bincount(window).argmax() for window in windows])
