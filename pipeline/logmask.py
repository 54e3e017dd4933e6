"""Phone and ID numbers never reach a log in clear.

The code logs none (ids, counts and kinds only); this is the second line, for what slips through in an
exception's text or a library's message. `MaskNumbers` is a `logging.Filter` that rewrites each record's
message, arguments, exception text and stack with `extract.masking.mask_numbers` (mobile, landline and
ID-card numbers). A filter on a handler sees every record that handler writes, whichever logger it came from,
so the entry points put it on their handlers after they configure logging: the CLI, `hotline worker` and
`hotline beat` with `install()`, `hotline serve` in uvicorn's logging configuration (`api.server.log_config`),
which every worker process applies again.
"""

import logging
from collections.abc import Mapping

from extract.masking import mask_numbers

__all__ = ["MaskNumbers", "install"]


class MaskNumbers(logging.Filter):
    """Masks phone and ID numbers in a record; lets every record through."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            _mask(record)
        except Exception:  # never let a log call fail, and never let an unchecked record out
            record.msg = f"a record of {record.name} withheld: it could not be checked for numbers"
            record.args, record.exc_info, record.exc_text, record.stack_info = (), None, None, None
        return True


def _mask(record: logging.LogRecord) -> None:
    record.msg = _masked(record.msg)
    if record.args:
        original = record.args
        masked = (
            {key: _masked(value) for key, value in original.items()}
            if isinstance(original, Mapping)
            else tuple(_masked(value) for value in original)
        )
        record.args = masked
        try:
            record.getMessage()
        except (TypeError, ValueError):  # e.g. "%d" given a masked number: mask the formatted message instead
            record.args = original
            try:
                record.msg, record.args = mask_numbers(record.getMessage()), ()
            except (TypeError, ValueError):  # a malformed call: logging reports it, with the masked arguments
                record.args = masked
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)  # as handlers would write it
    if record.exc_text:
        record.exc_text = mask_numbers(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_numbers(record.stack_info)


_FILTER = MaskNumbers()


def install() -> None:
    """Put the filter on every handler configured so far (any logger's, root's, and logging's last resort);
    a handler that has it already is left alone."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    handlers = [handler for logger in loggers for handler in getattr(logger, "handlers", ())]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        if not any(isinstance(existing, MaskNumbers) for existing in handler.filters):
            handler.addFilter(_FILTER)


def _masked(value: object) -> object:
    """A str masked; another object replaced by its masked text only when that text held a number."""
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, str):
        return mask_numbers(value)
    text = str(value)
    masked = mask_numbers(text)
    return value if masked == text else masked
