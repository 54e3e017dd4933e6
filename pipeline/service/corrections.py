"""Operator-accepted tickets as routing training data.

Each accepted ticket is one labelled example: the request as the ticket states it (the summary, with the
operator's corrections) and the unit the operator sent it to. The columns fit
`hotline train routing --csv FILE --text-column text --label-column department`, and `machine_rank` says
where the machine had put that unit (1 = its first suggestion), so a deployment can follow its routing
accuracy on live calls. Phone and ID numbers in the text are masked: training data travels further than
tickets do. The CSV is opened in spreadsheets, so a cell that would start a formula is escaped (`csv_cell`).
"""

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime

from extract.masking import mask_numbers
from models import Ticket
from pipeline.service.database import Call
from pipeline.service.repository import CallRepository

CORRECTION_COLUMNS = (
    "call_id",
    "accepted_at",
    "accepted_by",
    "agent_id",
    "text",
    "department",
    "machine_department",
    "machine_rank",
    "request_type",
    "district",
    "corrected_fields",
)


def correction_rows(
    repository: CallRepository,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> Iterator[dict]:
    """One row per accepted ticket with a department, oldest acceptance first, of at most `limit` tickets."""
    for call in repository.accepted_calls(since, until, limit):
        row = correction_row(call)
        if row["text"] and row["department"]:
            yield row


def correction_row(call: Call) -> dict:
    ticket = call.ticket or Ticket.empty()
    machine = call.machine_ticket
    machine_units = [item.department for item in machine.department_suggestions] if machine else []
    summary = _value(ticket, "summary")
    corrected = sorted(name for name, field in ticket.fields.items() if field.source == "corrected")
    if call.department != (machine_units[0] if machine_units else None):
        corrected = sorted({*corrected, "department"})
    return {
        "call_id": call.id,
        "accepted_at": call.accepted_at.isoformat() if call.accepted_at else "",
        "accepted_by": call.accepted_by or "",
        "agent_id": call.agent_id or "",
        # the request without the hotline's opening formula ("市民来电反映：")
        "text": mask_numbers(summary.split("：", 1)[-1].strip()),
        "department": call.department or "",
        "machine_department": machine_units[0] if machine_units else "",
        "machine_rank": machine_units.index(call.department) + 1 if call.department in machine_units else "",
        "request_type": _value(ticket, "request_type"),
        "district": _value(ticket, "district"),
        "corrected_fields": ",".join(corrected),
    }


def _value(ticket: Ticket, name: str) -> str:
    field = ticket.fields.get(name)
    return "" if field is None or field.value is None else field.value


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
"""What makes a spreadsheet read a cell as a formula (OWASP "CSV Injection"), with the full-width forms that
Chinese input methods type and some spreadsheets take for the same characters."""


def csv_cell(value: object) -> str:
    """A value as a CSV cell that a spreadsheet shows as text: one starting like a formula gets a leading
    single quote, as OWASP advises (`=HYPERLINK(…)` → `'=HYPERLINK(…)`)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(rows: Iterable[dict]) -> Iterator[str]:
    """CSV text in pieces (header first), for streaming and for files alike; every cell through `csv_cell`."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CORRECTION_COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({name: csv_cell(value) for name, value in row.items()})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def to_jsonl(rows: Iterable[dict]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False) + "\n"
