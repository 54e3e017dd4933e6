"""Enrolled operator voiceprints: one embedding per agent id, stored under DATA_DIR/voiceprints."""

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from models import MetadataError
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
