"""Ticket templates: the bundled file validates; the suggestion picks the template and lists what is missing."""

from pathlib import Path

import pytest

from extract.forms import GENERIC_REQUEST_TYPE, FormTemplate, load_forms, suggest_form
from models import REQUEST_TYPES, TICKET_FIELDS, FormSuggestion, TicketField


def _fields(**values: str | None) -> dict[str, TicketField]:
    fields = {name: TicketField() for name in TICKET_FIELDS}
    for name, value in values.items():
        fields[name] = TicketField(value=value, confidence=0.9)
    return fields


def test_bundled_forms_cover_every_request_type_once():
    forms = load_forms()
    served = [request_type for form in forms for request_type in form.request_types]
    assert sorted(served) == sorted(REQUEST_TYPES)
    for form in forms:
        assert form.required
        # required fields come in the ticket's form order
        assert list(form.required) == [name for name in TICKET_FIELDS if name in form.required]
    assert load_forms() == forms


def test_complaint_lists_the_missing_fields_in_form_order():
    fields = _fields(phone="13800000000", summary="市民来电反映：小区门口有人乱停车。", caller_surname="  ")
    suggestion = suggest_form("投诉", fields)
    assert isinstance(suggestion, FormSuggestion)
    assert (suggestion.form_id, suggestion.name) == ("complaint", "投诉单")
    assert suggestion.required == ["caller_surname", "phone", "address", "event_time", "summary"]
    assert suggestion.missing == ["caller_surname", "address", "event_time"]


def test_a_complete_consultation_misses_nothing():
    suggestion = suggest_form("咨询", _fields(phone="13800000000", summary="市民来电咨询：社保卡怎么补办。"))
    assert suggestion.name == "咨询单"
    assert suggestion.missing == []


def test_a_report_may_be_anonymous():
    suggestion = suggest_form("举报", _fields(address="某路1号", event_time="2024-05-01 21:00", summary="举报夜间偷排"))
    assert suggestion.name == "举报单"
    assert "caller_surname" not in suggestion.required and "caller_name" not in suggestion.required
    assert suggestion.missing == []


@pytest.mark.parametrize("request_type", [None, "", "反映", "其他"])
def test_unknown_or_missing_request_type_falls_back_to_the_generic_form(request_type):
    suggestion = suggest_form(request_type, {})
    generic = next(form for form in load_forms() if GENERIC_REQUEST_TYPE in form.request_types)
    assert suggestion.form_id == generic.form_id
    # fields absent from the mapping are missing too
    assert suggestion.missing == list(generic.required)


def test_a_hand_built_list_is_used_as_given():
    forms = [
        FormTemplate("a", "甲单", ("咨询",), ("summary",)),
        FormTemplate("z", "兜底单", ("建议",), ("phone",)),
    ]
    assert suggest_form("咨询", {}, forms).form_id == "a"
    # no form serves 反映: the last one is the fallback
    assert suggest_form("投诉", {}, forms).form_id == "z"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "forms.yaml"
    path.write_text(text, encoding="utf-8")
    return path


GENERIC = "  - id: general\n    name: 诉求单\n    request_types: [反映]\n    required: [summary]\n"


def test_a_small_valid_file_loads_and_orders_required_fields(tmp_path):
    path = _write(tmp_path, "forms:\n" + GENERIC.replace("[summary]", "[summary, phone]"))
    [form] = load_forms(path)
    assert form == FormTemplate("general", "诉求单", ("反映",), ("phone", "summary"))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("forms: [\n", "invalid YAML"),
        ("forms:\n" + GENERIC.replace("[summary]", "[summary, caller_age]"), "unknown ticket field 'caller_age'"),
        ("forms:\n" + GENERIC.replace("[反映]", "[反映, 吐槽]"), "unknown request type '吐槽'"),
        ("forms:\n" + GENERIC.replace("[反映]", "[投诉]"), "generic request type"),
        ("forms:\n" + GENERIC + GENERIC.replace("general", "other"), "served by both"),
        ("forms:\n" + GENERIC + GENERIC.replace("[反映]", "[投诉]"), "duplicate form id"),
        ("forms:\n  - id: general\n    name: 诉求单\n    request_types: [反映]\n", "missing key 'required'"),
        ("templates: []\n", "missing key 'forms'"),
    ],
)
def test_bad_form_files_raise_one_line_value_errors_naming_the_file(tmp_path, text, problem):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError) as raised:
        load_forms(path)
    message = str(raised.value)
    assert str(path) in message
    assert problem in message
    assert "\n" not in message
