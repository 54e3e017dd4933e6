"""Telephony metadata (META.json) parsed and validated at the edge."""

import json
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models import CallMeta, MetadataError

CALL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"

NAIVE_TIMES_ZONE = ZoneInfo("Asia/Shanghai")
"""Recorders and people in this deployment's country write local time without an offset."""


def aware(moment: datetime | None) -> datetime | None:
    """A time without an offset read as local (NAIVE_TIMES_ZONE); others unchanged."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=NAIVE_TIMES_ZONE)
    return moment


class CallMetaIn(BaseModel):
    """The metadata document a telephony system sends with a recording."""

    model_config = ConfigDict(extra="ignore")

    call_id: str = Field(pattern=CALL_ID_PATTERN)
    caller_number: str | None = Field(None, max_length=32)
    agent_id: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    started_at: datetime | None = None
    channel_map: dict[str, str] = Field(default_factory=dict)

    @field_validator("channel_map")
    @classmethod
    def _roles(cls, value: dict[str, str]) -> dict[str, str]:
        for channel, role in value.items():
            if not channel.isdigit() or role not in ("agent", "caller"):
                raise ValueError('channel_map maps channel numbers to "agent" or "caller", e.g. {"0": "agent"}')
        return value

    def to_meta(self) -> CallMeta:
        return CallMeta(**self.model_dump())


def parse_meta(data: object, default_call_id: str) -> CallMeta:
    """Validate a metadata mapping; a missing call_id falls back to `default_call_id`."""
    if not isinstance(data, dict):
        raise MetadataError("metadata must be a JSON object")
    data = {"call_id": default_call_id, **{k: v for k, v in data.items() if v is not None}}
    try:
        return CallMetaIn.model_validate(data).to_meta()
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "metadata"
        raise MetadataError(f"invalid metadata field {where}: {first['msg']}") from None


def load_meta(path: Path | None, audio_path: Path) -> CallMeta:
    """META.json if given, else `<audio stem>.meta.json` beside the audio, else just a call id."""
    default_id = safe_call_id(audio_path.stem)
    if path is None:
        beside = audio_path.with_name(audio_path.stem + ".meta.json")
        path = beside if beside.is_file() else None
    if path is None:
        return CallMeta(call_id=default_id)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MetadataError(f"cannot read metadata {path.name}: {error}") from None
    return parse_meta(data, default_id)


def safe_call_id(text: str) -> str:
    """A call id made from a file name: characters outside the allowed set become '_'."""
    cleaned = re.sub(r"[^A-Za-z0-9_.:-]", "_", text)[:128].lstrip("._:-")
    return cleaned or "call"
