"""Enrolled operator voiceprints: one embedding per agent id, stored under DATA_DIR/voiceprints
(`hotline enroll`: `voiceprint_from_recordings`, then `VoiceprintStore.save`)."""

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from asr.audio import load_audio
from asr.ports import SpeakerEncoder, SpeechDetector
from models import AudioDecodeError, MetadataError, NoSpeechError
from models.files import write_atomic

_AGENT_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class VoiceprintStore:
    def __init__(self, directory: Path):
        self.directory = directory

    def save(self, agent_id: str, embedding: np.ndarray, sources: list[str]) -> Path:
        path = self._path(agent_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "agent_id": agent_id,
            "embedding": [round(float(x), 6) for x in embedding],
            "sources": sources,
            "enrolled_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_atomic(path, json.dumps(record, ensure_ascii=False))
        return path

    def load(self, agent_id: str) -> np.ndarray | None:
        path = self._path(agent_id)
        if not path.is_file():
            return None
        vector = np.asarray(json.loads(path.read_text())["embedding"], dtype=np.float32)
        return vector / np.linalg.norm(vector)

    def _path(self, agent_id: str) -> Path:
        if not _AGENT_ID.match(agent_id):
            raise MetadataError("agent id must be 1-64 letters, digits, '.', '_' or '-'")
        return self.directory / f"{agent_id}.json"


def voiceprint_from_recordings(
    paths: Sequence[Path], encoder: SpeakerEncoder, detector: SpeechDetector, channel: int | None = None
) -> np.ndarray:
    """One operator's voiceprint: the mean of one embedding per recording (its speech only), at unit length.

    The recordings hold the operator alone, or, with `channel`, the operator on that channel of stereo calls.
    Raises `AudioDecodeError` for a recording without that channel, `NoSpeechError` for one without speech.
    """
    vectors = []
    for path in paths:
        recording = load_audio(path)
        index = channel if channel is not None else 0
        if index >= len(recording.channels):
            raise AudioDecodeError(f"{path.name} has no channel {index}")
        samples = recording.channels[index] if channel is not None else recording.mono()
        spans = [s for s in detector.detect(recording) if channel is None or s.channel == index]
        rate = recording.sample_rate
        speech = [samples[int(s.start * rate) : int(s.end * rate)] for s in spans]
        if not speech:
            raise NoSpeechError(f"no speech in {path.name}")
        vectors.append(encoder.embed(np.concatenate(speech), rate))
    mean = np.mean(vectors, axis=0)
    return mean / np.linalg.norm(mean)
