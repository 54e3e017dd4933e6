"""Ticket types: the pre-filled work order (工单) extracted from a call's transcript.

Every field carries its value, a confidence in [0, 1] and the evidence it came from, so the operator
can click a field and hear where it was said. The JSON form (`Ticket.to_dict()`) is documented in
docs/TRANSCRIPT_SCHEMA.md under `ticket`.

The dataclasses are the one definition of the ticket's shape. Pydantic reads them as they are (`TypeAdapter`):
`Ticket.from_dict` validates the JSON form where the service reads a stored ticket, and the API's response
models use `Ticket` as a field type, so OpenAPI describes the ticket field by field.
"""

from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, TypeAdapter

TICKET_FIELDS = (
    "caller_name",
    "caller_surname",
    "honorific",
    "phone",
    "id_number",
    "address",
    "province",
    "city",
    "district",
    "street",
    "address_detail",
    "event_time",
    "request_type",
    "category",
    "urgency",
    "emotion",
    "summary",
)
"""The ticket's fields, in form order. Each is present in every ticket (value None when unknown)."""

REQUEST_TYPES = ("咨询", "求助", "投诉", "举报", "建议", "表扬", "反映")
"""Request types (诉求类型). 反映 is the hotline's catch-all for a reported problem."""

URGENCY_LEVELS = ("urgent", "high", "normal")
"""Urgency (紧急程度) values, most urgent first."""

EMOTIONS = ("angry", "anxious", "distressed", "calm")
"""The caller's emotion (情绪) as read from their words."""

REVIEW_LEVELS = ("auto", "check", "manual")
"""auto: pre-accepted, the operator only glances; check: confirm the flagged fields; manual: fill in by hand."""


@dataclass(frozen=True)
class Evidence:
    """Where a value was said: turn index, character span in that turn's text, and audio time."""

    turn: int
    start_char: int
    end_char: int
    start_time: float | None
    end_time: float | None
    text: str


@dataclass
class TicketField:
    """One ticket field. `raw` keeps the words as said when `value` is normalised (幺三八… → 138…)."""

    value: str | None = None
    confidence: float = 0.0
    evidence: list[Evidence] = field(default_factory=list)
    raw: str | None = None
    source: str | None = None


@dataclass
class DepartmentSuggestion:
    """A candidate handling unit (处置单位) with a score in [0, 1] and why it was suggested.

    `auto_dispatch`: the routing model's first choice with a calibrated confidence at or above the threshold the
    model was trained with (`extract.routing.calibration`): where the model errs no more often than the operators'
    return rate, so the ticket may go to this unit without a person choosing it. At most the first suggestion."""

    department: str
    score: float
    reasons: list[str] = field(default_factory=list)
    auto_dispatch: bool = False


@dataclass
class FormSuggestion:
    """The ticket template that fits the request, with the fields it needs and those still missing."""

    form_id: str
    name: str
    required: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


@dataclass
class KbAnswer:
    """A knowledge-base entry the operator could answer from directly, with its plain-language version."""

    entry_id: str
    title: str
    answer: str
    plain: str
    score: float
    department: str | None = None


@dataclass
class TicketFlag:
    """Something about a ticket the operator is told: why it needs checking (`Ticket.review_reasons`) or what
    extraction noticed (`Ticket.warnings`). Structured so that a page says it in its own words from `code`:

    `field` is the ticket field it is about (a name of TICKET_FIELDS, or "department" for the chosen unit), None
    for the ticket as a whole; `value` is what was measured (a confidence, a score, a masked number, a matter's
    name) and `threshold` what it had to reach, where those apply; `message` says the same in English for logs and
    for readers of the ticket's JSON from before the flags were structured. The codes are listed in
    docs/TRANSCRIPT_SCHEMA.md."""

    code: str
    field: str | None = None
    value: float | str | None = None
    threshold: float | None = None
    message: str = ""


def _flag_from_text(item: Any) -> Any:
    """A reason stored as text before flags were structured ("phone: confidence 0.40") reads as a flag of the
    code `text` carrying that text: the ticket still opens, and the next review of it replaces the flag."""
    return {"code": "text", "message": item} if isinstance(item, str) else item


Flags = list[Annotated[TicketFlag, BeforeValidator(_flag_from_text)]]


@dataclass
class Ticket:
    """A pre-filled work order: fields with evidence plus the suggestions the operator picks from."""

    fields: dict[str, TicketField]
    department_suggestions: list[DepartmentSuggestion] = field(default_factory=list)
    form: FormSuggestion | None = None
    kb_answers: list[KbAnswer] = field(default_factory=list)
    review: str = "manual"
    review_reasons: Flags = field(default_factory=list)
    """What the operator still has to check, the one list the pages show (`extract.review`): made at extraction,
    made again after each correction."""
    warnings: Flags = field(default_factory=list)
    """What extraction noticed, as it noticed it (kept through corrections); each is also a review reason until the
    operator corrects the field it is about."""
    department: Annotated[str | None, Field(exclude_if=lambda department: department is None)] = None
    """The unit (处置单位) an operator chose in review; extraction leaves it None. The JSON form has the key only
    once a unit is chosen: the ticket's JSON stays what it was before the ticket was typed."""

    @classmethod
    def empty(cls) -> "Ticket":
        return cls(fields={name: TicketField() for name in TICKET_FIELDS})

    @classmethod
    def from_dict(cls, data: Any) -> "Ticket":
        """The ticket of a JSON form (`to_dict()`); raises pydantic's ValidationError when it is not one."""
        return _JSON_FORM.validate_python(data)

    def value(self, name: str) -> str | None:
        return self.fields[name].value

    def to_dict(self) -> dict[str, Any]:
        return _JSON_FORM.dump_python(self, mode="json")


_JSON_FORM = TypeAdapter(Ticket)


def top_department(ticket: Ticket | None) -> str | None:
    """The best-ranked suggested department (处置单位) of a ticket, or None when there is no ticket or no
    suggestion."""
    if ticket is None or not ticket.department_suggestions:
        return None
    return ticket.department_suggestions[0].department
