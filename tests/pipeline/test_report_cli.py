"""`hotline report weekly|monthly`: the HTML and the counts from a ticket CSV the test writes, and the exit codes
on bad dates (2), a period that ends before it starts (2) and missing columns (3, one line)."""

import csv
import re

import pytest
from report_tickets import ID_NUMBER, PHONE, SPIKE_COUNT, write_tickets
from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path, monkeypatch):
    for name in ("HOTLINE_LEXICON", "HOTLINE_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def _lexicon(tmp_path):
    path = tmp_path / "lexicon.tsv"
    path.write_text(
        "# hotline-lexicon 1\n# version: test\n# city: 海南省 海口市\nterm\tkind\tweight\n"
        "龙华区\tdistrict\t1.0\n美兰区\tdistrict\t1.0\n龙昆南路\troad\t0.9\n金盘花园\tcommunity\t0.9\n",
        encoding="utf-8",
    )
    return path


def test_the_weekly_brief_and_its_counts_from_a_csv(env):
    tickets, out, counts = write_tickets(env / "tickets.csv"), env / "out" / "weekly.html", env / "counts.csv"
    args = ["report", "weekly", "--from", "2018-05-14", "--to", "2018-05-20", "--csv", str(tickets)]
    result = runner.invoke(app, [*args, "--lexicon", str(_lexicon(env)), "--out", str(out), "--counts", str(counts)])
    assert result.exit_code == 0, result.output
    assert f"{SPIKE_COUNT + 3} tickets, 4 spikes, 1 rows without a readable date skipped" in result.stderr
    page = out.read_text(encoding="utf-8")
    assert "一周热点" in page and "2018年5月14日" in page and "龙昆南路" in page
    assert PHONE not in page and ID_NUMBER not in page
    with counts.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {
        "period_start": "2018-05-14",
        "matter": "城乡建设/供水",
        "district": "龙华区",
        "place": "龙昆南路",
        "count": str(SPIKE_COUNT),
    } in rows
    assert sum(int(row["count"]) for row in rows) == SPIKE_COUNT + 3


def test_a_monthly_report_from_the_same_file(env):
    out = env / "monthly.html"
    args = [
        "report",
        "monthly",
        "--from",
        "2018-05-01",
        "--to",
        "2018-05-31",
        "--csv",
        str(write_tickets(env / "t.csv")),
    ]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "月度分析报告" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        (["--from", "2018-05-34", "--to", "2018-05-20"], "'--from'"),
        (["--from", "14/05/2018", "--to", "2018-05-20"], "'--from'"),
        (["--from", "2018-05-21", "--to", "2018-05-20"], "the period ends before it starts"),
        (["--from", "2017-01-01", "--to", "2018-05-20"], "at most 366 days"),
        (["--from", "0001-01-01", "--to", "0001-01-07"], "from 1971-01-01 to 2099-12-31"),
    ],
)
def test_bad_dates_are_a_usage_error(env, dates, message):
    out = env / "weekly.html"
    result = runner.invoke(
        app, ["report", "weekly", *dates, "--csv", str(write_tickets(env / "t.csv")), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert message.replace(" ", "") in re.sub(r"[\s│]", "", result.output)  # rich's box wraps the line
    assert not out.exists()


def test_missing_columns_are_bad_input_in_one_line(env):
    out = env / "weekly.html"
    base = ["report", "weekly", "--from", "2018-05-14", "--to", "2018-05-20", "--out", str(out)]
    result = runner.invoke(app, [*base, "--csv", str(write_tickets(env / "t.csv")), "--text-column", "诉求"])
    assert result.exit_code == 3
    assert result.stderr == "error: t.csv: no column '诉求'\n"
    short = write_tickets(env / "short.csv", ["工单编号", "诉求内容"])
    result = runner.invoke(app, [*base, "--csv", str(short)])
    assert result.exit_code == 3 and "'行业分类1级'" in result.stderr
    result = runner.invoke(app, [*base, "--csv", str(env / "missing.csv")])
    assert result.exit_code == 3 and result.stderr.startswith("error: missing.csv: cannot read")
    assert not out.exists()
