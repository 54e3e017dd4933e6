"""Event time: when the reported thing happened, resolved against the call's start.

jionlp finds and resolves time expressions ("一月十三号十二点左右", "昨天晚上", "上周三") relative to a base
time; the operator's boilerplate ("30分钟内", "规定时间内") is not an event time, so only caller turns count.
"""

import datetime as dt
import logging
import re

from extract.document import CallDocument
from extract.nlp import jionlp
from models import TicketField

logger = logging.getLogger(__name__)

_RECURRING = ("每", "天天", "经常", "总是")
_NOT_EVENT_TIMES = ("分钟内", "小时内", "工作日", "规定时间", "尽快", "现在", "马上", "一会")
# A day of the month alone ("1号", "十五日") is the weakest time there is: it is also how a house, a line or a
# gate is numbered, and what a misheard 你好 becomes at the start of a call.
_BARE_DAY = re.compile(r"[0-9零〇一二三四五六七八九十两]{1,3}[号日]")


def extract_event_time(document: CallDocument, call_start: dt.datetime | None) -> TicketField:
    """The first point in time the caller names, as ISO text at the precision said (2018-01-13T12:00)."""
    # the call's own wall clock: an aware start time in +08:00 must not be shifted to the server's zone
    base = call_start.replace(tzinfo=None) if call_start else dt.datetime.now()
    bare_day: TicketField | None = None
    for turn in document.caller_turns:
        try:
            found = jionlp().ner.extract_time(turn.text, time_base=base, with_parsing=True)
        except (ValueError, KeyError, IndexError, TypeError) as error:  # jionlp raises on odd expressions
            logger.debug("time parsing failed in turn %d: %s", turn.index, error)
            continue
        for item in found:
            text = item["text"]
            if item.get("type") != "time_point" or any(word in text for word in _NOT_EVENT_TIMES):
                continue
            start, end = item["offset"]
            clause = re.split(r"[，。！？,.!?；;]", turn.text[:end])[-1]
            if any(word in clause for word in _RECURRING):
                continue  # 每天晚上…十二点 is how often, not when
            times = item.get("detail", {}).get("time") or []
            if len(times) != 2:
                continue
            value = _at_precision(times[0], times[1])
            confidence = 0.85 if item["detail"].get("definition") == "accurate" else 0.7
            if call_start is None:
                confidence = min(confidence, 0.5)  # relative expressions resolved against "now"
            found_time = TicketField(value, confidence, [turn.evidence(start, end)], raw=text, source="spoken")
            if not _BARE_DAY.fullmatch(text):
                return found_time
            if bare_day is None:  # kept in case nothing fuller is said; the operator checks it
                found_time.confidence = min(confidence, 0.5)
                bare_day = found_time
    return bare_day or TicketField()


def _at_precision(first: str, last: str) -> str:
    """'2018-01-13 12:00:00'..'2018-01-13 12:59:59' → '2018-01-13T12:00'; a whole day → '2018-01-13'."""
    start = dt.datetime.fromisoformat(first)
    end = dt.datetime.fromisoformat(last)
    span = end - start
    if span >= dt.timedelta(days=28):
        return start.strftime("%Y-%m")
    if span >= dt.timedelta(hours=23):
        return start.strftime("%Y-%m-%d")
    return start.strftime("%Y-%m-%dT%H:%M")
