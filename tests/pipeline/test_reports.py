"""Hot spots and the report page from a small ticket history the test writes (tests/report_tickets.py): counts,
the planted spike found and nothing else flagged, the sparse-series guards, numbers masked in the examples."""

import re
from datetime import date, datetime, timedelta

import pytest
from report_tickets import ID_NUMBER, NOISE, PHONE, REPORT_WEEK, SPIKE_COUNT, WATER, lexicon, write_tickets

from extract.places import PlaceFinder
from models import MetadataError
from models.ticket_record import TicketRecord
from pipeline.reports import CsvColumns, CsvTicketSource, SeriesKey, SpikeOptions, analyse, build_report, count_table
from pipeline.reports.analysis import tail_probability
from pipeline.reports.source import parse_ticket_date

WATER_MATTER = "/".join(WATER[:2])
NOISE_MATTER = "/".join(NOISE[:2])
WEEK_END = REPORT_WEEK + timedelta(days=7)


@pytest.fixture
def source(tmp_path):
    return CsvTicketSource(write_tickets(tmp_path / "tickets.csv"), PlaceFinder(lexicon()))


def test_the_csv_source_reads_dates_matters_places_and_units(source):
    records = list(source.records(datetime(2018, 1, 1), datetime(2019, 1, 1)))
    assert len(records) == 8 * 5 + SPIKE_COUNT + 3
    assert source.skipped == 1, "the row whose date cannot be read"
    first = records[0]
    assert first.created_at == datetime(2018, 3, 19) and first.ticket_id == "20180319000001"
    assert (first.matter, first.district, first.place, first.department) == (
        "城乡建设/供水/停水",
        "龙华区",
        "龙昆南路",
        "水务局",
    )
    assert first.source == "import" and first.caller_key == ""
    noise = next(record for record in records if record.matter.startswith("环境保护"))
    assert (noise.district, noise.place) == ("美兰区", "金盘花园")


def test_the_weekly_counts_and_the_planted_spike(source):
    data, page = build_report(source, "weekly", REPORT_WEEK, WEEK_END, "tickets.csv")
    assert data.total == SPIKE_COUNT + 3 and data.previous_total == 5
    assert [count for _, count in data.daily] == [3, 2, 2, 1, 1, 1, 1]
    assert {series.key.matter: series.count for series in data.matters} == {WATER_MATTER: 8, NOISE_MATTER: 3}
    assert data.departments == [("水务局", 8, 1), ("生态环境局", 3, 3)]
    assert data.bin_totals == [5] * 8 + [11]

    flagged = {spike.key for spike in data.spikes}
    assert flagged == {
        SeriesKey(matter=WATER_MATTER),
        SeriesKey(matter=WATER_MATTER, district="龙华区"),
        SeriesKey(matter=WATER_MATTER, place="龙昆南路"),
        SeriesKey(place="龙昆南路"),
    }, "the water series jump from 1 a week to 8; the noise series keep their 3 a week"
    water = next(spike for spike in data.spikes if spike.key == SeriesKey(matter=WATER_MATTER))
    assert (water.count, water.expected, water.period_start) == (8, 1.0, REPORT_WEEK)
    assert water.p_value == pytest.approx(tail_probability(8, 1.0, 0.0)) and water.p_value < 1e-4
    assert water.history == (1,) * 8 + (8,)

    examples = [example.text for spike in data.spikes for example in spike.examples]
    assert examples and all(PHONE not in text and ID_NUMBER not in text for text in examples)
    assert any("138****5678" in text and "460100********1234" in text for text in examples)
    assert PHONE not in page and ID_NUMBER not in page
    assert "138****5678" in page
    assert "一周热点" in page and "龙昆南路" in page and "水务局" in page
    assert len(re.findall(r'<img class="chart" alt="[^"]+" src="data:image/svg\+xml;base64,', page)) >= 4
    assert "<script" not in page and "http://" not in page and "https://" not in page.replace("https://www.w3.org", "")


def test_counts_by_week_matter_district_and_place(source):
    records = list(source.records(datetime(2018, 5, 7), datetime(2018, 5, 21)))
    rows = count_table(records, date(2018, 5, 7), date(2018, 5, 21))
    as_tuples = {(r.period_start, r.matter, r.district, r.place): r.count for r in rows}
    assert as_tuples[date(2018, 5, 14), WATER_MATTER, "龙华区", "龙昆南路"] == SPIKE_COUNT
    assert as_tuples[date(2018, 5, 7), WATER_MATTER, "龙华区", "龙昆南路"] == 1
    assert as_tuples[date(2018, 5, 14), NOISE_MATTER, "美兰区", "金盘花园"] == 3
    daily = count_table(records, date(2018, 5, 14), date(2018, 5, 21), period_days=1)
    assert sum(row.count for row in daily) == SPIKE_COUNT + 3
    assert {row.period_start for row in daily} == {REPORT_WEEK + timedelta(days=n) for n in range(7)}


def _records(counts_per_week: list[int], matter: str = "A/B") -> list[TicketRecord]:
    start = REPORT_WEEK - timedelta(weeks=len(counts_per_week) - 1)
    return [
        TicketRecord(
            f"t{week}-{n}",
            "import",
            datetime.combine(start + timedelta(weeks=week), datetime.min.time()),
            "文本",
            matter,
            "",
            "",
            "",
            "",
        )
        for week, count in enumerate(counts_per_week)
        for n in range(count)
    ]


def test_a_silent_series_needs_more_than_a_few_tickets_to_spike():
    options = SpikeOptions()
    # a steady other series keeps the source's history covered
    other = _records([2] * 9, "C/D")
    for count, flagged in ((2, False), (3, False), (4, False), (5, True)):
        data = analyse([*other, *_records([0] * 8 + [count])], "weekly", REPORT_WEEK, WEEK_END, options)
        assert bool([s for s in data.spikes if s.key.matter == "A/B"]) is flagged, count


def test_a_series_that_always_swings_is_judged_by_its_own_variance():
    swinging = [0, 6, 0, 7, 1, 6, 0, 7]
    steady = [3, 4, 3, 4, 3, 4, 3, 4]
    swing_data = analyse(_records([*swinging, 12]), "weekly", REPORT_WEEK, WEEK_END)
    steady_data = analyse(_records([*steady, 12]), "weekly", REPORT_WEEK, WEEK_END)
    assert steady_data.spikes and not swing_data.spikes, (
        "about the same mean (3.4, 3.5), but 12 is ordinary for the swinging one"
    )
    assert tail_probability(12, 3.4, 10.0) > 10 * tail_probability(12, 3.4, None)


def test_no_spike_before_the_source_covers_enough_history():
    data = analyse(_records([1, 1, 1, 9]), "weekly", REPORT_WEEK, WEEK_END)
    assert data.spikes == [] and data.matters[0].p_value is None, "three weeks of history: below min_history"
    data = analyse(_records([1, 1, 1, 1, 9]), "weekly", REPORT_WEEK, WEEK_END)
    assert [spike.count for spike in data.spikes] == [9]


def test_a_monthly_report_tests_the_calendar_weeks_that_overlap_the_month(source):
    data, page = build_report(source, "monthly", date(2018, 5, 1), date(2018, 6, 1), "tickets.csv")
    assert "月度分析报告" in page
    # in May: 4 tickets of the week of April 30, the 5 of the week of May 7, and the report week's 11
    assert data.total == 4 + 5 + SPIKE_COUNT + 3
    assert data.daily[0] == (date(2018, 5, 1), 0) and len(data.daily) == 31
    assert [day.isoformat() for day in data.bins[data.first_report_bin :]] == [
        "2018-04-30",
        "2018-05-07",
        "2018-05-14",
        "2018-05-21",
        "2018-05-28",
    ]
    assert data.bin_totals[data.first_report_bin :] == [5, 5, 11, 0, 0], "the first week counted whole"
    water = [spike for spike in data.spikes if spike.key == SeriesKey(matter=WATER_MATTER)]
    assert [(spike.period_start, spike.count) for spike in water] == [(REPORT_WEEK, SPIKE_COUNT)]


def test_the_csv_source_names_its_missing_columns(tmp_path):
    path = write_tickets(tmp_path / "tickets.csv")
    with pytest.raises(MetadataError, match="no column '诉求'"):
        CsvTicketSource(path, PlaceFinder(lexicon()), CsvColumns(text="诉求"))
    short = write_tickets(tmp_path / "short.csv", ["工单编号", "诉求内容"])
    with pytest.raises(MetadataError, match="行业分类1级"):
        CsvTicketSource(short, PlaceFinder(lexicon()))


def test_ticket_dates_are_iso_or_start_with_the_date():
    assert parse_ticket_date("20180107184928") == datetime(2018, 1, 7)
    assert parse_ticket_date("2018-01-07 09:30") == datetime(2018, 1, 7, 9, 30)
    with pytest.raises(ValueError):
        parse_ticket_date("2018年1月7日")


def test_bad_periods_and_kinds_are_refused(source):
    records = list(source.records(datetime(2018, 1, 1), datetime(2019, 1, 1)))
    with pytest.raises(ValueError, match="ends before"):
        analyse(records, "weekly", WEEK_END, REPORT_WEEK)
    with pytest.raises(ValueError, match="unknown report kind"):
        analyse(records, "daily", REPORT_WEEK, WEEK_END)


def test_the_previous_period_is_counted_whole_whatever_the_bins(source):
    records = list(source.records(datetime(2018, 1, 1), datetime(2019, 1, 1)))
    for period_days in (7, 1):
        data = analyse(records, "monthly", date(2018, 5, 1), date(2018, 6, 1), SpikeOptions(period_days=period_days))
        # 31 days before May: the road ticket of Saturday 31 March, four whole weeks of April, Monday 30 April's
        assert data.previous_total == 1 + 4 * 5 + 1, period_days


def test_labels_are_text_in_the_charts_and_escaped_in_the_page():
    tricky = "A$\\frac$/<script>alert(1)</script>"  # "$…$" would be math to matplotlib, \\frac an error
    records = [
        TicketRecord(f"t{n}", "import", datetime(2018, 5, 14 + n % 3), "文本 <b>", tricky, "", "$5$路", "单位 $x$", "")
        for n in range(4)
    ]
    data, page = build_report(_ListSource(records), "weekly", REPORT_WEEK, WEEK_END, "<i>source</i>")
    assert data.total == 4
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;i&gt;source&lt;/i&gt;" in page


class _ListSource:
    def __init__(self, records):
        self._records = records

    def records(self, start, end):
        return (record for record in self._records if start <= record.created_at < end)
