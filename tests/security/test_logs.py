"""The whole test run's logs are searched for phone and ID numbers by tests/log_guard.py, which fails the run
on the first one. These tests show that the guard is listening and recognises what it must."""

import logging

from log_guard import LEAKS, NUMBER


def test_the_guard_reads_product_logs_at_debug():
    logging.getLogger("pipeline.somewhere").debug("caller %s asked", "13912345678")
    assert ("pipeline.somewhere", "13912345678") in [(logger, number) for _, logger, number in LEAKS.leaks]
    LEAKS.forget("13912345678")


def test_the_guard_reads_tracebacks():
    try:
        raise ValueError("bad number 0898-66668888")
    except ValueError:
        logging.getLogger("api.somewhere").exception("failed")
    assert "0898-66668888" in [number for _, _, number in LEAKS.leaks]
    LEAKS.forget("0898-66668888")


def test_numbers_it_finds_and_digits_it_leaves():
    found = [match.group() for match in NUMBER.finditer("来电13912345678，座机089866668888，身份证46010019900101123X")]
    assert found == ["13912345678", "089866668888", "46010019900101123X"]
    assert not NUMBER.findall("key a13912345678b, 1733212345678 ms, 138****5678, call-00042")


def test_a_uuid_whose_last_group_looks_like_a_landline_is_no_leak():
    logging.getLogger("pipeline.somewhere").info("webhook 6333acf0-3104-4fc9-8f62-014523189900 given up")
    assert "014523189900" not in [number for _, _, number in LEAKS.leaks]
    logging.getLogger("pipeline.somewhere").info("delivery for 0898-66668888 failed")
    assert "0898-66668888" in [number for _, _, number in LEAKS.leaks]
    LEAKS.forget("0898-66668888")
