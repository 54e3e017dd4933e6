"""What needs checking, said once (extract.review): structured reasons, the fields they name, made again after the
operator's corrections; and a callback number the call contradicts, flagged on the field."""

import re
from dataclasses import replace

import pytest
from extract_builders import CALL_START, transcript_of

from extract.document import build_document
from extract.phone import competing_phone, extract_phone
from extract.review import ReviewOptions, decide_review, review_again
from extract.ticket import extract_ticket, load_resources
from models import CallMeta, DepartmentSuggestion, FormSuggestion, Ticket, TicketField, TicketFlag

A, C = "agent", "caller"
CLEAR_NUMBER = re.compile(r"1[3-9]\d{9}")


def _ticket(**fields: TicketField) -> Ticket:
    """A ticket that would be auto but for the fields given: phone and summary sure, one department well ahead and
    auto-dispatchable."""
    ticket = Ticket.empty()
    ticket.fields["phone"] = TicketField("13900005286", 0.95, source="spoken")
    ticket.fields["summary"] = TicketField("市民来电反映：路灯不亮。", 0.4, source="caller_turns")
    ticket.fields.update(fields)
    ticket.department_suggestions = [
        DepartmentSuggestion("城市管理局", 0.9, auto_dispatch=True),
        DepartmentSuggestion("住建局", 0.1),
    ]
    ticket.form = FormSuggestion("report", "反映单", ["phone", "address", "summary"], [])
    return ticket


def _flags(ticket: Ticket) -> list[tuple]:
    return [(reason.code, reason.field, reason.value, reason.threshold) for reason in ticket.review_reasons]


def test_a_confident_ticket_is_auto_with_nothing_to_check():
    ticket = _ticket(address=TicketField("龙华区龙昆南路1号", 0.9, source="spoken"))
    decide_review(ticket, caller_confidence=0.9)
    assert (ticket.review, ticket.review_reasons) == ("auto", [])


def test_every_doubtful_field_is_one_reason_naming_the_field_its_confidence_and_the_threshold_it_missed():
    ticket = _ticket(
        address=TicketField("龙华区龙昆南路", 0.7, source="spoken"),  # required: needs 0.8
        address_detail=TicketField("龙昆南路", 0.44, source="spoken"),  # optional: needs 0.6
        district=TicketField("龙华区", 0.7, source="spoken"),  # optional and above 0.6: fine
        emotion=TicketField("calm", 0.5, source="default"),  # an optional field's default: nothing said against it
        caller_surname=TicketField(None, 0.0, source="declined"),
    )
    decide_review(ticket, caller_confidence=0.9)
    assert ticket.review == "check"
    assert _flags(ticket) == [
        ("low_confidence", "address", 0.7, 0.8),
        ("low_confidence", "address_detail", 0.44, 0.6),
    ]
    # the summary (a draft, read in every case) is required to be there, not to be sure
    assert "summary" not in {reason.field for reason in ticket.review_reasons}
    # the English text of before stays beside the code
    assert ticket.review_reasons[0].message == "address: confidence 0.70"


def test_missing_fields_routing_urgency_and_warnings_are_reasons_with_their_numbers():
    ticket = _ticket(urgency=TicketField("urgent", 0.9, source="spoken"))
    ticket.fields["phone"] = TicketField()
    ticket.department_suggestions = [DepartmentSuggestion("城市管理局", 0.39), DepartmentSuggestion("住建局", 0.3)]
    ticket.warnings = [TicketFlag("out_of_scope", value="民事纠纷", message="民事纠纷: 建议调解")]
    decide_review(ticket, caller_confidence=0.9)
    assert _flags(ticket) == [
        ("missing", "phone", None, None),
        ("missing", "address", None, None),
        ("department_low_score", "department", 0.39, 0.6),
        ("urgent", "urgency", None, None),
        ("out_of_scope", None, "民事纠纷", None),
    ]
    close = _ticket(address=TicketField("龙华区龙昆南路1号", 0.9, source="spoken"))
    close.department_suggestions = [DepartmentSuggestion("城市管理局", 0.7), DepartmentSuggestion("住建局", 0.6)]
    decide_review(close, caller_confidence=0.9)
    assert _flags(close) == [("department_close", "department", 0.1, 0.25)]


def test_auto_needs_a_department_the_routing_model_may_dispatch_on_its_own():
    ticket = _ticket(address=TicketField("龙华区龙昆南路1号", 0.9, source="spoken"))
    # well ahead by score, but below the model's auto-dispatch threshold (or no model with one): a person confirms
    ticket.department_suggestions = [DepartmentSuggestion("城市管理局", 0.9), DepartmentSuggestion("住建局", 0.1)]
    decide_review(ticket, caller_confidence=0.9)
    assert ticket.review == "check"
    assert _flags(ticket) == [("department_not_auto", "department", None, None)]
    # auto-dispatchable with a modest blended score: the calibrated threshold is what was measured, it decides
    ticket.department_suggestions = [
        DepartmentSuggestion("城市管理局", 0.55, auto_dispatch=True),
        DepartmentSuggestion("住建局", 0.4),
    ]
    decide_review(ticket, caller_confidence=0.9)
    assert (ticket.review, ticket.review_reasons) == ("auto", [])
    # the operator choosing the unit settles it
    ticket.department_suggestions[0].auto_dispatch = False
    ticket.department = "住建局"
    review_again(ticket)
    assert ticket.review_reasons == []


def test_a_ticket_the_machine_could_not_make_is_manual_and_says_why():
    ticket = _ticket(address=TicketField("龙华区龙昆南路1号", 0.9, source="spoken"))
    ticket.fields["summary"] = TicketField()
    ticket.department_suggestions = []
    decide_review(ticket, caller_confidence=0.3)
    assert ticket.review == "manual"
    assert _flags(ticket) == [
        ("caller_speech_low_confidence", None, 0.3, 0.45),
        ("no_request", "summary", None, None),
        ("no_department", "department", None, None),
    ]
    silent = Ticket.empty()
    decide_review(silent, caller_confidence=None)
    assert silent.review == "manual" and silent.review_reasons[0].code == "no_caller_speech"


def test_a_corrected_field_and_a_chosen_department_leave_the_reasons_and_the_level_stays_the_machine_s():
    ticket = _ticket(address=TicketField("龙华区龙昆南路", 0.42, source="spoken"))
    ticket.fields["phone"] = TicketField("13800007731", 0.8, source="ani_matched")
    ticket.warnings = [TicketFlag("phone_conflict", "phone", "139****5286")]
    ticket.department_suggestions = [DepartmentSuggestion("城市管理局", 0.39)]
    decide_review(ticket, caller_confidence=0.4)
    assert [(reason.code, reason.field) for reason in ticket.review_reasons] == [
        ("caller_speech_low_confidence", None),
        ("low_confidence", "address"),
        ("department_low_score", "department"),
        ("phone_conflict", "phone"),
    ]
    assert ticket.review == "manual"

    # what the service does on PATCH: the value set by a person, then the reasons made again
    ticket.fields["phone"] = replace(ticket.fields["phone"], value="13900005286", confidence=1.0, source="corrected")
    review_again(ticket)
    assert [reason.code for reason in ticket.review_reasons] == [
        "caller_speech_low_confidence",  # what the recording lacks no correction changes
        "low_confidence",
        "department_low_score",
    ]
    ticket.fields["address"] = replace(ticket.fields["address"], value="龙华区龙昆南路椰林花园", source="corrected")
    ticket.department = "城市管理局"
    review_again(ticket)
    assert [reason.code for reason in ticket.review_reasons] == ["caller_speech_low_confidence"]
    assert ticket.review == "manual"  # the machine's level, as extraction left it
    assert [warning.code for warning in ticket.warnings] == ["phone_conflict"]  # what extraction noticed, kept

    # a required field the operator emptied is missing again
    ticket.fields["address"] = replace(ticket.fields["address"], value=None, source="corrected")
    review_again(ticket)
    assert ("missing", "address") in [(reason.code, reason.field) for reason in ticket.review_reasons]


def test_thresholds_are_the_options():
    ticket = _ticket(address=TicketField("龙华区龙昆南路", 0.7, source="spoken"))
    decide_review(ticket, 0.9, ReviewOptions(field_confidence=0.65))
    assert ticket.review == "auto"


# ---- a callback number the call contradicts ---------------------------------------------------------------


def _doc(*turns):
    return build_document(transcript_of(*turns))


READ_BACK_CALL = (
    (A, "王先生，方便留一个联系电话吗？"),
    (C, "幺三九，零零零零，五二八六。"),
    (A, "好的，幺三九，零零零零，五二八六，对吗？"),
    (C, "对的。"),
)


def test_the_calling_number_in_the_ticket_against_a_number_read_back_is_a_conflict():
    document = _doc(*READ_BACK_CALL)
    phone = extract_phone(document, ani="13900005287")  # one digit away: taken for the calling number misheard
    assert (phone.value, phone.source) == ("13900005287", "ani_matched")
    number, evidence = competing_phone(document, phone)
    assert number == "13900005286" and evidence.turn == 2
    # what the call says and the ticket agree: no conflict
    assert competing_phone(document, extract_phone(document, ani="13800007731")) is None


def test_a_second_number_read_back_conflicts_but_the_same_number_misheard_once_more_does_not():
    two_numbers = _doc(
        *READ_BACK_CALL,
        (C, "要不你记我爱人的，幺八幺，九幺二二，幺六八幺。"),
        (A, "幺八幺，九幺二二，幺六八幺，对吗？"),
        (C, "对。"),
    )
    phone = extract_phone(two_numbers, ani=None)
    number, _ = competing_phone(two_numbers, phone)
    assert {phone.value, number} == {"13900005286", "18191221681"}
    misheard_again = _doc(*READ_BACK_CALL, (A, "再核对一下，幺三九，零零零零，五二八七，对吗？"), (C, "对。"))
    assert competing_phone(misheard_again, extract_phone(misheard_again, ani=None)) is None


@pytest.fixture(scope="module")
def resources():
    return load_resources()


def test_the_conflict_is_a_review_reason_on_the_phone_field_with_the_other_number_masked(resources):
    transcript = transcript_of(
        (A, "您好，幺二三四五热线，请问有什么可以帮您？"),
        (C, "我要反映一下，我们小区楼下的工地天天晚上施工，吵得没法休息。"),
        *READ_BACK_CALL,
    )
    meta = CallMeta(call_id="t-1", caller_number="13900005287", started_at=CALL_START)
    ticket = extract_ticket(transcript, meta, resources)
    [conflict] = [reason for reason in ticket.review_reasons if reason.code == "phone_conflict"]
    assert (conflict.field, conflict.value) == ("phone", "139****5286")
    assert conflict in ticket.warnings
    assert not CLEAR_NUMBER.search(str(ticket.to_dict()["warnings"]))
    # and the operator's correction settles it
    ticket.fields["phone"] = replace(ticket.fields["phone"], value="13900005286", source="corrected")
    review_again(ticket)
    assert "phone" not in {reason.field for reason in ticket.review_reasons}
