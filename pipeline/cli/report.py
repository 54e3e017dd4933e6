"""`hotline report weekly|monthly`: the weekly brief (一周热点) or the monthly report as one HTML file
(docs/REPORTS.md), from a ticket history in CSV (`--csv`) or from the service's database (the calls' tickets)."""

import csv
import io
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from models import HotlineError, MetadataError
from pipeline.cli.common import err, fail, load_settings, write_output


class ReportKind(StrEnum):
    weekly = "weekly"
    monthly = "monthly"


_DATE = ["%Y-%m-%d"]


def report(
    kind: Annotated[ReportKind, typer.Argument(help="weekly: 一周热点; monthly: 月度分析报告")],
    date_from: Annotated[datetime, typer.Option("--from", formats=_DATE, help="first day, YYYY-MM-DD")],
    date_to: Annotated[datetime, typer.Option("--to", formats=_DATE, help="last day (included), YYYY-MM-DD")],
    out: Annotated[Path, typer.Option(help="HTML file to write")],
    csv_path: Annotated[
        Path | None,
        typer.Option("--csv", help="ticket history (UTF-8 CSV with a header row); default: the service's database"),
    ] = None,
    id_column: Annotated[str, typer.Option(help="CSV: ticket number")] = "工单编号",
    date_column: Annotated[
        str, typer.Option(help="CSV: ISO date, or a number starting with YYYYMMDD (Haikou's 工单编号)")
    ] = "工单编号",
    text_column: Annotated[str, typer.Option(help="CSV: the request")] = "诉求内容",
    matter_columns: Annotated[
        str, typer.Option(help="CSV: the matter taxonomy's levels, coarse first, comma-separated")
    ] = "行业分类1级,行业分类2级,行业分类3级,行业分类4级",
    department_column: Annotated[str, typer.Option(help="CSV: the handling unit ('' for none)")] = "处置单位",
    district_column: Annotated[str, typer.Option(help="CSV: district ('' reads it from the text)")] = "",
    place_column: Annotated[str, typer.Option(help="CSV: road or place ('' reads it from the text)")] = "",
    lexicon: Annotated[
        Path | None, typer.Option(help="lexicon whose places are counted (default: HOTLINE_LEXICON or the bundled)")
    ] = None,
    counts: Annotated[
        Path | None, typer.Option(help="also write the counts (period x matter x district x place) as CSV")
    ] = None,
    period_days: Annotated[int, typer.Option(min=1, max=31, help="bin width of the counts and spikes: 7 or 1")] = 7,
) -> None:
    """Write the weekly brief or monthly report over --from..--to: volume, spikes against each series' own
    baseline, top and rising matters, places with clusters, department load, example tickets (numbers masked)."""
    from extract.lexicon import load_lexicon
    from extract.places import PlaceFinder
    from pipeline.reports import (
        CsvColumns,
        CsvTicketSource,
        SpikeOptions,
        build_report,
        check_period,
        count_table,
        report_window,
    )

    start, last_day = date_from.date(), date_to.date()
    try:
        check_period(kind.value, start, last_day)
    except ValueError as error:
        raise typer.BadParameter(f"--from {start} --to {last_day}: {error}", param_hint="'--to'") from None
    end = last_day + timedelta(days=1)
    options = SpikeOptions(period_days=period_days)
    settings = load_settings()
    try:
        places = PlaceFinder(load_lexicon(lexicon or settings.lexicon))
        if csv_path is not None:
            columns = CsvColumns(
                ticket_id=id_column,
                date=date_column,
                text=text_column,
                matter=tuple(name.strip() for name in matter_columns.split(",") if name.strip()),
                department=department_column or None,
                district=district_column or None,
                place=place_column or None,
            )
            source, label = CsvTicketSource(csv_path, places, columns), csv_path.name
        else:
            source, label = _database_source(settings, places)
        data, page = build_report(source, kind.value, start, end, label, options)
        rows = (
            count_table(source.records(*report_window(start, end, options)), start, end, period_days) if counts else []
        )
    except HotlineError as error:
        fail(error)
    except (ValueError, OSError) as error:
        fail(MetadataError(str(error)))
    write_output(out, page)
    if counts is not None:
        write_output(counts, _counts_csv(rows))
    skipped = f", {data.skipped} rows without a readable date skipped" if data.skipped else ""
    err.print(f"{data.total} tickets, {len(data.spikes)} spikes{skipped} → {out}", highlight=False)


def _database_source(settings, places):
    from pipeline.service.reports import CALLS_LABEL, CallTicketSource
    from pipeline.service.wiring import open_repository

    _, repository = open_repository(settings)
    return CallTicketSource(repository.sessions, places), CALLS_LABEL


def _counts_csv(rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["period_start", "matter", "district", "place", "count"])
    writer.writerows((row.period_start.isoformat(), row.matter, row.district, row.place, row.count) for row in rows)
    return buffer.getvalue()
