"""Where reports read tickets from: the `ReportSource` port, and its CSV adapter.

A source yields `models.ticket_record.TicketRecord`s whose `created_at` lies in [start, end). Adapters: a ticket
history as CSV (`CsvTicketSource`, columns named by `CsvColumns`; the defaults are the Haikou 12345 export's),
the calls' tickets in the service's database (`pipeline.service.reports.CallTicketSource`), and the imported
history's `ticket_records` table.
"""

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from extract.places import PlaceFinder
from models import MetadataError
from models.ticket_record import TicketRecord

__all__ = ["MAX_CELL_CHARS", "CsvColumns", "CsvTicketSource", "ReportSource", "parse_ticket_date"]

MAX_CELL_CHARS = 1 << 20
"""The longest cell a ticket CSV may hold, for reports and `hotline import tickets` alike (`csv.field_size_limit`
is one setting per process). Pasted follow-up histories are long, but a megabyte is not a ticket: past it, the
file is refused with one line naming the row, not read into memory."""


class ReportSource(Protocol):
    def records(self, start: datetime, end: datetime) -> Iterator[TicketRecord]:
        """The tickets reported in [start, end) (naive datetimes, the hotline's local time)."""


@dataclass(frozen=True)
class CsvColumns:
    """Which CSV column holds what. `date` is an ISO date or date-time, or a ticket number that starts with the
    date (20180107184928 → 2018-01-07, as Haikou's 工单编号 does). `matter` lists the taxonomy's levels, coarse
    first, joined by "/" into the record's matter path. District and place come from `district`/`place` when
    the file has them, else from the text (`extract.places.PlaceFinder`)."""

    ticket_id: str = "工单编号"
    date: str = "工单编号"
    text: str = "诉求内容"
    matter: tuple[str, ...] = ("行业分类1级", "行业分类2级", "行业分类3级", "行业分类4级")
    department: str | None = "处置单位"
    district: str | None = None
    place: str | None = None

    def required(self) -> list[str]:
        named = [self.ticket_id, self.date, self.text, *self.matter, self.department, self.district, self.place]
        return list(dict.fromkeys(name for name in named if name))


def parse_ticket_date(value: str) -> datetime:
    """An ISO date or date-time, or a number starting with YYYYMMDD; ValueError otherwise."""
    value = value.strip()
    try:
        parsed = datetime.fromisoformat(value)
        return parsed.replace(tzinfo=None) if parsed.tzinfo is None else parsed.astimezone().replace(tzinfo=None)
    except ValueError:
        pass
    if len(value) >= 8 and value[:8].isdigit():
        return datetime.combine(date(int(value[:4]), int(value[4:6]), int(value[6:8])), datetime.min.time())
    raise ValueError(f"not a date: {value[:20]!r}")


class CsvTicketSource:
    """A ticket history in a UTF-8 CSV file with a header row. The file is checked when the source is made
    (missing columns raise `MetadataError`); rows whose date cannot be read are skipped and counted."""

    def __init__(self, path: Path, places: PlaceFinder, columns: CsvColumns | None = None):
        self.path, self.places, self.columns = Path(path), places, columns or CsvColumns()
        self.skipped = 0
        header = self._header()
        missing = [name for name in self.columns.required() if name not in header]
        if missing:
            raise MetadataError(f"{self.path.name}: no column {', '.join(map(repr, missing))}")

    def records(self, start: datetime, end: datetime) -> Iterator[TicketRecord]:
        columns, self.skipped = self.columns, 0
        csv.field_size_limit(MAX_CELL_CHARS)
        with self._open() as handle:
            reader = csv.DictReader(handle)
            try:
                for row in reader:
                    try:
                        created = parse_ticket_date(row[columns.date] or "")
                    except ValueError:
                        self.skipped += 1
                        continue
                    if not start <= created < end:
                        continue
                    text = (row[columns.text] or "").strip()
                    found = self.places.find(text)
                    ticket_id = (row[columns.ticket_id] or "").strip() or hashlib.sha256(text.encode()).hexdigest()[:16]
                    yield TicketRecord(
                        ticket_id=ticket_id,
                        source="import",
                        created_at=created,
                        text=text,
                        matter="/".join(level for name in columns.matter if (level := (row[name] or "").strip())),
                        district=(row[columns.district] or "").strip() if columns.district else found.district,
                        place=(row[columns.place] or "").strip() if columns.place else found.place,
                        department=(row[columns.department] or "").strip() if columns.department else "",
                        caller_key="",
                    )
            except (csv.Error, UnicodeDecodeError) as error:  # a cell past csv's limit, a byte that is not UTF-8
                raise MetadataError(f"{self.path.name}:{reader.line_num + 1}: cannot read the CSV: {error}") from None

    def _header(self) -> list[str]:
        try:
            with self._open() as handle:
                return next(csv.reader(handle), [])
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            raise MetadataError(f"{self.path.name}: cannot read the CSV: {error}") from None

    def _open(self):
        return open(self.path, encoding="utf-8-sig", newline="")
