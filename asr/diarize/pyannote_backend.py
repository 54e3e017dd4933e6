"""Optional backend: a pyannote.audio speaker-diarization pipeline loaded from a local config.yaml.

Install with `pip install -e '.[pyannote]'`. The pipeline is given as a local `config.yaml` (for
example a copy of pyannote/speaker-diarization-community-1 with its `segmentation/`, `embedding/`
and `plda/` folders beside it); nothing is fetched from a model hub at run time. The audio is
passed in memory, so pyannote's own file decoding (torchcodec) is never used.
"""

import functools
import logging
import os
import warnings
from pathlib import Path

import numpy as np
from pyannote.core import Annotation
from pyannote.core import Segment as Span

from asr.diarize.base import DiarizationResult, speaker_label
from models import Audio, ModelLoadError, SpeechSpan

__all__ = ["PyannoteDiarizer"]

logger = logging.getLogger(__name__)

_INSTALL_HINT = "pip install -e '.[pyannote]'"


class PyannoteDiarizer:
    """`Diarizer` running a local pyannote.audio pipeline on the call's mono signal.

    The pipeline does its own speech segmentation, so `speech` only decides whether there is
    anything to diarize. Labels are SPEAKER_00, SPEAKER_01, … in order of first appearance;
    `embeddings` holds the pipeline's per-speaker centroids (L2-normalised) where it returns them.
    """

    name = "pyannote"

    def __init__(self, config_path: Path, num_speakers: int = 2, device: str = "cpu"):
        self.config_path = Path(config_path).expanduser()
        self.num_speakers = num_speakers
        self.device = device

    def diarize(self, audio: Audio, speech: list[SpeechSpan]) -> DiarizationResult:
        pipeline = _load_pipeline(self.config_path.absolute(), self.device)
        if not speech:
            return DiarizationResult(Annotation(), self.name)
        import torch

        samples = np.ascontiguousarray(audio.mono(), dtype=np.float32)
        waveform = torch.from_numpy(samples).unsqueeze(0)
        options = {"num_speakers": self.num_speakers} if self.num_speakers > 0 else {}
        output = pipeline({"waveform": waveform, "sample_rate": audio.sample_rate}, **options)

        if isinstance(output, Annotation):
            annotation, centroids = output, None
        else:
            annotation, centroids = output.speaker_diarization, output.speaker_embeddings
        # pyannote zero-pads the last chunk and its turns can run past the end of the audio
        timeline = annotation.crop(Span(0.0, audio.duration), mode="intersection")
        order = dict.fromkeys(label for _, _, label in timeline.itertracks(yield_label=True))
        names = {label: speaker_label(index) for index, label in enumerate(order)}
        return DiarizationResult(
            timeline.rename_labels(names),
            self.name,
            embeddings=_normalised_embeddings(annotation, centroids, names),
        )


def _normalised_embeddings(annotation: Annotation, centroids: np.ndarray | None, names: dict) -> dict[str, np.ndarray]:
    """Centroid rows follow pyannote's `annotation.labels()` (sorted). Left out: rows pyannote
    padded with zeros (a speaker the clustering gave no centroid), rows that are not finite, and
    speakers that `names` lacks (only heard past the end of the audio)."""
    if centroids is None:
        return {}
    embeddings = {}
    for label, row in zip(annotation.labels(), np.asarray(centroids), strict=False):
        norm = np.linalg.norm(row)
        if label in names and np.isfinite(norm) and norm > 0:
            embeddings[names[label]] = (row / norm).astype(np.float32)
    return embeddings


@functools.lru_cache(maxsize=2)
def _load_pipeline(config_path: Path, device: str):
    # Set before pyannote.audio is imported: its telemetry reads the variable at import time.
    os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
    try:
        import torch

        with warnings.catch_warnings():
            # pyannote.audio warns at import when torchcodec cannot load; it only decodes files,
            # and this backend always passes the waveform in memory.
            warnings.filterwarnings("ignore", message=r"\s*torchcodec is not installed correctly")
            from pyannote.audio import Pipeline
    except ImportError as error:
        raise ModelLoadError(f"the pyannote diarizer needs pyannote.audio: {_INSTALL_HINT} ({error})") from error
    except OSError as error:
        # PyPI's torchaudio is a CUDA build; next to CPU torch its compiled library cannot load.
        raise ModelLoadError(
            f"pyannote.audio is installed but a compiled library does not load ({error}); "
            "with CPU torch, install with "
            f"{_INSTALL_HINT} and then delete torchaudio/lib/*.so (see pyproject.toml)"
        ) from error

    if not config_path.is_file():
        raise ModelLoadError(f"pyannote pipeline config not found: {config_path}")
    try:
        pipeline = Pipeline.from_pretrained(config_path)
    except Exception as error:
        raise ModelLoadError(f"cannot load the pyannote pipeline {config_path}: {error}") from error
    if pipeline is None:
        raise ModelLoadError(f"cannot load the pyannote pipeline {config_path}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    pipeline.to(torch.device(device))
    logger.info("loaded pyannote pipeline %s on %s", config_path, device)
    return pipeline
