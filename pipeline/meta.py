"""Telephony metadata (META.json) parsed and validated at the edge, and the range of times the service takes."""

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from models import CallMeta, MetadataError

CALL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
AGENT_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
CALLER_NUMBER_PATTERN = r"^[^\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]{0,32}$"
"""What a PBX sends as the ANI (digits, "+86…", "anonymous"), without control or text-direction characters: a NUL
is refused by PostgreSQL (a 500 on push, "unavailable" on a live start), an override shows the number backwards."""

NAIVE_TIMES_ZONE = ZoneInfo("Asia/Shanghai")
"""Recorders and people in this deployment's country write local time without an offset."""

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
MOMENT_RANGE = "from 1970-01-01T00:00:00Z up to 2100-01-01T00:00:00Z; without an offset, local time (Asia/Shanghai)"
"""Every time the service takes (a call's start, search and export filters) lies in [EARLIEST, LATEST): outside
it, converting to UTC for the database overflows (year 1 at +08:00, year 9999 at -12:00) and no call is there."""

METADATA_MAX_CHARS = 64 * 1024
METADATA_MAX_DEPTH = 8
"""A metadata document is a flat object (channel_map one level down); these bounds are checked before parsing,
so a hostile document costs neither memory nor recursion (json.loads recurses once per level)."""

_JSON_SYNTAX = re.compile(r'[\[\]{}"\\]')


def aware(moment: datetime | None) -> datetime | None:
    """A time without an offset read as local (NAIVE_TIMES_ZONE); others unchanged."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=NAIVE_TIMES_ZONE)
    return moment


def check_moment(moment: datetime) -> datetime:
    """`moment` unchanged if it lies in [EARLIEST, LATEST) once read with `aware`; ValueError otherwise."""
    if not EARLIEST <= aware(moment) < LATEST:
        raise ValueError(f"the time must be {MOMENT_RANGE}")
    return moment


Moment = Annotated[datetime, AfterValidator(check_moment)]
"""A datetime the service accepts (pydantic, FastAPI query parameters): ISO 8601, in the range above."""


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MOMENT = TypeAdapter(Moment)


def _day_or_moment(value: object) -> date | datetime:
    """A date alone ("2026-11-30", a whole local day) as a `date`; anything else as a `Moment`."""
    if isinstance(value, str) and _DAY.fullmatch(value):
        try:
            day = date.fromisoformat(value)
        except ValueError as error:
            raise ValueError(f"not a date: {error}") from None
        check_moment(datetime.combine(day, time()))
        return day
    return _MOMENT.validate_python(value)


DayOrMoment = Annotated[date | datetime, PlainValidator(_day_or_moment, json_schema_input_type=str)]
"""A bound of a date filter (pydantic, FastAPI query parameters): a date (YYYY-MM-DD) means that whole day in local
time (NAIVE_TIMES_ZONE); a moment (ISO 8601) means that instant. `window_start` and `window_end` turn either into
the half-open range [start, end) the database is searched over."""
DAY_OR_MOMENT = "a date (YYYY-MM-DD: the whole day, local time) or a moment (ISO 8601; " + MOMENT_RANGE + ")"


def window_start(bound: date | datetime | None) -> datetime | None:
    """The first instant a `since` bound takes in: a date's local midnight, or the moment itself."""
    if bound is None or isinstance(bound, datetime):
        return aware(bound)
    return datetime.combine(bound, time(), NAIVE_TIMES_ZONE)


def window_end(bound: date | datetime | None) -> datetime | None:
    """The first instant an `until` bound leaves out: after a date's whole day (the next local midnight), or the
    moment itself (a moment is exclusive, as it always was)."""
    if bound is None or isinstance(bound, datetime):
        return aware(bound)
    return datetime.combine(bound + timedelta(days=1), time(), NAIVE_TIMES_ZONE)


def load_metadata_json(text: str, what: str = "metadata") -> object:
    """Parse a metadata JSON document (or the channel_map field), bounded in size and nesting depth;
    MetadataError with a message otherwise."""
    if len(text) > METADATA_MAX_CHARS:
        raise MetadataError(f"{what} is longer than {METADATA_MAX_CHARS} characters")
    if _json_depth(text) > METADATA_MAX_DEPTH:
        raise MetadataError(f"{what} is nested deeper than {METADATA_MAX_DEPTH} levels")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise MetadataError(f"{what} is not valid JSON ({error.msg} at character {error.pos})") from None
    except ValueError:  # an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise MetadataError(f"{what} holds a number too long to read") from None


def _json_depth(text: str) -> int:
    """How deep arrays and objects nest in a JSON text (brackets inside strings do not count), in one pass over
    its brackets, quotes and backslashes: linear whatever the text (a regular expression for strings is not)."""
    depth = deepest = 0
    in_string = False
    escaped_at = -1
    for match in _JSON_SYNTAX.finditer(text):
        position, char = match.start(), match.group()
        if position == escaped_at:
            continue
        if in_string:
            if char == "\\":
                escaped_at = position + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


class CallMetaIn(BaseModel):
    """The metadata document a telephony system sends with a recording."""

    model_config = ConfigDict(extra="ignore")

    call_id: str = Field(pattern=CALL_ID_PATTERN)
    caller_number: str | None = Field(None, max_length=32, pattern=CALLER_NUMBER_PATTERN)
    agent_id: str | None = Field(None, pattern=AGENT_ID_PATTERN)
    started_at: Moment | None = None
    channel_map: dict[str, str] = Field(default_factory=dict, max_length=8)

    @field_validator("channel_map")
    @classmethod
    def _roles(cls, value: dict[str, str]) -> dict[str, str]:
        for channel, role in value.items():
            if not re.fullmatch(r"[0-9]{1,2}", channel) or role not in ("agent", "caller"):
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
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MetadataError(f"cannot read metadata {path.name}: {error}") from None
    try:
        data = load_metadata_json(text, "the file")
    except MetadataError as error:
        raise MetadataError(f"cannot read metadata {path.name}: {error}") from None
    return parse_meta(data, default_id)


def safe_call_id(text: str) -> str:
    """A call id made from a file name: characters outside the allowed set become '_'."""
    cleaned = re.sub(r"[^A-Za-z0-9_.:-]", "_", text)[:128].lstrip("._:-")
    return cleaned or "call"
