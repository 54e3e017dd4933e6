"""One module masks numbers: a single number (the caller number in a list) and numbers in free text."""

import pytest

from extract.masking import mask_number, mask_numbers


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("13800007731", "138****7731"),
        ("+86 138-0000-7731", "861******7731"),  # only the digits count
        ("089866123456", "089*****3456"),
        ("1234567", "1234567"),  # seven digits: nothing left to hide
        ("12345", "*****"),
        ("", None),
        (None, None),
    ],
)
def test_one_number_keeps_its_first_three_and_last_four_digits(number, masked):
    assert mask_number(number) == masked


def test_a_mobile_number_in_text_is_masked_as_the_single_number_is():
    assert mask_numbers("回电13800007731") == "回电" + mask_number("13800007731")
    assert mask_numbers("来电+8613800007731") == "来电+86" + mask_number("13800007731")
