"""A pytest plugin that reads every log record of the whole test run and fails the run when one carries a
phone number or an ID-card number in clear (the ticket itself may hold them; logs never).

The product's own loggers (api, pipeline, asr, extract, models) are opened down to DEBUG for the run, so
the check covers what a deployment at its most verbose would write; every other logger is read from
WARNING up, as a default deployment would. The patterns are written here, independently of the masking
code they check: a mobile number (11 digits from 13-19), a landline with its area code (0xx-xxxxxxxx),
an 18-character ID-card number; none of them counts inside a longer run of letters or digits (hashes,
timestamps). A test that must put a number into a log record on purpose (to show the guard works)
takes it back with `LEAKS.forget`.
"""

import logging
import re

import pytest

PRODUCT_LOGGERS = ("api", "pipeline", "asr", "extract", "models")

NUMBER = re.compile(
    r"(?<![0-9A-Za-z])(?:"
    r"1[3-9]\d{9}"  # mobile
    r"|0\d{2,3}-?\d{7,8}"  # landline with area code
    r"|\d{17}[\dXx]"  # ID card
    r")(?![0-9A-Za-z])"
)

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
"""Delivery and call ids: a random UUID's last group is now and then twelve decimal digits starting with 0,
which reads like a landline (about one UUID in 30,000; it failed a run once)."""


class LeakFinder(logging.Handler):
    """Remembers each record whose rendered text (message, arguments, traceback) holds a number."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.test = "(outside a test)"
        self.leaks: list[tuple[str, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be rendered cannot leak through a formatter either
            return
        for match in NUMBER.finditer(UUID.sub("<uuid>", text)):
            self.leaks.append((self.test, record.name, match.group()))

    def filter(self, record: logging.LogRecord) -> bool:
        # Filters added to this handler are not applied: `pipeline.logmask.install` (run by every in-process CLI
        # test) puts the masking filter on each handler it finds, this one included, which left the guard blind
        # for the rest of the run.
        return True

    def forget(self, number: str) -> None:
        self.leaks = [leak for leak in self.leaks if leak[2] != number]


LEAKS = LeakFinder()


def pytest_configure(config: pytest.Config) -> None:
    logging.getLogger().addHandler(LEAKS)
    if logging.getLogger().level > logging.WARNING:
        logging.getLogger().setLevel(logging.WARNING)
    for name in PRODUCT_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)


def pytest_runtest_logstart(nodeid: str, location) -> None:
    LEAKS.test = nodeid


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not LEAKS.leaks:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"log_guard: {len(LEAKS.leaks)} log records carry a phone or ID number in clear:"]
    for test, logger, number in LEAKS.leaks[:20]:
        lines.append(f"  {test}: logger {logger}: {number[:3]}…{number[-2:]}")
    if reporter is not None:
        reporter.write_line("\n".join(lines), red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
