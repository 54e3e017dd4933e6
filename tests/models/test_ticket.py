"""The ticket's JSON form (`Ticket.to_dict()` / `Ticket.from_dict()`), one definition for the service and the
API, and the department picker."""

import dataclasses
import json

import pytest
from pydantic import ValidationError

from models import (
    DepartmentSuggestion,
    Evidence,
    FormSuggestion,
    KbAnswer,
    Ticket,
    TicketField,
    TicketFlag,
    top_department,
)


def _full_ticket() -> Ticket:
    ticket = Ticket.empty()
    evidence = Evidence(turn=1, start_char=3, end_char=6, start_time=1.5, end_time=None, text="幸福路")
    ticket.fields["address"] = TicketField("幸福路12号", 0.7, [evidence], raw="幸福路十二号", source="spoken")
    ticket.department_suggestions = [DepartmentSuggestion("住建局", 0.7, ["物业"]), DepartmentSuggestion("城管局", 0.2)]
    ticket.form = FormSuggestion("complaint", "投诉单", ["address"], ["phone"])
    ticket.kb_answers = [KbAnswer("kb-1", "停水", "答", "白话", 0.5, department="水务局")]
    ticket.review = "check"
    ticket.review_reasons = [TicketFlag("low_confidence", "address", 0.7, 0.8, "address: confidence 0.70")]
    ticket.warnings = [TicketFlag("phone_conflict", "phone", "139****5286", message="another number was read back")]
    return ticket


def test_the_json_form_is_the_dataclasses_with_department_only_once_chosen():
    ticket = _full_ticket()
    as_dataclasses = dataclasses.asdict(ticket)
    del as_dataclasses["department"]  # extraction chooses no unit: not in the JSON
    assert json.dumps(ticket.to_dict(), ensure_ascii=False) == json.dumps(as_dataclasses, ensure_ascii=False)

    ticket.department = "水务局"
    assert list(ticket.to_dict())[-1] == "department" and ticket.to_dict()["department"] == "水务局"


def test_the_json_form_reads_back_to_the_same_ticket():
    ticket = _full_ticket()
    assert Ticket.from_dict(ticket.to_dict()) == ticket
    ticket.department = "水务局"
    assert Ticket.from_dict(json.loads(json.dumps(ticket.to_dict()))) == ticket


def test_a_stored_ticket_of_before_the_flags_were_structured_still_reads():
    """Tickets stored before review reasons were structured held them as text, and warnings with times."""
    stored = _full_ticket().to_dict()
    stored["review_reasons"] = ["phone: confidence 0.40", "no caller speech"]
    stored["warnings"] = [{"code": "phone_misheard", "message": "ANI shown", "start": None, "end": None}]
    ticket = Ticket.from_dict(stored)
    assert ticket.review_reasons == [
        TicketFlag("text", message="phone: confidence 0.40"),
        TicketFlag("text", message="no caller speech"),
    ]
    assert ticket.warnings == [TicketFlag("phone_misheard", message="ANI shown")]


def test_a_json_form_of_the_wrong_shape_is_refused():
    with pytest.raises(ValidationError):
        Ticket.from_dict({"fields": {"district": {"value": 12345}}})
    with pytest.raises(ValidationError):
        Ticket.from_dict({"department_suggestions": []})


def test_the_best_ranked_department_of_a_ticket():
    ticket = Ticket.empty()
    ticket.department_suggestions = [DepartmentSuggestion("住建局", 0.7), DepartmentSuggestion("城管局", 0.2)]
    assert top_department(ticket) == "住建局"


def test_no_ticket_or_no_suggestion_is_no_department():
    assert top_department(None) is None
    assert top_department(Ticket.empty()) is None
