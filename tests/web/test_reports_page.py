"""The reports page (/ui/reports.html) and /v1/reports in a real browser against a real uvicorn server: behind
the login, for QA and administrators only; a report made on demand from the calls' tickets, shown in a frame
under its own strict policy, with an export link; the stored reports listed, the latest first."""

import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from browser_pages import VIEWPORT, browser, expect, page  # noqa: F401  (fixtures: the browser, a fresh tab)
from report_calls import finish_call
from service_builders import auth, in_process_services, make_settings, new_key, serving

from api.main import create_app
from pipeline.service.reports import ReportStore, last_week

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEK = datetime(2018, 5, 14, tzinfo=SHANGHAI)  # a Monday
PHONE = "13912345678"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real uvicorn serving the app on SQLite, with nine weeks of calls' tickets: one water ticket a week, then
    seven in the last week (one quoting a phone number)."""
    tmp_path = tmp_path_factory.mktemp("reports-web")
    services = in_process_services(make_settings(tmp_path, f"sqlite:///{tmp_path / 'web.db'}"), None)
    keys = {role: new_key(services, role, f"{role}-reports") for role in ("qa", "admin", "telephony")}
    keys["operator"] = new_key(services, "operator", "op-reports", agent_id="A1024")
    for week in range(8, 0, -1):
        finish_call(
            services.repository,
            f"w{week}",
            WEEK - timedelta(weeks=week, hours=-10),
            "市民来电反映：停水。",
            "供水",
            "停水",
            "龙华区龙昆南路",
            "水务局",
        )
    for n in range(7):
        summary = (
            f"市民来电反映：龙昆南路停水第{n + 1}天，电话{PHONE}。" if n == 0 else f"市民来电反映：龙昆南路停水{n}。"
        )
        finish_call(
            services.repository,
            f"s{n}",
            WEEK + timedelta(days=n, hours=9),
            summary,
            "供水",
            "停水",
            "龙华区龙昆南路",
            "水务局",
        )
    try:
        with serving(create_app(services=services), "uvicorn-reports-tests") as port:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=60) as client:
                yield {"base": base, "client": client, "keys": keys, "services": services}
    finally:
        services.queue.stop()
        services.engine.dispose()


def _log_in(tab, base: str, key: str, next_page: str = "reports.html") -> None:
    tab.goto(f"{base}/ui/index.html?next={next_page}")
    tab.get_by_label("访问密钥").fill(key)
    tab.get_by_role("button", name="登录", exact=True).click()


def test_the_reports_api_is_for_qa_and_administrators_only(server):
    client, keys = server["client"], server["keys"]
    body = {"kind": "weekly", "start": "2018-05-14", "last_day": "2018-05-20"}
    assert client.get("/v1/reports").status_code == 401
    assert client.post("/v1/reports", json=body).status_code == 401
    for role in ("operator", "telephony"):
        assert client.get("/v1/reports", headers=auth(keys[role])).status_code == 403
        assert client.post("/v1/reports", json=body, headers=auth(keys[role])).status_code == 403

    made = client.post("/v1/reports", json=body, headers=auth(keys["qa"]))
    assert made.status_code == 201, made.text
    report = made.json()
    assert report["name"] == "weekly-2018-05-14-2018-05-20.html" and report["url"] == f"/v1/reports/{report['name']}"
    assert client.get(report["url"]).status_code == 401, "the report itself is behind the login too"
    assert client.get(report["url"], headers=auth(keys["operator"])).status_code == 403

    served = client.get(report["url"], headers=auth(keys["admin"]))
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/html")
    policy = served.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "img-src data:" in policy and "frame-ancestors 'self'" in policy
    assert "script-src" not in policy and "'unsafe-inline'" not in policy
    assert served.headers["x-frame-options"] == "SAMEORIGIN"
    assert "content-disposition" not in served.headers
    assert "一周热点" in served.text and "龙昆南路" in served.text
    assert PHONE not in served.text and "139****5678" in served.text
    download = client.get(report["url"], params={"download": 1}, headers=auth(keys["qa"]))
    assert download.headers["content-disposition"].startswith("attachment")

    for bad, status in (("weekly-2018-05-21-2018-05-27.html", 404), ("..%2Fweb.db", 404), ("x" * 65, 422)):
        assert client.get(f"/v1/reports/{bad}", headers=auth(keys["qa"])).status_code == status, bad
    wrong = client.post("/v1/reports", json={**body, "last_day": "2018-05-01"}, headers=auth(keys["qa"]))
    assert wrong.status_code == 422 and wrong.json()["error"] == {
        "code": "invalid_period",
        "message": "the period ends before it starts",
    }
    far = client.post(
        "/v1/reports", json={**body, "start": "0001-01-01", "last_day": "0001-01-07"}, headers=auth(keys["qa"])
    )
    assert far.status_code == 422, "no year the database's times cannot hold"
    assert client.post("/v1/reports", json={**body, "kind": "daily"}, headers=auth(keys["qa"])).status_code == 422

    # the API's own housekeeping made last week's brief when it started (from no calls: an empty week)
    brief = ReportStore.name("weekly", *last_week(datetime.now(SHANGHAI).date()))
    deadline = time.monotonic() + 20
    while brief not in (names := [item["name"] for item in client.get("/v1/reports", headers=auth(keys["qa"])).json()]):
        assert time.monotonic() < deadline, names
        time.sleep(0.2)
    assert names == [brief, report["name"]], "the latest period first"


def test_the_page_needs_a_login_and_an_operator_is_sent_to_their_own_page(server, page):
    base = server["base"]
    page.goto(f"{base}/ui/reports.html")
    expect(page).to_have_url(re.compile(r"/ui/index\.html\?next=reports\.html$"))
    _log_in(page, base, server["keys"]["operator"])
    expect(page).to_have_url(re.compile(r"/ui/operator\.html"))
    page.goto(f"{base}/ui/reports.html")
    expect(page).to_have_url(re.compile(r"/ui/operator\.html"))


def test_qa_makes_a_report_sees_it_and_can_export_it(server, page):
    base = server["base"]
    _log_in(page, base, server["keys"]["qa"])
    expect(page).to_have_url(re.compile(r"/ui/reports\.html$"))
    expect(page.get_by_role("navigation", name="页面").get_by_role("link", name="热点报告")).to_have_attribute(
        "aria-current", "page"
    )
    page.get_by_label("报告类型").select_option("monthly")
    page.get_by_label("起始日期").fill("2018-05-01")
    page.get_by_label("截止日期（含当天）").fill("2018-05-31")
    page.get_by_role("button", name="生成报告").click()
    expect(page.locator("#make-message")).to_contain_text("已生成：月度分析报告 2018-05-01 至 2018-05-31")

    made = page.locator('#reports-body tr[data-name="monthly-2018-05-01-2018-05-31.html"]')
    expect(made).to_have_attribute("aria-current", "true")
    expect(page.locator('#reports-body tr[aria-current="true"]')).to_have_count(1)
    frame = page.frame_locator("#report-frame")
    expect(frame.get_by_role("heading", name="月度分析报告")).to_be_visible()
    expect(frame.get_by_role("heading", name="热点（异常升高）")).to_be_visible()
    charts = frame.locator("img.chart")
    expect(charts.first).to_be_visible()
    assert charts.count() >= 4
    assert all(frame.locator("img.chart").nth(i).evaluate("img => img.naturalWidth > 0") for i in range(charts.count()))
    expect(frame.get_by_text("139****5678", exact=False).first).to_be_visible()

    export = page.locator("#view-meta").get_by_role("link", name="导出 HTML")
    expect(export).to_have_attribute("href", "/v1/reports/monthly-2018-05-01-2018-05-31.html?download=1")
    with page.expect_download() as download_info:
        export.click()
    saved = Path(download_info.value.path()).read_text(encoding="utf-8")
    assert "月度分析报告" in saved and PHONE not in saved
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORT["width"], f"the page is {width} px wide"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "reports.png"))


def test_an_administrator_finds_the_page_from_the_login(server, page):
    base = server["base"]
    page.goto(f"{base}/ui/")
    page.get_by_label("访问密钥").fill(server["keys"]["admin"])
    page.get_by_role("button", name="登录", exact=True).click()
    page.locator("#choose-page").get_by_role("link", name="热点报告").click()
    expect(page).to_have_url(re.compile(r"/ui/reports\.html$"))
    expect(page.locator("#reports-body tr")).not_to_have_count(0)
