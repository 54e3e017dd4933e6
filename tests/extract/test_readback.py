"""The one read-back matcher: what a read-back of each kind looks like, and what counts as the caller's yes."""

import pytest
from extract_builders import transcript_of

from extract.document import build_document
from extract.readback import ADDRESS, NUMBER, REQUEST, RESTATEMENT, confirms, read_back, read_backs


@pytest.mark.parametrize(
    "reply",
    ["对", "对的", "是的", "是", "嗯", "嗯，对", "好的", "好", "行", "可以", "没错", "正确", "，对啊", "谢谢", "再见"],
)
def test_a_yes_at_the_start_of_the_reply_confirms(reply):
    assert confirms(reply)


@pytest.mark.parametrize("reply", ["不对", "不是", "不是的，是5286", "错了", "号码是13900005286", ""])
def test_a_no_or_a_new_answer_does_not_confirm(reply):
    assert not confirms(reply)


def test_a_number_read_back_and_its_confirmation():
    document = build_document(
        transcript_of(
            ("agent", "请问您的联系电话？"),
            ("caller", "13900005286"),
            ("agent", "好的，13900005286，对吗？"),
            ("agent", "稍等。"),
            ("caller", "对的。"),
        )
    )
    found = list(read_backs(document, NUMBER))
    assert [item.turn.index for item in found] == [2]
    assert found[0].confirmed, "the caller's next turn answers, even after another operator turn"
    assert found[0].reply.index == 4
    assert read_back(document, document.turns[1], NUMBER) is None, "a caller's turn is never a read-back"


def test_an_unconfirmed_read_back_is_found_but_not_when_only_confirmed_ones_are_asked_for():
    document = build_document(
        transcript_of(("agent", "您说的位置是在秀英区海秀路，对吗？"), ("caller", "不是，是龙华区"))
    )
    (found,) = read_backs(document, ADDRESS)
    assert found.content == "秀英区海秀路" and not found.confirmed
    assert list(read_backs(document, ADDRESS, confirmed=True)) == []


def test_a_read_back_the_caller_never_answered_is_unconfirmed():
    document = build_document(
        transcript_of(("caller", "小区门口垃圾没人清"), ("agent", "您反映的是小区门口垃圾没人清，对吗？"))
    )
    (found,) = read_backs(document, REQUEST)
    assert found.reply is None and not found.confirmed


def test_the_content_and_its_evidence_point_at_the_words_read_back():
    document = build_document(
        transcript_of(("agent", "您反映的是工地夜间施工的问题，对吗？"), ("caller", "对"), with_words=True)
    )
    (found,) = read_backs(document, REQUEST, confirmed=True)
    assert found.content == "工地夜间施工的问题"
    evidence = found.evidence()
    assert evidence.turn == 0 and evidence.text == "工地夜间施工的问题"
    assert evidence.start_time == pytest.approx(0.2 * 5)


def test_a_restatement_has_no_content_group_and_reads_back_all_it_matched():
    document = build_document(transcript_of(("agent", "跟您确认一下，楼下烧烤店油烟很大，对吗？"), ("caller", "是的")))
    (found,) = read_backs(document, RESTATEMENT, confirmed=True)
    assert found.content == "跟您确认一下，楼下烧烤店油烟很大，对吗"


def test_a_request_read_back_keeps_a_question_inside_the_request():
    document = build_document(transcript_of(("agent", "您咨询的是公积金是不是可以提取，对吗？"), ("caller", "对")))
    (found,) = read_backs(document, REQUEST, confirmed=True)
    assert found.content == "公积金是不是可以提取"
