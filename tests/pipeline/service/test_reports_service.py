"""Reports in the service: the calls' tickets read as ticket records (local dates, places by the lexicon), the
report files kept under the data directory, last week's brief made once by housekeeping."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from report_calls import finish_call
from report_tickets import lexicon
from service_builders import make_settings

from extract.places import PlaceFinder
from pipeline.service.housekeeping import Housekeeping
from pipeline.service.reports import CallTicketSource, Reports, ReportStore, last_week
from pipeline.service.wiring import open_repository

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def repository(tmp_path):
    engine, repository = open_repository(make_settings(tmp_path, f"sqlite:///{tmp_path / 'reports.db'}"))
    yield repository
    engine.dispose()


def _local(*parts) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)


def test_the_calls_tickets_as_records_dated_by_local_start(repository):
    # 00:30 in Haikou on May 14 is May 13 in UTC: the report counts it on the 14th
    finish_call(
        repository,
        "c-1",
        _local(2018, 5, 14, 0, 30),
        "市民来电反映：龙昆南路停水。",
        "供水",
        "停水",
        "龙华区龙昆南路88号",
        "水务局",
    )
    finish_call(
        repository,
        "c-2",
        _local(2018, 5, 13, 23, 50),
        "市民来电反映：金盘花园噪音。",
        "噪音",
        None,
        "金盘花园",
        "生态环境局",
        district="美兰区",
    )
    finish_call(repository, "c-3", _local(2018, 5, 21, 8, 0), "下一周的工单", "供水", None, "", "水务局")
    source = CallTicketSource(repository.sessions, PlaceFinder(lexicon()))

    records = list(source.records(datetime(2018, 5, 14), datetime(2018, 5, 21)))
    assert [record.ticket_id for record in records] == ["c-1"]
    [record] = records
    assert record.created_at == datetime(2018, 5, 14, 0, 30)
    assert (record.source, record.text, record.matter) == ("call", "市民来电反映：龙昆南路停水。", "供水/停水")
    assert (record.district, record.place, record.department) == ("龙华区", "龙昆南路", "水务局")
    assert record.caller_key == "", "the caller's number is not a report's business"

    earlier = list(source.records(datetime(2018, 5, 13), datetime(2018, 5, 14)))
    assert [(r.ticket_id, r.matter, r.district, r.place) for r in earlier] == [("c-2", "噪音", "美兰区", "金盘花园")]


def test_a_report_is_stored_listed_and_found_only_by_its_name(repository, tmp_path):
    for day in (14, 15, 16, 17):
        for n in range(3):
            finish_call(
                repository,
                f"c-{day}-{n}",
                _local(2018, 5, day, 10, n),
                f"市民来电反映：停水{n}。",
                "供水",
                None,
                "龙昆南路",
                "水务局",
            )
    store = ReportStore(tmp_path / "data" / "reports")
    reports = Reports(CallTicketSource(repository.sessions, PlaceFinder(lexicon())), store)
    assert store.list() == []

    made = reports.generate("weekly", date(2018, 5, 14), date(2018, 5, 20))
    assert made.name == "weekly-2018-05-14-2018-05-20.html"
    page = store.path(made.name).read_text(encoding="utf-8")
    assert "一周热点" in page and "龙昆南路" in page and "13800007731" not in page
    assert "<b>12</b>" in page, "the twelve tickets of the week"
    monthly = reports.generate("monthly", date(2018, 5, 1), date(2018, 5, 31))
    assert [report.name for report in store.list()] == [monthly.name, made.name]

    for bad in ("../reports.db", "weekly-2018-05-14-2018-05-20.htm", "x.html", "weekly-2018-05-14-2018-05-27.html"):
        assert store.path(bad) is None
    with pytest.raises(ValueError, match="ends before"):
        reports.generate("weekly", date(2018, 5, 20), date(2018, 5, 14))
    with pytest.raises(ValueError, match="unknown report kind"):
        reports.generate("daily", date(2018, 5, 14), date(2018, 5, 20))


def test_housekeeping_makes_last_week_s_brief_once(repository, tmp_path):
    assert last_week(date(2018, 5, 21)) == (date(2018, 5, 14), date(2018, 5, 20))  # a Monday
    assert last_week(date(2018, 5, 27)) == (date(2018, 5, 14), date(2018, 5, 20))  # a Sunday: that week is not over
    store = ReportStore(tmp_path / "reports")
    reports = Reports(CallTicketSource(repository.sessions, PlaceFinder(lexicon())), store)
    assert reports.weekly_due(date(2018, 5, 23)).name == "weekly-2018-05-14-2018-05-20.html"
    assert reports.weekly_due(date(2018, 5, 24)) is None, "made already"

    housekeeping = Housekeeping(jobs=None, reports=reports)
    made = housekeeping.weekly_report()
    assert made is not None and made.startswith("weekly-") and store.path(made) is not None
    assert housekeeping.weekly_report() is None
    assert Housekeeping(jobs=None).weekly_report() is None, "a service without reports makes none"
