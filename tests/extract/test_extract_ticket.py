"""extract_ticket end to end: a realistic call, bad input, and the shared gold calls."""

import json

import pytest
from extract_builders import CALL_START, transcript_of

from extract.ticket import ExtractResources, extract_ticket, load_resources
from models import TICKET_FIELDS, CallMeta, CallTranscript, Turn
from pipeline.ticket_evaluation import evaluate_tickets, load_gold_tickets

A, C = "agent", "caller"
META = CallMeta(call_id="t-1", caller_number="17868549822", agent_id="2198", started_at=CALL_START)


@pytest.fixture(scope="module")
def resources() -> ExtractResources:
    return load_resources()


def test_a_noise_complaint_becomes_a_filled_ticket_routed_to_city_management(resources):
    transcript = transcript_of(
        (A, "您好，幺二三四五政务服务便民热线，很高兴为您服务，请问有什么可以帮您？"),
        (C, "你好，我要反映一下，我们小区楼下的工地天天晚上施工，吵得没法休息。"),
        (A, "请问具体在什么位置？"),
        (C, "在龙华区龙昆南路，椰林花园小区三栋二单元楼下。"),
        (A, "好的，请问您贵姓？"),
        (C, "我姓王。"),
        (A, "王先生，方便留一个联系电话吗？"),
        (C, "幺三九，零零零零，五二八六。"),
        (A, "好的，幺三九，零零零零，五二八六，对吗？"),
        (C, "对的。"),
        with_words=True,
    )
    ticket = extract_ticket(transcript, META, resources)
    values = {name: ticket.value(name) for name in TICKET_FIELDS}
    assert values["phone"] == "13900005286"
    assert (values["caller_surname"], values["honorific"]) == ("王", "先生")
    assert values["district"] == "龙华区" and "椰林花园小区3栋2单元" in values["address"]
    assert values["request_type"] == "反映"
    assert values["summary"].startswith("市民来电反映：") and "施工" in values["summary"]
    assert ticket.department_suggestions[0].department == "城市管理行政执法局"
    assert ticket.department_suggestions[0].reasons
    assert ticket.form is not None and ticket.form.form_id
    assert ticket.review in ("auto", "check")
    for name in TICKET_FIELDS:
        field = ticket.fields[name]
        assert 0.0 <= field.confidence <= 1.0
        for evidence in field.evidence:  # evidence points at the words as said, with audio time
            said = transcript.turns[evidence.turn].text
            assert said[evidence.start_char : evidence.end_char] == evidence.text
            assert evidence.start_time <= evidence.end_time
    json.dumps(ticket.to_dict(), ensure_ascii=False)


def test_a_consultation_gets_knowledge_base_answers(resources):
    transcript = transcript_of((A, "请问有什么可以帮您？"), (C, "我想问一下，我的社保卡丢了，要怎么补办？"))
    ticket = extract_ticket(transcript, META, resources)
    assert ticket.value("request_type") == "咨询"
    assert ticket.kb_answers and "社保卡" in ticket.kb_answers[0].title
    assert ticket.kb_answers[0].plain


def _turns(*items) -> CallTranscript:
    return CallTranscript("bad", 1.0, 8000, 1, "zh", "test", [Turn(r, r, None, 0.0, 1.0, t, 0.9, []) for r, t in items])


@pytest.mark.parametrize(
    ("transcript", "warning"),
    [
        (_turns(), "empty_transcript"),
        (_turns((A, "您好，请问有什么可以帮您？"), (A, "喂？您好？")), "no_caller"),
        (_turns((C, "%%%### $$$ ~~~ @@@ !!!"), (C, "asdf qwer zxcv")), "not_chinese"),
        (_turns((C, "我家门口" * 300_000)), "turn_truncated"),
    ],
)
def test_bad_input_gives_an_empty_but_valid_ticket_with_warnings(resources, transcript, warning):
    ticket = extract_ticket(transcript, META, resources)
    assert warning in {item.code for item in ticket.warnings}
    assert set(ticket.fields) == set(TICKET_FIELDS)
    assert ticket.review == "manual" or ticket.review_reasons
    json.dumps(ticket.to_dict(), ensure_ascii=False)


def test_many_turns_of_noise_do_not_crash(resources):
    turns = [(C if index % 2 else A, "嗯" * (index % 7) + "，。？") for index in range(3000)]
    ticket = extract_ticket(_turns(*turns), CallMeta(call_id="x"), resources)
    assert ticket.review == "manual"


def test_gold_calls_phone_and_district_from_what_was_said(shared_data, resources):
    golds = load_gold_tickets(shared_data / "calls")
    assert len(golds) == 24
    report = evaluate_tickets(
        golds, lambda t, m: extract_ticket(t, m, resources), canonical=resources.catalogue.canonical
    )
    row = report.summary["gold_text"]
    assert row["phone"] >= 0.95
    assert row["district"] >= 0.90
    assert row["caller_surname"] >= 0.9 and row["request_type"] >= 0.8 and row["address"] >= 0.8


def test_a_declined_name_is_not_flagged_and_the_summary_is_a_draft_not_a_doubt(resources):
    transcript = transcript_of(
        (A, "请问有什么可以帮您？"),
        (C, "我要投诉，秀英区海秀中路那家超市卖过期食品。"),
        (A, "好的，请问您贵姓？"),
        (C, "这个不方便透露。"),
        (A, "好的，没关系。请问联系电话是您现在来电的这个号码吗？"),
        (C, "对，就是这个号码。"),
    )
    ticket = extract_ticket(transcript, META, resources)
    assert ticket.value("request_type") == "投诉"
    assert ticket.fields["caller_surname"].source == "declined"
    assert not {"caller_surname", "caller_name", "summary"} & {reason.field for reason in ticket.review_reasons}
    assert ticket.value("summary") == "市民来电投诉：秀英区海秀中路那家超市卖过期食品。"


def test_a_matter_word_heard_as_sound_alikes_still_routes_and_says_so(resources):
    transcript = transcript_of((A, "请问有什么可以帮您？"), (C, "我要投诉，秀英区海秀中路那家超市卖东西没有名马标价。"))
    ticket = extract_ticket(transcript, META, resources)
    by_unit = {suggestion.department: suggestion for suggestion in ticket.department_suggestions}
    assert "职责清单：价格违法（关键词（按读音）：明码标价 ← 名马标价）" in by_unit["市场监督管理局"].reasons
    assert "no_department" not in {warning.code for warning in ticket.warnings}


@pytest.mark.parametrize(
    ("caller", "reason"),
    [
        ("我要反映一下，滨海大道那个大厦的外墙什么时候能弄完。", "no matter words recognised"),
        ("喂？", "request empty"),
        ("我要反映，我朋友借钱不还，你们帮我要回来。", "out of scope: 民事纠纷与合同纠纷"),
    ],
)
def test_a_call_placed_nowhere_says_why_and_goes_to_manual_review(resources, caller, reason):
    ticket = extract_ticket(transcript_of((A, "请问有什么可以帮您？"), (C, caller)), META, resources)
    assert ticket.department_suggestions == []
    [warning] = [warning for warning in ticket.warnings if warning.code == "no_department"]
    assert warning.message.startswith(reason)
    assert ticket.review == "manual"
    assert [(reason.code, reason.field) for reason in ticket.review_reasons if reason.code == "no_department"] == [
        ("no_department", "department")
    ]
