"""Links (并单) across teams: an operator decides only about tickets it may read. The answer to a link holds the
other ticket's text and unit, so linking a call of one's own to any ticket id read the ticket of any call (and told
which ids exist). SQLite, a queue that runs nothing, no models."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from service_builders import auth, finish_call_with_ticket, make_settings, new_key, quiet_services
from sqlalchemy import func, select

from api.main import create_app
from pipeline.service.database import TicketLink
from pipeline.service.ticket_records import TicketRecorder

RECORDER = TicketRecorder(b"link-scope-secret")
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SECRET_TEXT = "市民来电反映：邻居家暴，住在美兰区海甸岛某小区，电话13912345678，请派人处理。"
ROAD_TEXT = "市民来电反映：秀英区长滨路路灯不亮，行人过马路很危险。"


@pytest.fixture
def teams(tmp_path):
    """Team T1's call (one caller), team T2's call (another caller, another matter), an imported ticket of T2's caller,
    an unrelated imported ticket, and T2's own earlier call on a third matter."""
    services = quiet_services(make_settings(tmp_path, f"sqlite:///{tmp_path / 'links.db'}"))
    pbx = services.keys.create("telephony", "pbx", webhook_url="https://hooks.example.com/hotline")[0].id
    keys = {
        "t1": new_key(services, "operator", "op-t1", agent_id="A1024", team="T1"),
        "t2": new_key(services, "operator", "op-t2", agent_id="B2000", team="T2"),
        "admin": new_key(services, "admin", "admin-links"),
    }
    earlier = NOW - timedelta(days=2)
    finish_call_with_ticket(services, RECORDER, "t1-call", pbx, SECRET_TEXT, "美兰区海甸岛", "公安局", earlier)
    finish_call_with_ticket(
        services,
        RECORDER,
        "t2-old",
        pbx,
        "市民来电反映：龙华区某餐馆油烟扰民。",
        "龙华区",
        "生态环境局",
        earlier,
        number="13700002222",
        agent_id="B2000",
    )
    finish_call_with_ticket(
        services,
        RECORDER,
        "t2-call",
        pbx,
        ROAD_TEXT,
        "秀英区长滨路",
        "供电局",
        NOW,
        number="13600001111",
        agent_id="B2000",
    )
    services.repository.add_records(
        [
            RECORDER.for_import(
                "H-same-caller", earlier, "市民来电反映：长滨路有井盖缺失。", caller_number="13600001111"
            ),
            RECORDER.for_import("H-other", earlier, "市民来电反映：某单位拖欠工资，电话13512345678。"),
        ]
    )
    with TestClient(create_app(services=services)) as client:
        yield client, services, keys
    services.engine.dispose()


def links_of(services) -> int:
    with services.repository.sessions() as session:
        return session.scalar(select(func.count()).select_from(TicketLink))


def test_an_operator_cannot_link_to_a_ticket_it_may_not_read(teams):
    client, services, keys = teams
    t2 = auth(keys["t2"])
    assert client.get("/v1/calls/t1-call", headers=t2).status_code == 404
    unknown = client.post("/v1/calls/t2-call/links", headers=t2, json={"ticket_id": "no-such", "action": "dismiss"})
    for ticket_id in ("t1-call", "H-other"):
        for action in ("dismiss", "link"):
            answer = client.post("/v1/calls/t2-call/links", headers=t2, json={"ticket_id": ticket_id, "action": action})
            assert answer.status_code == 404, (ticket_id, action, answer.text)
            # the same answer as for no ticket at all: another team's call cannot be told apart from none
            assert answer.json()["error"]["code"] == unknown.json()["error"]["code"] == "not_found"
            assert "邻居" not in answer.text and "拖欠" not in answer.text
    assert links_of(services) == 0
    assert client.get("/v1/calls/t2-call/links", headers=t2).json() == []


def test_an_operator_still_links_what_related_lists_its_own_calls_and_what_it_decided_before(teams):
    client, _, keys = teams
    t2 = auth(keys["t2"])
    listed = {item["ticket_id"] for item in client.get("/v1/calls/t2-call/related", headers=t2).json()}
    assert "H-same-caller" in listed and "t1-call" not in listed
    for ticket_id in ("H-same-caller", "t2-old"):  # listed as related; a call of its own team (not related)
        answer = client.post("/v1/calls/t2-call/links", headers=t2, json={"ticket_id": ticket_id, "action": "link"})
        assert answer.status_code == 200, (ticket_id, answer.text)
    # an admin reads every call: it may link any ticket; the operator may then change that decision
    admin = auth(keys["admin"])
    assert (
        client.post(
            "/v1/calls/t2-call/links", headers=admin, json={"ticket_id": "H-other", "action": "link"}
        ).status_code
        == 200
    )
    again = client.post("/v1/calls/t2-call/links", headers=t2, json={"ticket_id": "H-other", "action": "dismiss"})
    assert again.status_code == 200, again.text
    assert {(link["ticket_id"], link["action"]) for link in again.json()} == {
        ("H-same-caller", "link"),
        ("t2-old", "link"),
        ("H-other", "dismiss"),
    }
    assert "13512345678" not in again.text, "numbers in a linked ticket's text are masked"
