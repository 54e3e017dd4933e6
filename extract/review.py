"""Human-machine double review (人机双审): which tickets the operator only glances at and which need work.

auto    every field the form needs is there with high confidence, one department clearly ahead, nothing
        urgent, no warnings: pre-accepted, the operator glances and confirms.
check   usable, but some fields are flagged (listed in review_reasons) for the operator to confirm.
manual  the machine could not make a useful ticket (no caller speech, no request, no department, poor
        audio): the operator fills it in.
Thresholds are documented defaults (docs/EVALUATION.md shows how often each level is right on the calls).
"""

from dataclasses import dataclass

from models import Ticket

DRAFT_FIELDS = ("summary",)
"""Written for the operator to read and edit in every case: required to be there, not to be sure."""


@dataclass(frozen=True)
class ReviewOptions:
    field_confidence: float = 0.8
    """A required field below this confidence is flagged for the operator."""
    department_score: float = 0.6
    """The top department suggestion needs at least this score for auto…"""
    department_margin: float = 0.25
    """…and this lead over the second, else routing is flagged."""
    asr_confidence: float = 0.45
    """Mean confidence of the caller's turns below this → manual (the transcript itself is doubtful)."""


def decide_review(ticket: Ticket, caller_confidence: float | None, options: ReviewOptions | None = None) -> None:
    """Set ticket.review and ticket.review_reasons in place."""
    options = options or ReviewOptions()
    manual: list[str] = []
    if caller_confidence is None:
        manual.append("no caller speech")
    elif caller_confidence < options.asr_confidence:
        manual.append(f"caller speech recognised with low confidence ({caller_confidence:.2f})")
    if ticket.fields["summary"].value is None:
        manual.append("no request found")
    if not ticket.department_suggestions:
        manual.append("no department suggestion")
    if manual:
        ticket.review, ticket.review_reasons = "manual", manual
        return

    check: list[str] = []
    required = ticket.form.required if ticket.form else ["phone", "summary"]
    for name in required:
        field = ticket.fields[name]
        if field.source == "declined":
            continue  # the caller would not say: nothing for the operator to fix
        if field.value is None:
            check.append(f"{name}: missing")
        elif name not in DRAFT_FIELDS and field.confidence < options.field_confidence:
            check.append(f"{name}: confidence {field.confidence:.2f}")
    top = ticket.department_suggestions[0]
    runner_up = ticket.department_suggestions[1].score if len(ticket.department_suggestions) > 1 else 0.0
    if top.score < options.department_score or top.score - runner_up < options.department_margin:
        check.append(f"department: {top.department} {top.score:.2f} vs {runner_up:.2f}")
    if ticket.fields["urgency"].value == "urgent":
        check.append("urgent: a person confirms before dispatch")
    if ticket.warnings:
        check.extend(f"warning: {warning.code}" for warning in ticket.warnings)
    ticket.review, ticket.review_reasons = ("check", check) if check else ("auto", [])
