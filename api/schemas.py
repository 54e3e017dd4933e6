"""What the API returns and accepts (pydantic at the edge; the core types are dataclasses)."""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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
    status: Literal["queued", "processing", "done", "failed"]
    priority: str
    stage: str | None
    progress: dict[str, Any]
    attempts: int
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


class TicketPatch(BaseModel):
    """Operator corrections: field name → new value (null clears it); `department` picks the unit."""

    model_config = ConfigDict(extra="forbid")

    fields: dict[str, Any] = Field(default_factory=dict)
    department: str | None = Field(None, max_length=128)
    accept: bool = False


class TicketChangeOut(BaseModel):
    actor: str
    at: datetime
    action: str
    changes: dict[str, Any]


class TicketOut(BaseModel):
    call_id: str
    ticket: dict[str, Any]
    machine_ticket: dict[str, Any] | None
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
    model_config = ConfigDict(extra="forbid")

    turn: int = Field(ge=0)
    kind: Literal[MARK_KINDS]  # type: ignore[valid-type]
    corrected_text: str | None = Field(None, max_length=4000)
    note: str | None = Field(None, max_length=2000)


class AuditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: float = Field(ge=0, le=100)
    rubric: dict[str, float] = Field(default_factory=dict)
    checks: dict[str, bool] = Field(default_factory=dict)
    marks: list[TurnMark] = Field(default_factory=list, max_length=500)
    comment: str | None = Field(None, max_length=4000)


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


class ServiceCheckOut(BaseModel):
    passed: bool
    label: str
    turn: int | None = Field(description="the transcript turn it rests on")
    text: str | None = Field(description="the words there (numbers masked)")


class AgentSummary(BaseModel):
    agent_id: str
    calls: int = Field(description="finished calls in the period")
    audited: int = Field(description="calls with at least one QA audit")
    mean_score: float | None
    min_score: float | None
    marks: dict[str, int] = Field(description="turn marks by kind")


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    role: Literal["telephony", "operator", "qa", "admin"]
    webhook_url: str | None = Field(None, max_length=2048)
    agent_id: str | None = Field(None, min_length=1, max_length=64, description="an operator's agent id (工号)")
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
