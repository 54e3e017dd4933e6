"""Human-machine double review (人机双审): which tickets the operator only glances at and which need work, and
what exactly needs checking: the one place that decides it.

auto    every field the form needs is there with high confidence, the first department may be dispatched
        automatically (its `auto_dispatch`: the routing model's calibrated confidence at or above the threshold
        at which it errs no more often than the operators), nothing urgent, no warnings: pre-accepted, the
        operator glances and confirms.
check   usable, but some fields are flagged (listed in review_reasons) for the operator to confirm.
manual  the machine could not make a useful ticket (no caller speech, no request, no department, poor
        audio): the operator fills it in.

`review_reasons` are `TicketFlag`s ({code, field, value, threshold}): the pages mark a field ⚠ exactly when a
reason names it, and say each reason in their own words from its code, so what the box lists and what the fields
show cannot disagree. After each operator change the service calls `review_again`: a corrected field, a chosen
department leave the list; the review level stays the machine's (how the ticket came out of extraction).
Thresholds are documented defaults (docs/EVALUATION.md shows how often each level is right on the calls).
"""

from dataclasses import dataclass

from models import TICKET_FIELDS, Ticket, TicketFlag

DRAFT_FIELDS = ("summary",)
"""Written for the operator to read and edit in every case: required to be there, not to be sure."""

RECORDING_CODES = ("no_caller_speech", "caller_speech_low_confidence")
"""Reasons about the recording itself: no correction of the ticket changes them."""

MANUAL_CODES = (*RECORDING_CODES, "no_request", "no_department")
"""Reasons that make the review level manual: the machine made no useful ticket."""

CORRECTED = "corrected"
"""The source of a value the operator set (pipeline.service's PATCH): checked by a person, never flagged."""


@dataclass(frozen=True)
class ReviewOptions:
    field_confidence: float = 0.8
    """A required field below this confidence is flagged for the operator…"""
    other_field_confidence: float = 0.6
    """…and any other field with a value below this one (a wrong district still misleads), unless it is the
    field's default (情绪 calm when nothing was said otherwise)."""
    department_score: float = 0.6
    """A top department suggestion that may not be dispatched automatically is flagged as weak below this score…"""
    department_margin: float = 0.25
    """…or as close with less than this lead over the second (else as not auto-dispatchable)."""
    asr_confidence: float = 0.45
    """Mean confidence of the caller's turns below this → manual (the transcript itself is doubtful)."""


def decide_review(ticket: Ticket, caller_confidence: float | None, options: ReviewOptions | None = None) -> None:
    """Set ticket.review and ticket.review_reasons in place, at extraction. `caller_confidence` is the mean
    recognition confidence of the caller's turns (None: the caller said nothing recognisable)."""
    options = options or ReviewOptions()
    ticket.review_reasons = _recording_reasons(caller_confidence, options) + _ticket_reasons(ticket, options)
    codes = {reason.code for reason in ticket.review_reasons}
    ticket.review = "manual" if codes & set(MANUAL_CODES) else "check" if codes else "auto"


def review_again(ticket: Ticket, options: ReviewOptions | None = None) -> None:
    """Make ticket.review_reasons again after an operator's change: what the recording lacks stays (it is in the
    ticket's reasons), the rest is judged on the ticket as it is now. The review level is left as it was."""
    options = options or ReviewOptions()
    kept = [reason for reason in ticket.review_reasons if reason.code in RECORDING_CODES]
    ticket.review_reasons = kept + _ticket_reasons(ticket, options)


def _recording_reasons(caller_confidence: float | None, options: ReviewOptions) -> list[TicketFlag]:
    if caller_confidence is None:
        return [TicketFlag("no_caller_speech", message="no caller speech")]
    if caller_confidence < options.asr_confidence:
        return [
            TicketFlag(
                "caller_speech_low_confidence",
                value=round(caller_confidence, 3),
                threshold=options.asr_confidence,
                message=f"caller speech recognised with low confidence ({caller_confidence:.2f})",
            )
        ]
    return []


def _ticket_reasons(ticket: Ticket, options: ReviewOptions) -> list[TicketFlag]:
    reasons = _field_reasons(ticket, options) + _department_reasons(ticket, options)
    urgency = ticket.fields["urgency"]
    if urgency.value == "urgent" and urgency.source != CORRECTED:
        reasons.append(TicketFlag("urgent", "urgency", message="urgent: a person confirms before dispatch"))
    for warning in ticket.warnings:
        said = any(reason.code == warning.code and reason.field == warning.field for reason in reasons)
        if not said and not _resolved(ticket, warning.field):
            reasons.append(warning)
    return reasons


def _field_reasons(ticket: Ticket, options: ReviewOptions) -> list[TicketFlag]:
    required = ticket.form.required if ticket.form else ["phone", "summary"]
    reasons = []
    for name in TICKET_FIELDS:
        field = ticket.fields[name]
        if field.source == "declined":
            continue  # the caller would not say: nothing for the operator to fix
        if field.value is None:
            if name == "summary":
                reasons.append(TicketFlag("no_request", name, message="no request found"))
            elif name in required:
                reasons.append(TicketFlag("missing", name, message=f"{name}: missing"))
            continue
        if field.source == CORRECTED:
            continue  # a person set it
        if name in DRAFT_FIELDS or (name not in required and field.source == "default"):
            continue  # a draft is read anyway; an optional default (情绪 calm) is what nothing said contradicts
        threshold = options.field_confidence if name in required else options.other_field_confidence
        if field.confidence < threshold:
            reasons.append(
                TicketFlag(
                    "low_confidence",
                    name,
                    value=field.confidence,
                    threshold=threshold,
                    message=f"{name}: confidence {field.confidence:.2f}",
                )
            )
    return reasons


def _department_reasons(ticket: Ticket, options: ReviewOptions) -> list[TicketFlag]:
    if ticket.department is not None:
        return []  # the operator chose the unit
    suggestions = ticket.department_suggestions
    if not suggestions:
        return [TicketFlag("no_department", "department", message="no department suggestion")]
    top = suggestions[0]
    if top.auto_dispatch:
        return []
    runner_up = suggestions[1].score if len(suggestions) > 1 else 0.0
    message = f"department: {top.department} {top.score:.2f} vs {runner_up:.2f}"
    if top.score < options.department_score:
        return [
            TicketFlag(
                "department_low_score",
                "department",
                value=top.score,
                threshold=options.department_score,
                message=message,
            )
        ]
    if top.score - runner_up < options.department_margin:
        margin = round(top.score - runner_up, 3)
        return [
            TicketFlag(
                "department_close", "department", value=margin, threshold=options.department_margin, message=message
            )
        ]
    # clearly ahead, yet not where the model's error rate was measured to be the operators': a person confirms
    return [TicketFlag("department_not_auto", "department", message=f"{message}: below the auto-dispatch threshold")]


def _resolved(ticket: Ticket, field: str | None) -> bool:
    """A warning about a field is settled once a person set that field (or chose the unit)."""
    if field == "department":
        return ticket.department is not None
    return field in ticket.fields and ticket.fields[field].source == CORRECTED
