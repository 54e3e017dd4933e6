"""The 相关工单 box of the operator page and the 并单记录 of the QA page in a real browser (Debian's Chromium driven
by Playwright) against a real uvicorn server: the operator sees the earlier tickets a call repeats with their
reasons, links one (并单) and dismisses another (忽略) from the keyboard, and takes a link back; what the page did is
read back through the API; QA sees the links of both calls. No models run: the calls' tickets are given."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from browser_pages import browser, expect, page  # noqa: F401  (fixtures: the browser, a fresh tab)
from service_builders import (
    auth,
    database_url,
    finish_call_with_ticket,
    make_settings,
    new_key,
    quiet_services,
    serving,
)
from test_pages import _log_in, _no_horizontal_scrollbar, _screenshot

from api.main import create_app
from pipeline.service.ticket_records import TicketRecorder

pytestmark = pytest.mark.slow

NOW = datetime(2031, 3, 10, 1, 0, tzinfo=UTC)
RECORDER = TicketRecorder(b"web-related-secret")
FIRST = "市民来电反映：龙华区龙昆南路88号路口的路灯连续三个晚上不亮，行人过马路很危险。"
AGAIN = "市民来电反映：龙昆南路88号路口路灯晚上一直不亮，过马路很危险，希望尽快修好。"
OTHER = "市民来电反映：龙昆南路88号路口的路灯晚上不亮，已经好几天了。"
# other matters elsewhere, so that common words weigh little
FILLER = [
    f"市民来电{kind}：{place}{matter}，请相关部门处理。"
    for kind in ("反映", "咨询")
    for place in ("海秀东路", "国兴大道", "金盘花园", "滨海大道")
    for matter in ("公交车不按站停车", "小区停水两天", "餐馆油烟扰民", "共享单车乱停放")
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("web-related")
    with database_url("sqlite", tmp_path) as url:
        services = quiet_services(make_settings(tmp_path, url))
        keys = {
            "operator": new_key(services, "operator", "op-web", agent_id="A1024"),
            "qa": new_key(services, "qa", "qa-web"),
        }
        services.repository.add_records(
            [RECORDER.for_import("20310308000017", NOW - timedelta(days=2), OTHER, department="供电局")]
            + [
                RECORDER.for_import(f"2031030100{index:04d}", NOW - timedelta(days=1, hours=index), text)
                for index, text in enumerate(FILLER)
            ]
        )
        finish_call_with_ticket(
            services, RECORDER, "r-first", None, FIRST, "龙华区龙昆南路88号", "市政市容委", NOW - timedelta(days=3)
        )
        finish_call_with_ticket(services, RECORDER, "r-again", None, AGAIN, "龙昆南路88号路口", "交警支队", NOW)
        try:
            with serving(create_app(services=services), "uvicorn-related-tests") as port:
                base = f"http://127.0.0.1:{port}"
                with httpx.Client(base_url=base, timeout=30) as client:
                    yield {"base": base, "client": client, "keys": keys}
        finally:
            services.engine.dispose()


def test_the_operator_links_and_dismisses_related_tickets_from_the_keyboard(server, page):
    base, client, key = server["base"], server["client"], server["keys"]["operator"]
    _log_in(page, base, key)
    page.wait_for_url("**/operator.html*")
    page.goto(f"{base}/ui/operator.html#call=r-again")
    page.reload()
    box = page.locator("#related")
    expect(box).to_be_visible()
    items = box.locator(".related-list li")
    expect(items).to_have_count(2)
    first = box.locator('li[data-ticket="r-first"]')
    expect(first.locator(".related-reasons")).to_contain_text("同一来电号码，3天前，同一地点（龙昆南路），同一事项")
    _screenshot(page, "operator-related.png")
    _no_horizontal_scrollbar(page)

    # 并单 with the keyboard: the button takes focus like any other and Enter presses it
    link = page.get_by_role("button", name="并单：工单 r-first")
    link.focus()
    expect(link).to_be_focused()
    page.keyboard.press("Enter")
    expect(first).to_have_attribute("data-decision", "link")
    expect(first.locator(".related-head")).to_contain_text("已并单")
    # one matter, one dispatch: the ticket now goes to the earlier ticket's unit, and the trail says who linked it
    expect(page.locator("#ticket-state")).to_contain_text("当前承办：市政市容委")
    expect(page.locator("#trail")).to_contain_text("op-web · 并单")
    ticket = client.get("/v1/calls/r-again/ticket", headers=auth(key)).json()
    assert ticket["department"] == "市政市容委"

    other = box.locator('li[data-ticket="20310308000017"]')
    dismiss = page.get_by_role("button", name="忽略：工单 20310308000017")
    dismiss.focus()
    page.keyboard.press("Space")
    expect(other).to_have_attribute("data-decision", "dismiss")
    links = client.get("/v1/calls/r-again/links", headers=auth(key)).json()
    assert {(item["ticket_id"], item["action"]) for item in links} == {
        ("r-first", "link"),
        ("20310308000017", "dismiss"),
    }

    page.get_by_role("button", name="取消忽略：工单 20310308000017").click()
    expect(other).to_have_attribute("data-decision", "")
    assert [item["ticket_id"] for item in client.get("/v1/calls/r-again/links", headers=auth(key)).json()] == [
        "r-first"
    ]


def test_qa_sees_the_links_of_both_calls(server, page):
    base, client = server["base"], server["client"]
    operator = auth(server["keys"]["operator"])
    if not any(
        item["ticket_id"] == "r-first" for item in client.get("/v1/calls/r-again/links", headers=operator).json()
    ):
        response = client.post(
            "/v1/calls/r-again/links",
            headers={**operator, "X-Hotline-UI": "1"},
            json={"ticket_id": "r-first", "action": "link"},
        )
        assert response.status_code == 200, response.text
    _log_in(page, base, server["keys"]["qa"])
    page.wait_for_url("**/qa.html*")
    page.goto(f"{base}/ui/qa.html#call=r-again")
    page.reload()
    expect(page.locator("#links-box")).to_be_visible()
    expect(page.locator("#links")).to_contain_text("并入工单 r-first（市政市容委）")
    expect(page.locator("#links")).to_contain_text("op-web")
    page.goto(f"{base}/ui/qa.html#call=r-first")
    page.reload()
    expect(page.locator("#links")).to_contain_text("来电 r-again 并入本工单")
    page.locator("#links-box").scroll_into_view_if_needed()  # below the transcript: the shot shows the links
    _screenshot(page, "qa-links.png")
