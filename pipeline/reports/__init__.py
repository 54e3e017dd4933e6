"""Hot spots and reports over a ticket history: counts by matter x place x time, spikes against each series'
own baseline (`analysis`), and the weekly brief (一周热点) and monthly report as one HTML file with charts
(`render`). Tickets come through the `ReportSource` port (`source`); nothing here touches the service's
database, so the CLI, the worker and the benches share it (the database adapter: `pipeline.service.reports`)."""

from datetime import date

from pipeline.reports.analysis import (
    REPORT_KINDS,
    CountRow,
    ReportData,
    SeriesKey,
    Spike,
    SpikeOptions,
    analyse,
    check_period,
    count_table,
    report_window,
)
from pipeline.reports.render import STYLE_CSP_HASH, render_html
from pipeline.reports.source import CsvColumns, CsvTicketSource, ReportSource

__all__ = [
    "REPORT_KINDS",
    "STYLE_CSP_HASH",
    "CountRow",
    "CsvColumns",
    "CsvTicketSource",
    "ReportData",
    "ReportSource",
    "SeriesKey",
    "Spike",
    "SpikeOptions",
    "analyse",
    "build_report",
    "check_period",
    "count_table",
    "render_html",
    "report_window",
]


def build_report(
    source: ReportSource, kind: str, start: date, end: date, label: str, options: SpikeOptions | None = None
) -> tuple[ReportData, str]:
    """The report of [start, end) from `source` (read once, baseline bins included) and its HTML page."""
    options = options or SpikeOptions()
    data = analyse(source.records(*report_window(start, end, options)), kind, start, end, options)
    data.skipped = getattr(source, "skipped", 0)
    return data, render_html(data, label)
