"""Bad ticket CSVs given to `hotline import tickets` and `hotline report`: a file in another encoding, a cell of
megabytes. Each ends in one line on stderr and an exit code, with no traceback and nothing imported or written
past the row that failed."""

import csv
from datetime import UTC, datetime

import pytest
from report_tickets import HEADER, rows
from sqlalchemy import func, select
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.reports.source import MAX_CELL_CHARS
from pipeline.service.database import TicketRecordRow, create_db_engine, make_sessions
from pipeline.service.ticket_records import MAX_TEXT_CHARS, TicketRecorder

runner = CliRunner()
IMPORT = ["import", "tickets", "--text-column", "诉求内容", "--id-column", "工单编号", "--time-column", "时间"]


@pytest.fixture
def env(tmp_path, monkeypatch):
    for name in ("HOTLINE_LEXICON", "HOTLINE_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite:///{tmp_path / 'csv.db'}"
    monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path, url


def imported(url: str) -> int:
    engine = create_db_engine(url)
    try:
        with make_sessions(engine)() as session:
            return session.scalar(select(func.count()).select_from(TicketRecordRow))
    finally:
        engine.dispose()


def write(path, header, body, encoding="utf-8"):
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(body)
    return path


def one_error_line(result) -> str:
    assert "Traceback" not in result.output, result.output[-2000:]
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr[-2000:]
    return result.stderr


def test_import_of_a_csv_in_another_encoding_is_one_line_and_imports_nothing(env):
    tmp_path, url = env
    history = write(
        tmp_path / "gbk.csv",
        ["工单编号", "诉求内容", "时间"],
        [["1", "市民来电反映：路灯不亮", "2018-01-01"]],
        "gb18030",
    )
    result = runner.invoke(app, [*IMPORT, "--csv", str(history)])
    assert result.exit_code == 2
    assert "not a UTF-8 CSV file" in one_error_line(result)
    assert imported(url) == 0


def test_import_of_a_huge_cell_stops_at_its_row_and_a_long_one_keeps_what_a_record_keeps(env):
    tmp_path, url = env
    body = [
        ["1", "市民来电反映：龙华区龙昆南路路灯不亮。" + "后续：" * (MAX_CELL_CHARS // 4), "2018-01-01"],
        ["2", "市" * (MAX_CELL_CHARS + 1), "2018-01-02"],
        ["3", "市民来电反映：路面破损", "2018-01-03"],
    ]
    history = write(tmp_path / "huge.csv", ["工单编号", "诉求内容", "时间"], body)
    result = runner.invoke(app, [*IMPORT, "--csv", str(history)])
    assert result.exit_code == 2
    message = one_error_line(result)
    assert "huge.csv:3:" in message and "field larger than field limit" in message
    assert imported(url) <= 1, "nothing from the huge row on (the rows before it: as far as their batch went)"


def test_an_imported_record_reads_its_place_from_the_text_it_keeps():
    """The place finder once ran over the whole cell (a 50 MB cell: minutes); now over the 4000 characters kept, so
    a place named only past them is not the record's."""
    long = "市民来电反映：路灯不亮。" + "无关" * MAX_TEXT_CHARS + "美兰区海甸岛"
    record = TicketRecorder(b"secret").for_import("L1", datetime(2018, 1, 1, tzinfo=UTC), long)
    assert len(record.text) == MAX_TEXT_CHARS
    assert (record.district, record.place) == ("", "")


def test_report_of_a_csv_with_a_huge_cell_is_one_line_and_writes_nothing(env):
    tmp_path, _ = env
    body = rows()
    body[3] = [*body[3][:5], "市" * (MAX_CELL_CHARS + 1), *body[3][6:]]
    history = write(tmp_path / "tickets.csv", HEADER, body)
    out = tmp_path / "weekly.html"
    args = ["report", "weekly", "--from", "2018-05-14", "--to", "2018-05-20", "--csv", str(history), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 3, result.output[-2000:]
    assert "tickets.csv:5: cannot read the CSV" in one_error_line(result)
    assert not out.exists()
