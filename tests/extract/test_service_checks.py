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
