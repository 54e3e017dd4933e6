"""The department picker: one rule for the typed ticket and for its JSON form."""

from models import DepartmentSuggestion, Ticket, top_department


def test_the_best_ranked_department_of_a_ticket_and_of_its_json_form():
    ticket = Ticket.empty()
    ticket.department_suggestions = [DepartmentSuggestion("住建局", 0.7), DepartmentSuggestion("城管局", 0.2)]
    assert top_department(ticket) == "住建局"
    assert top_department(ticket.to_dict()) == "住建局"


def test_no_ticket_or_no_suggestion_is_no_department():
    assert top_department(None) is None
    assert top_department(Ticket.empty()) is None
    assert top_department(Ticket.empty().to_dict()) is None
    assert top_department({"department_suggestions": None}) is None
