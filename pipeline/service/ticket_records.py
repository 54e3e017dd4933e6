"""Ticket records (`models.TicketRecord`) made from a call's ticket and from an imported ticket history.

`TicketRecorder` holds what making one needs from the deployment: the caller keys' secret and the city whose
districts and roads a text names. A call's record is written in the transaction that finishes the call
(`CallRepository.finish`); an imported one by `hotline import tickets` (`read_ticket_csv`).
"""

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from extract.related import TicketPlace
from models import CallMeta, CallTranscript, Ticket, top_department
from models.ticket_record import TicketRecord
from pipeline.meta import EARLIEST, LATEST, MOMENT_RANGE
from pipeline.reports.source import MAX_CELL_CHARS
from pipeline.service.caller_keys import caller_key

__all__ = ["CsvColumns", "TicketImportError", "TicketRecorder", "check_ticket_csv", "read_ticket_csv"]

MAX_TEXT_CHARS = 4000
"""A ticket's text as kept for related-ticket search; a pasted history longer than this is cut."""


@dataclass(frozen=True)
class TicketRecorder:
    secret: bytes
    province: str = "海南省"
    city: str = "海口市"

    def for_call(
        self, meta: CallMeta, ticket: Ticket, transcript: CallTranscript | None, received_at: datetime
    ) -> TicketRecord:
        """The record of a call's ticket: its summary (else what the caller said), category, place, the unit
        suggested first, and the key of the calling number (else of the callback number on the ticket)."""
        text = ticket.value("summary") or ""
        if not text and transcript is not None:
            text = "".join(turn.text for turn in transcript.turns if turn.role == "caller")
        address = ticket.value("address") or ""
        where = TicketPlace.of(address or text, self.province, self.city)
        return TicketRecord(
            ticket_id=meta.call_id,
            source="call",
            created_at=meta.started_at or received_at,
            text=text[:MAX_TEXT_CHARS],
            matter=ticket.value("category") or "",
            district=ticket.value("district") or where.district,
            place=where.place,
            department=ticket.department or top_department(ticket) or "",
            caller_key=caller_key(meta.caller_number or ticket.value("phone"), self.secret),
        )

    def warm_up(self) -> None:
        """Load what making a record needs (the city's division and place names: seconds, once a process)."""
        TicketPlace.of("", self.province, self.city)

    def for_import(
        self,
        ticket_id: str,
        created_at: datetime,
        text: str,
        matter: str = "",
        department: str = "",
        caller_number: str | None = None,
    ) -> TicketRecord:
        text = text[:MAX_TEXT_CHARS]  # first: the place is read from what is kept (a 50 MB cell took minutes)
        where = TicketPlace.of(text, self.province, self.city)
        return TicketRecord(
            ticket_id=ticket_id,
            source="import",
            created_at=created_at,
            text=text,
            matter=matter,
            district=where.district,
            place=where.place,
            department=department,
            caller_key=caller_key(caller_number, self.secret),
        )


class TicketImportError(ValueError):
    """A ticket CSV that cannot be imported: the message names the file, row and column."""


@dataclass(frozen=True)
class CsvColumns:
    """Which columns of a ticket CSV hold what. `time_format` is strptime's, applied to the column's leading
    characters (Haikou's 工单编号 "20180107184928" starts with the date: "%Y%m%d"); None reads ISO 8601. Times
    without a zone are in `timezone`."""

    text: str
    ticket_id: str
    time: str
    time_format: str | None = None
    timezone: str = "Asia/Shanghai"
    matter: tuple[str, ...] = ()
    department: str | None = None
    caller: str | None = None


@dataclass(frozen=True)
class _CsvTicket:
    """One row of a ticket CSV, read and checked; the record is made from it (`TicketRecorder.for_import`)."""

    ticket_id: str
    created_at: datetime  # UTC
    text: str
    matter: str
    department: str
    caller_number: str | None


def check_ticket_csv(path: Path, columns: CsvColumns) -> int:
    """Read the whole file as `read_ticket_csv` does, without making records (no place finding: seconds for a
    year of tickets): its number of rows, or TicketImportError on the first bad one. The import runs it first, so
    a file with a bad row anywhere imports nothing."""
    return sum(1 for _ in _ticket_rows(path, columns))


def read_ticket_csv(path: Path, columns: CsvColumns, recorder: TicketRecorder) -> Iterator[TicketRecord]:
    """The records of a ticket CSV (UTF-8, a header row), in file order. Raises TicketImportError on a missing
    column, an empty id, an unreadable time or one outside the times the service takes, naming the row."""
    for row in _ticket_rows(path, columns):
        yield recorder.for_import(
            row.ticket_id,
            row.created_at,
            row.text,
            matter=row.matter,
            department=row.department,
            caller_number=row.caller_number,
        )


def _ticket_rows(path: Path, columns: CsvColumns) -> Iterator[_CsvTicket]:
    zone = ZoneInfo(columns.timezone)
    width = len(datetime(2000, 12, 28, 23, 59, 59).strftime(columns.time_format)) if columns.time_format else 0
    csv.field_size_limit(MAX_CELL_CHARS)
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise TicketImportError(f"{path}: {error.strerror}") from error
    with handle:
        reader = csv.DictReader(handle)
        try:
            fieldnames = reader.fieldnames or []  # reads the header row: a file in another encoding fails here
        except (csv.Error, UnicodeDecodeError) as error:
            raise TicketImportError(f"{path}: not a UTF-8 CSV file ({error})") from error
        wanted = [columns.text, columns.ticket_id, columns.time, *columns.matter]
        wanted += [name for name in (columns.department, columns.caller) if name]
        missing = [name for name in wanted if name not in fieldnames]
        if missing:
            raise TicketImportError(f"{path}: no column {', '.join(missing)} (columns: {fieldnames})")
        line = 1
        try:
            for line, row in enumerate(reader, start=2):
                ticket_id = (row[columns.ticket_id] or "").strip()
                if not ticket_id:
                    raise TicketImportError(f"{path}:{line}: empty {columns.ticket_id}")
                raw_time = (row[columns.time] or "").strip()
                try:
                    if columns.time_format:
                        created_at = datetime.strptime(raw_time[:width], columns.time_format)
                    else:
                        created_at = datetime.fromisoformat(raw_time)
                    if created_at.tzinfo is None:
                        created_at = created_at.replace(tzinfo=zone)
                    created_at = created_at.astimezone(UTC)  # year 1 in +08:00 is year 0 in UTC: OverflowError
                    if not EARLIEST <= created_at < LATEST:
                        raise ValueError(f"the time must be {MOMENT_RANGE}")
                except (ValueError, OverflowError) as error:
                    raise TicketImportError(f"{path}:{line}: {columns.time} {raw_time[:40]!r}: {error}") from error
                yield _CsvTicket(
                    ticket_id,
                    created_at,
                    row[columns.text] or "",
                    "/".join(part for name in columns.matter if (part := (row[name] or "").strip())),
                    (row[columns.department] or "").strip() if columns.department else "",
                    row[columns.caller] if columns.caller else None,
                )
        except (csv.Error, UnicodeDecodeError) as error:
            raise TicketImportError(f"{path}:{line + 1}: cannot read the CSV ({error})") from error
