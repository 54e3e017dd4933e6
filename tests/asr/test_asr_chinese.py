"""Whisper's traditional characters and ASCII punctuation, normalised for Mandarin transcripts."""

import pytest

from asr.chinese import to_simplified


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("這個問題我們會處理", "这个问题我们会处理"),
        ("請問您的電話號碼", "请问您的电话号码"),
        ("樓下工地晚上施工，噪音擾民。", "楼下工地晚上施工，噪音扰民。"),
    ],
)
def test_traditional_to_simplified(text, expected):
    assert to_simplified(text) == expected


def test_ascii_punctuation_after_chinese_becomes_full_width():
    assert (
        to_simplified("你好,请问有什么可以帮您?好的.谢谢!注意:明天;")
        == "你好，请问有什么可以帮您？好的。谢谢！注意：明天；"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("价格是3.5元", "价格是3.5元"),
        ("共1,000个", "共1,000个"),
        ("三栋2.5米", "三栋2.5米"),
        ("OK, fine.", "OK, fine."),
        ("版本v1.2", "版本v1.2"),
        ("第3.5", "第3.5"),
        ("共.5", "共.5"),  # a dot before a digit opens a number even right after Chinese
    ],
)
def test_numbers_and_latin_text_are_untouched(text, expected):
    assert to_simplified(text) == expected


def test_punctuation_before_a_digit_after_chinese_is_kept():
    # the dot of 3.5 follows a digit and stays; the comma after 元 becomes full-width
    assert to_simplified("金額為3.5元,") == "金额为3.5元，"


@pytest.mark.parametrize("text", ["", "12345", "您好，幺二三四五热线。"])
def test_already_normal_text_is_unchanged(text):
    assert to_simplified(text) == text
