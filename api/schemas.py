"""What the API returns and accepts (pydantic at the edge; the core types are dataclasses)."""

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from models.ticket import EMOTIONS, REQUEST_TYPES, URGENCY_LEVELS, Ticket
from pipeline.meta import (
    AGENT_ID_PATTERN,
    CALL_ID_PATTERN,
    CALLER_NUMBER_PATTERN,
    METADATA_MAX_CHARS,
    METADATA_MAX_DEPTH,
    MOMENT_RANGE,
)


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class CallError(BaseModel):
    kind: str | None
    message: str | None


class CallLinks(BaseModel):
    self: str
    transcript: str
    ticket: str
    audio: str


class CallStatus(BaseModel):
    call_id: str
    status: Literal["live", "queued", "processing", "done", "failed"]
    priority: str
    stage: str | None
    progress: dict[str, Any]
    attempts: int = Field(
        description="tries of the call's current phase (of extraction, its last, once done): 1 when it ran first time"
    )
    agent_id: str | None
    caller_number_masked: str | None
    started_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    audio_duration_s: float | None
    timings: dict[str, Any]
    error: CallError | None
    review: str | None
    department: str | None
    ticket_state: str
    audio_available: bool
    audit_score: float | None = Field(None, description="the latest QA audit's score; null = not audited")
    audited_at: datetime | None = None
    links: CallLinks


PRIORITIES = ("live", "backlog")


class CallPushForm(BaseModel):
    """A recorded call: the recording and its metadata, as form fields, as a META.json document, or both."""

    # The push's OpenAPI request body is this model's JSON schema. `api.routes.calls` parses the multipart form
    # itself (the recording spooled to disk as it streams in under the body limit, at most 20 fields, its own
    # 4xx answers) and reads these fields; the metadata ones are checked by `pipeline.meta.CallMetaIn`, whose
    # fields and bounds tests/security/test_input.py holds equal to these.
    recording: bytes = Field(description="the recording (audio/*; the container is found from its bytes)")
    call_id: str = Field(pattern=CALL_ID_PATTERN)
    caller_number: str | None = Field(None, max_length=32, pattern=CALLER_NUMBER_PATTERN)
    agent_id: str | None = Field(None, pattern=AGENT_ID_PATTERN)
    started_at: datetime | None = Field(None, description=MOMENT_RANGE)
    channel_map: str | None = Field(None, description='JSON, e.g. {"0": "agent", "1": "caller"}: at most 8 channels')
    metadata: str | None = Field(
        None,
        max_length=METADATA_MAX_CHARS,
        description="the META.json document (fields above win over its keys); "
        f"at most {METADATA_MAX_DEPTH} levels deep",
    )
    priority: Literal[PRIORITIES] = "live"  # type: ignore[valid-type]


class CallAccepted(BaseModel):
    call_id: str
    status: str
    created: bool = Field(description="false when the same recording was pushed before under this id")
    status_url: str


class CallPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[CallStatus]


_HIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
"""Control characters (but tab and newline) and the bidirectional overrides and isolates (U+202A-E, U+2066-9):
text that shows differently from what it holds (王 written backwards, a NUL that cuts a C string short)."""


def visible_text(value):
    """A field validator: text people type, without hidden control or direction characters."""
    if isinstance(value, str) and _HIDDEN.search(value):
        raise ValueError("holds control or text-direction characters")
    return value


def _text(max_length: int, description: str, pattern: str | None = None):
    return Field(None, max_length=max_length, pattern=pattern, description=description)


class TicketFieldsIn(BaseModel):
    """The ticket's fields an operator may correct (models.TICKET_FIELDS, in that order: a test holds them
    equal), each with its type and bounds; a field left out is unchanged, null clears it. Bounds fit the longest
    real value with room to spare: names and place levels are a few characters (the longest prefecture or
    district names are about 12), an address with its landmark and room fits 500, a summary (诉求内容) is a few
    sentences where 12345 ticket forms allow about 2000; closed fields take the values GET /v1/reference lists."""

    model_config = ConfigDict(extra="forbid", strict=True)  # "yes" is not true, nor true a score of 1

    caller_name: str | None = _text(50, "姓名")
    caller_surname: str | None = _text(20, "姓氏 (compound surnames such as 欧阳 included)")
    honorific: str | None = _text(20, "称呼: 先生, 女士, 阿姨 …")
    phone: str | None = _text(
        40, "callback number: digits, +, spaces, -, (), * (masked), # and 转 (extension)", r"^[+(]?[0-9][0-9 ()*#转-]*$"
    )
    id_number: str | None = _text(18, "ID-card number, 15 or 18 characters, * where masked", r"^[0-9*]{14,17}[0-9Xx*]$")
    address: str | None = _text(500, "the whole address as said")
    province: str | None = _text(50, "省")
    city: str | None = _text(50, "市")
    district: str | None = _text(50, "区/县")
    street: str | None = _text(100, "街道/乡镇 or road")
    address_detail: str | None = _text(500, "the rest of the address: building, landmark, room")
    event_time: str | None = _text(100, "when it happened, as written by the operator (ISO time or words)")
    request_type: Literal[REQUEST_TYPES] | None = Field(None, description="诉求类型")  # type: ignore[valid-type]
    category: str | None = _text(100, "事项分类 (the duty catalogue's categories)")
    urgency: Literal[URGENCY_LEVELS] | None = Field(None, description="紧急程度")  # type: ignore[valid-type]
    emotion: Literal[EMOTIONS] | None = Field(None, description="情绪")  # type: ignore[valid-type]
    summary: str | None = _text(2000, "诉求内容")

    _visible = field_validator("*")(visible_text)


class TicketPatch(BaseModel):
    """Operator corrections: field name → new value (null clears it); `department` picks the unit."""

    model_config = ConfigDict(extra="forbid", strict=True)  # "yes" is not true, nor true a score of 1

    fields: TicketFieldsIn = Field(default_factory=TicketFieldsIn)
    department: str | None = Field(None, min_length=1, max_length=128)
    accept: bool = False


class TicketChangeOut(BaseModel):
    actor: str
    at: datetime
    action: str
    changes: dict[str, Any]


class TicketOut(BaseModel):
    call_id: str
    ticket: Ticket = Field(description="the current ticket, the operator's corrections applied")
    machine_ticket: Ticket | None = Field(description="the ticket as extraction made it")
    department: str | None
    state: str
    accepted_by: str | None
    accepted_at: datetime | None
    changes: list[TicketChangeOut]


MARK_KINDS = (
    "asr_error",
    "wrong_speaker",
    "no_greeting",
    "number_not_read_back",
    "address_not_read_back",
    "impolite",
    "forbidden_words",
    "other",
)


class TurnMark(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "yes" is not true, nor true a score of 1

    turn: int = Field(ge=0)
    kind: Literal[MARK_KINDS]  # type: ignore[valid-type]
    corrected_text: str | None = Field(None, max_length=4000)
    note: str | None = Field(None, max_length=2000)

    _visible = field_validator("corrected_text", "note")(visible_text)


AuditItem = Annotated[str, StringConstraints(min_length=1, max_length=64)]
"""The name of a rubric item or a service check (the QA page's are a word or two of ASCII)."""


class AuditIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "yes" is not true, nor true a score of 1

    score: float = Field(ge=0, le=100)
    rubric: dict[AuditItem, Annotated[float, Field(ge=0, le=100)]] = Field(default_factory=dict, max_length=50)
    checks: dict[AuditItem, bool | None] = Field(
        default_factory=dict,
        max_length=50,
        description="the auditor's verdict on each automatic check: true passed, false failed, null not reviewed",
    )
    marks: list[TurnMark] = Field(default_factory=list, max_length=500)
    comment: str | None = Field(None, max_length=4000)

    _visible = field_validator("comment")(visible_text)


class AuditOut(BaseModel):
    id: int
    call_id: str
    actor: str
    at: datetime
    score: float
    rubric: dict[str, Any]
    checks: dict[str, Any]
    marks: list[dict[str, Any]]
    comment: str | None


class JudgedTurnOut(BaseModel):
    index: int = Field(description="the transcript turn")
    start: float = Field(description="its start, seconds from the start of the call")
    end: float


class ServiceCheckOut(BaseModel):
    passed: bool = Field(description="the machine's verdict; the auditor confirms or overrides it")
    label: str
    turn: int | None = Field(description="the transcript turn it rests on (the first of `turns`)")
    text: str | None = Field(description="the words there (numbers masked)")
    turns: list[JudgedTurnOut] = Field(
        default_factory=list,
        description="the turns it judged: the read-back and the caller's reply; when it failed, where it looked "
        "(the number the caller gave, the operator's nearest restatement); empty when it judged every turn",
    )


class DepartmentMatchOut(BaseModel):
    department: str = Field(description="the unit's canonical name in the duty catalogue")
    score: float = Field(ge=0, le=1, description="how well its name or duties match the query")
    duty: str | None = Field(description="the matter (事项) whose words matched; null when the unit's name did")
    words: list[str] = Field(
        description="the catalogue's words that matched: a name or alias, or the matter's keywords"
    )
    matched_by: Literal["name", "keyword", "sound", "words"] = Field(
        description="name: a name or alias (or part of one); keyword: a duty keyword in the query; sound: a "
        "keyword the query writes with sound-alike characters; words: character pairs shared with the matter"
    )


class DepartmentSearchOut(BaseModel):
    query: str
    items: list[DepartmentMatchOut] = Field(description="best first, one per unit")


class AgentSummary(BaseModel):
    agent_id: str
    calls: int = Field(description="finished calls in the period")
    audited: int = Field(description="calls with at least one QA audit")
    mean_score: float | None
    min_score: float | None
    marks: dict[str, int] = Field(description="turn marks by kind")


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "yes" is not true, nor true a score of 1

    name: str = Field(min_length=1, max_length=64)
    role: Literal["telephony", "operator", "qa", "admin"]
    webhook_url: str | None = Field(None, max_length=2048)
    agent_id: str | None = Field(None, pattern=AGENT_ID_PATTERN, description="an operator's agent id (工号)")
    team: str | None = Field(
        None, min_length=1, max_length=64, description="an operator's team (班组): they work on its calls too"
    )


class KeyOut(BaseModel):
    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    webhook_url: str | None
    agent_id: str | None = None
    team: str | None = None


class KeyCreated(KeyOut):
    key: str = Field(description="shown once; only its hash is stored")
    webhook_secret: str | None = Field(None, description="signs this client's webhooks; shown once")


class WebhookAttemptOut(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_s: float
    delivered: bool


class WebhookDeliveryOut(BaseModel):
    id: str
    event: str
    url: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    log: list[WebhookAttemptOut]


class ReportOut(BaseModel):
    """A stored hot-spot report (docs/REPORTS.md)."""

    name: str = Field(max_length=64)
    kind: Literal["weekly", "monthly"]
    start: date
    last_day: date
    size: int = Field(ge=0, description="bytes")
    made_at: datetime
    url: str = Field(description="the report's HTML; add ?download=1 to save it as a file")


class ReportRequest(BaseModel):
    kind: Literal["weekly", "monthly"]
    start: date
    last_day: date = Field(description="the period's last day, included")


class RelatedTicketOut(BaseModel):
    """An earlier ticket related to a call, with why (in the operator's words) and what was decided about it."""

    ticket_id: str
    source: Literal["call", "import"]
    created_at: datetime
    text: str = Field(description="the ticket's request, phone and ID numbers masked")
    matter: str
    district: str
    place: str
    department: str
    same_caller: bool
    same_place: bool
    same_matter: bool
    similarity: float = Field(ge=0, le=1)
    days_before: int = Field(ge=0)
    reasons: list[str] = Field(description='e.g. ["同一来电号码", "3天前", "同一事项（相似度0.83）"]')
    decision: Literal["link", "dismiss"] | None = Field(description="an operator's decision about this pair, if any")


class LinkIn(BaseModel):
    """Link the call to an earlier ticket (并单: one matter, one dispatch) or dismiss it as not the same matter."""

    model_config = ConfigDict(extra="forbid", strict=True)

    ticket_id: str = Field(min_length=1, max_length=128)
    action: Literal["link", "dismiss"]
    source: Literal["call", "import"] | None = Field(
        None, description="where the ticket comes from, when a call and an imported ticket share the id"
    )


class LinkOut(BaseModel):
    """A decision about a pair: `direction` "to" when this call was linked to (or dismissed) the earlier ticket,
    "from" when a later call was linked to this one (then `call_id` is that call)."""

    call_id: str
    ticket_id: str
    source: Literal["call", "import"]
    action: Literal["link", "dismiss"]
    direction: Literal["to", "from"]
    actor: str
    at: datetime
    text: str = Field(description="the other ticket's request, numbers masked")
    department: str
