"""The automatic QA checks on the demo call's gold turns, and on a call that breaks every norm."""

import json
from pathlib import Path

from extract.service_checks import service_checks
from models import CallTranscript

ROOT = Path(__file__).resolve().parents[2]


def transcript(turns: list[tuple[str, str]]) -> CallTranscript:
    return CallTranscript.from_dict(
        {
            "call_id": "qa-test",
            "duration": 5.0 * len(turns),
            "turns": [
                {"role": role, "speaker": role, "channel": 0, "start": 5.0 * i, "end": 5.0 * i + 4, "text": text}
                for i, (role, text) in enumerate(turns)
            ],
        }
    )


def test_the_demo_call_passes_every_check_with_its_evidence():
    gold = json.loads((ROOT / "samples" / "demo-call.json").read_text(encoding="utf-8"))
    checks = service_checks(transcript([(turn["speaker"], turn["text"]) for turn in gold["turns"]]))
    assert {name: check.passed for name, check in checks.items()} == {
        "greeting": True,
        "number_read_back": True,
        "summary_confirmed": True,
        "closing": True,
        "no_forbidden_words": True,
    }
    assert checks["greeting"].turn == 0
    assert checks["number_read_back"].turn == 8
    assert [(turn.index, turn.start) for turn in checks["number_read_back"].turns] == [(8, 40.0), (9, 45.0)]
    assert checks["number_read_back"].text == "139****5286", "numbers are masked"
    assert checks["summary_confirmed"].turn == 10 and "工地夜间施工" in checks["summary_confirmed"].text
    assert checks["closing"].turn == 12


def test_a_call_that_breaks_the_norms_fails_them():
    checks = service_checks(
        transcript(
            [
                ("agent", "喂，说。"),
                ("caller", "我家门口的路灯坏了好几天了。"),
                ("agent", "这个不归我们管，你自己去找路灯所。"),
                ("caller", "那我的电话是13812345678。"),
                ("agent", "行。"),
            ]
        )
    )
    assert not checks["greeting"].passed
    assert not checks["number_read_back"].passed, "the number was never read back"
    assert not checks["summary_confirmed"].passed
    assert not checks["closing"].passed
    assert not checks["no_forbidden_words"].passed
    assert checks["no_forbidden_words"].turn == 2 and checks["no_forbidden_words"].text == "不归我们管"


def test_a_read_back_the_caller_denies_does_not_count():
    checks = service_checks(
        transcript(
            [
                ("agent", "您好，12345热线，请讲。"),
                ("caller", "电话是13812345678。"),
                ("agent", "13812345678，对吗？"),
                ("caller", "不对，是13812345679。"),
            ]
        )
    )
    assert not checks["number_read_back"].passed


def test_the_words_a_check_quotes_carry_no_number_in_clear():
    checks = service_checks(
        transcript(
            [
                ("agent", "您好，12345热线"),
                ("caller", "我要反映噪音"),
                ("agent", "好的，您的电话是一三九一二三四五六七八，对吗？"),
                ("caller", "对"),
                ("agent", "您反映的是噪音问题，您的身份证460100199001011234，回电139 1234 5678，对吗？"),
                ("caller", "对"),
            ]
        )
    )
    quoted = " ".join(check.text or "" for check in checks.values())
    assert checks["summary_confirmed"].passed and checks["number_read_back"].passed
    for number in ("460100199001011234", "13912345678", "139 1234 5678", "一三九一二三四五六七八"):
        assert number not in quoted, quoted
    assert "139****5678" in quoted and "460100********1234" in quoted


# The demo call as Whisper base transcribes it (stereo: the turns are right, the words are not): the number read
# back at 0:33 with 幺 heard as 要 and the caller's 对的 as 最等, the request read back at 0:39 in homophones.
DEMO_AS_HEARD = [
    ("agent", "您好，要按三寸五政务服务便民热线很高兴为您服务请问有什么可以帮您请"),
    ("caller", "1号，不要反应一下，我们小吃楼下的公币天天晚上施工，炒得没法休息，"),
    ("agent", "问记体在什么位置好的，"),
    ("caller", "在龙华区龙昆南路，一名花园小区三桌二带圆楼下，"),
    ("agent", "请问您贵姓"),
    ("caller", "伪性王，"),
    ("agent", "王先生，方便留一个联系电话吗？"),
    ("caller", "雕三九，零零零五二八六，"),
    ("agent", "好的，要3900005286：对吗？"),
    ("caller", "最等，"),
    ("agent", "您确认一下，龙华区盟昆南路夜林花园小七三零二单元楼下公帝夜间施工晓明，对吗？"),
    ("caller", "每天晚上都挖到十二点多，"),
    ("agent", "好的，我们会转交相关部门和施处领感谢您的来电，再见"),
    ("caller", "好的，谢谢，再见！"),
]


def test_the_demo_call_as_whisper_heard_it_passes_its_read_backs():
    checks = service_checks(transcript(DEMO_AS_HEARD))
    assert all(check.passed for check in checks.values()), {name: c.passed for name, c in checks.items()}
    assert [turn.index for turn in checks["number_read_back"].turns] == [8, 9]
    assert checks["number_read_back"].text == "139****5286", "the digits read back, compared as digits, masked"
    assert [turn.index for turn in checks["summary_confirmed"].turns] == [10, 11]
    assert checks["summary_confirmed"].turns[0].start == 50.0


def test_a_failed_check_points_at_the_turn_it_looked_at():
    heard = [("agent", "您好，12 3 45热线"), ("caller", "楼下烧烤店油烟很大"), ("agent", "请问您的联系电话？")]
    heard += [("caller", "139 0000 5286"), ("agent", "好的，我们会转交相关部门。")]
    checks = service_checks(transcript(heard))
    assert checks["greeting"].passed, "Whisper's 12 3 45 is the hotline's 12345"
    assert not checks["number_read_back"].passed
    assert [turn.index for turn in checks["number_read_back"].turns] == [3], "where the caller gave the number"
    assert not checks["closing"].passed and checks["closing"].turn == 4


def test_a_read_back_the_caller_denies_points_at_it_and_the_no():
    checks = service_checks(
        transcript(
            [
                ("agent", "您好，12345热线，请讲。"),
                ("caller", "电话是13812345678。"),
                ("agent", "一三八一二三四五六七九，对吗？"),
                ("caller", "吗？不对，是13812345678。"),
            ]
        )
    )
    assert not checks["number_read_back"].passed
    assert [turn.index for turn in checks["number_read_back"].turns] == [2, 3]
    assert checks["number_read_back"].text == "138****5679"
