"""One module masks numbers: a single number (the caller number in a list) and numbers in free text."""

import pytest

from extract.masking import mask_number, mask_numbers


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("13800007731", "138****7731"),
        ("+86 138-0000-7731", "861******7731"),  # only the digits count
        ("089866123456", "089*****3456"),
        ("1234567", "*****67"),  # a local landline: most of it hidden, not 3 + 4 of 7 digits
        ("66123456", "******56"),
        ("12345", "*****"),
        ("", None),
        (None, None),
    ],
)
def test_one_number_keeps_its_first_three_and_last_four_digits_or_less(number, masked):
    assert mask_number(number) == masked


def test_a_mobile_number_in_text_is_masked_as_the_single_number_is():
    assert mask_numbers("回电13800007731") == "回电" + mask_number("13800007731")
    assert mask_numbers("来电+8613800007731") == "来电+86" + mask_number("13800007731")


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("回电139 1234 5678", "回电139****5678"),
        ("回电139-1234-5678。", "回电139****5678。"),
        ("回电１３９１２３４５６７８", "回电139****5678"),
        ("电话是一三九一二三四五六七八对吗", "电话是139****5678对吗"),
        ("幺三九，零零零零，五二八六", "139****5286"),  # as Whisper writes a number read in groups
        ("座机0898 6612 3456", "座机0898****56"),
        ("身份证4601 0019 9001 0112 3X", "身份证460100********123X"),
        ("13912345678，13812345678", "139****5678，138****5678"),  # two numbers in one run
        ("+86 139 1234 5678", "+86139****5678"),
    ],
)
def test_numbers_written_in_groups_full_width_or_in_words_are_masked(text, masked):
    assert mask_numbers(text) == masked


@pytest.mark.parametrize("text", ["日期2024-05-06，编号12345", "三四个人", "我家一楼二楼", "一二三四五六七八九十"])
def test_digits_that_are_no_phone_or_id_number_stay(text):
    assert mask_numbers(text) == text
