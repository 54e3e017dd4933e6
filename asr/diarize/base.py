"""What every diarization backend returns."""

from dataclasses import dataclass, field

import numpy as np
from pyannote.core import Annotation


@dataclass
class DiarizationResult:
    """Speaker turns as a pyannote.core Annotation (labels SPEAKER_00, SPEAKER_01, …).

    `embeddings` holds one voice embedding per label where the backend computes them (used to
    recognise an enrolled operator); `by_channel` is true when each label is one audio channel,
    in which case `channel_labels[channel]` names it.
    """

    annotation: Annotation
    backend: str
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    by_channel: bool = False
    channel_labels: dict[int, str] = field(default_factory=dict)


def speaker_label(index: int) -> str:
    return f"SPEAKER_{index:02d}"
