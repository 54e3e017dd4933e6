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
from pipeline.service.database import TicketRecordRow, create_db_engine, make_sessions, migrate
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
    """Ticket records in the database (made at head first: a refused import may not have opened it)."""
    engine = create_db_engine(url)
    migrate(engine)
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


def test_import_of_a_huge_cell_is_refused_naming_its_row(env):
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
    assert message.endswith("(nothing imported)\n")
    assert imported(url) == 0


@pytest.mark.parametrize(
    "moment", ["0001-01-01", "9999-12-31T23:59:59-12:00", "1900-01-01"], ids=["year-1", "year-9999", "before-1970"]
)
def test_import_of_a_time_outside_the_service_s_range_is_one_line(env, moment):
    """Year 1 in Asia/Shanghai is year 0 in UTC: an OverflowError and a traceback (exit 1) before."""
    tmp_path, url = env
    history = write(tmp_path / "times.csv", ["工单编号", "诉求内容", "时间"], [["1", "市民来电反映：路灯不亮", moment]])
    result = runner.invoke(app, [*IMPORT, "--csv", str(history)])
    assert result.exit_code == 2
    assert "times.csv:2: 时间" in one_error_line(result)
    assert imported(url) == 0


def test_a_bad_row_after_a_whole_batch_imports_nothing(env):
    """Rows were committed 2000 at a time as they were read: a bad row 2002 left 2000 imported, and fixing the file
    meant reading where it stopped. The whole file is now read first."""
    tmp_path, url = env
    good = [[f"T{serial}", f"市民来电反映：第{serial}号路灯不亮", "2018-01-01"] for serial in range(2001)]
    history = write(tmp_path / "late.csv", ["工单编号", "诉求内容", "时间"], [*good, ["", "没有编号", "2018-01-02"]])
    result = runner.invoke(app, [*IMPORT, "--csv", str(history)])
    assert result.exit_code == 2
    assert "late.csv:2003: empty 工单编号 (nothing imported)" in one_error_line(result)
    assert imported(url) == 0
    fixed = write(tmp_path / "late.csv", ["工单编号", "诉求内容", "时间"], good)
    assert runner.invoke(app, [*IMPORT, "--csv", str(fixed)]).exit_code == 0
    assert imported(url) == 2001


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
