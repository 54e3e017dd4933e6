"""Reports in the service: the calls' tickets as a report source, the stored reports, and the weekly schedule.

- `CallTicketSource`: the `pipeline.reports.ReportSource` over the calls whose ticket is made, dated by the
  call's start (`repository.search.call_time`), in the hotline's local time (`pipeline.meta.NAIVE_TIMES_ZONE`):
  the ticket's summary, category (and the catalogue's matter under it), district, address (its road or place,
  `extract.places`) and the department chosen (corrections applied). The history imported from CSV lives in
  the `ticket_records` table, read through its own adapter.
- `ReportStore`: the HTML files under `<data dir>/reports`, one per kind and period
  (`weekly-2018-05-14-2018-05-20.html`), each written atomically; names are checked, so a name from a URL can
  only ever open a report.
- `Reports.weekly_due`: last week's brief (Monday to Sunday before `today`), made once. Housekeeping calls it on
  every tick (beat's `hotline.weekly_report`, or the API's own timer): a brief missed while no beat ran is made
  on the next tick, and a tick that finds it made does nothing.
"""

import functools
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from extract.places import PlaceFinder
from models import Ticket
from models.files import write_atomic
from models.ticket_record import TicketRecord
from pipeline.meta import NAIVE_TIMES_ZONE
from pipeline.reports import ReportSource, SpikeOptions, build_report, check_period
from pipeline.service.database import Call
from pipeline.service.repository import CallRepository
from pipeline.service.repository.search import call_time
from pipeline.settings import Settings

__all__ = ["CallTicketSource", "ReportStore", "Reports", "StoredReport", "last_week", "reports_from"]

logger = logging.getLogger(__name__)

CALLS_LABEL = "本系统来电工单"
_NAME = re.compile(r"^(weekly|monthly)-(\d{4}-\d{2}-\d{2})-(\d{4}-\d{2}-\d{2})\.html$")


class CallTicketSource:
    """The finished calls' tickets in [start, end) (naive local times), oldest first."""

    def __init__(self, sessions: sessionmaker, places: PlaceFinder):
        self.sessions, self.places = sessions, places

    def records(self, start: datetime, end: datetime) -> Iterator[TicketRecord]:
        moment = call_time()
        query = (
            select(Call.id, moment, Call.ticket, Call.department)
            .where(Call.ticket.is_not(None), moment >= _utc(start), moment < _utc(end))
            .order_by(moment, Call.id)
            .execution_options(yield_per=1000)
        )
        with self.sessions() as session:
            for call_id, started, ticket, department in session.execute(query):
                category = ticket.fields.get("category")
                matter = "/".join(
                    part for part in (_value(ticket, "category"), category.raw if category else None) if part
                )
                found = self.places.find(_value(ticket, "address") or _value(ticket, "summary"))
                yield TicketRecord(
                    ticket_id=call_id,
                    source="call",
                    created_at=_local(started),
                    text=_value(ticket, "summary"),
                    matter=matter,
                    district=_value(ticket, "district") or found.district,
                    place=found.place,
                    department=department or "",
                    caller_key="",
                )


def _value(ticket: Ticket, name: str) -> str:
    field = ticket.fields.get(name)
    return (field.value or "").strip() if field else ""


def _utc(local: datetime) -> datetime:
    return local.replace(tzinfo=NAIVE_TIMES_ZONE).astimezone(UTC)


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # SQLite hands back the coalesce of two columns as naive UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(NAIVE_TIMES_ZONE).replace(tzinfo=None)


@dataclass(frozen=True)
class StoredReport:
    name: str
    kind: str
    start: date
    last_day: date  # inclusive
    size: int
    made_at: datetime  # UTC


class ReportStore:
    """Report files in one folder (made on first write)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    @staticmethod
    def name(kind: str, start: date, last_day: date) -> str:
        return f"{kind}-{start.isoformat()}-{last_day.isoformat()}.html"

    def save(self, kind: str, start: date, last_day: date, page: str) -> StoredReport:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = self.name(kind, start, last_day)
        write_atomic(self.folder / name, page)
        return self._stored(self.folder / name)

    def path(self, name: str) -> Path | None:
        """The file of a stored report, or None when `name` is not a report's name or there is no such file."""
        if not _NAME.match(name):
            return None
        path = self.folder / name
        return path if path.is_file() else None

    def list(self, limit: int = 50) -> list[StoredReport]:
        """The stored reports, the latest period first (weekly before monthly when both end the same day)."""
        if not self.folder.is_dir():
            return []
        found = [self._stored(path) for path in self.folder.iterdir() if _NAME.match(path.name)]
        found.sort(key=lambda report: (report.last_day, report.kind == "weekly", report.start), reverse=True)
        return found[:limit]

    @staticmethod
    def _stored(path: Path) -> StoredReport:
        kind, start, last_day = _NAME.match(path.name).groups()
        stat = path.stat()
        made_at = datetime.fromtimestamp(stat.st_mtime, UTC)
        return StoredReport(
            path.name, kind, date.fromisoformat(start), date.fromisoformat(last_day), stat.st_size, made_at
        )


def last_week(today: date) -> tuple[date, date]:
    """The last whole week (Monday to Sunday) before `today`."""
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=6)


class Reports:
    """Reports made from one source into one store."""

    def __init__(self, source: ReportSource, store: ReportStore, label: str = CALLS_LABEL, options=None):
        self.source, self.store, self.label = source, store, label
        self.options = options or SpikeOptions()

    def generate(self, kind: str, start: date, last_day: date) -> StoredReport:
        """Make (or make again) the report of [start, last_day] and store it. ValueError on a bad kind or period."""
        check_period(kind, start, last_day)
        _, page = build_report(self.source, kind, start, last_day + timedelta(days=1), self.label, self.options)
        stored = self.store.save(kind, start, last_day, page)
        logger.info("report %s made (%d bytes)", stored.name, stored.size)
        return stored

    def weekly_due(self, today: date | None = None) -> StoredReport | None:
        """Last week's brief, if it is not made yet; None when it is."""
        start, last_day = last_week(today or datetime.now(NAIVE_TIMES_ZONE).date())
        if self.store.path(ReportStore.name("weekly", start, last_day)) is not None:
            return None
        return self.generate("weekly", start, last_day)


@functools.lru_cache(maxsize=4)
def _place_finder(lexicon: Path | None) -> PlaceFinder:
    from extract.lexicon import load_lexicon

    return PlaceFinder(load_lexicon(lexicon))


def reports_from(settings: Settings, repository: CallRepository) -> Reports:
    """The service's reports: the calls' tickets (places read with the deployment's lexicon), stored under
    `<data dir>/reports`."""
    source = CallTicketSource(repository.sessions, _place_finder(settings.lexicon))
    return Reports(source, ReportStore(settings.data_dir / "reports"))
