"""Related tickets on SQLite and PostgreSQL: the full-text index kept in step with the ticket records and with the
operators' corrections, search finding a planted repeat with its reasons, the import idempotent, caller keys that
never hold the number, and linking and dismissing through the HTTP API with the audit trail and the
`ticket.linked` webhook."""

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from service_builders import auth, database_url, finish_call_with_ticket, make_settings, new_key, quiet_services
from sqlalchemy import delete, select, text
from typer.testing import CliRunner

from api.main import create_app
from models import TicketField
from models.ticket_record import TicketRecord
from pipeline.cli import app
from pipeline.service.caller_keys import caller_key, normalised_number
from pipeline.service.database import TicketRecordRow, create_db_engine, make_sessions, migrate
from pipeline.service.jobs import JobOptions, Jobs
from pipeline.service.repository import CallRepository, RelatedOptions
from pipeline.service.ticket_records import TicketRecorder
from pipeline.settings import RelatedSettings

BACKENDS = ["sqlite", "postgresql"]
NOW = datetime(2031, 3, 10, 9, 0, tzinfo=UTC)
SECRET = b"related-test-secret"
RECORDER = TicketRecorder(SECRET)
CALLER = "13800007731"
# (ticket id, days before NOW, text, unit, caller)
HISTORY = [
    (
        "H1",
        3,
        "市民来电反映：龙华区龙昆南路88号路口的路灯连续三个晚上不亮，行人过马路很危险。请市政部门核实处理！",
        "市政市容委",
        CALLER,
    ),
    ("H2", 2, "市民来电反映：秀英区长滨路伊泰天骄小区门口多人占道摆摊，堵住了小区出入口。", "城市管理行政执法局", None),
    ("H3", 20, "市民来电咨询：外地户口在海口办理居住证需要哪些材料？", "公安局", "+86 138 0000 7731"),
    ("H4", 40, "市民来电反映：美兰区海甸岛人民大道的下水道堵塞，污水溢出路面。", "水务局", CALLER),
    ("H5", 1, "市民来电反映：琼山区凤翔东路的工地夜间超时施工，噪音扰民。", "城市管理行政执法局", None),
]
# unrelated tickets, so that the common words weigh little
FILLER = [
    f"市民来电{kind}：{place}{matter}，请相关部门处理。"
    for kind in ("反映", "咨询", "投诉")
    for place in ("海秀东路", "国兴大道", "金盘花园", "滨海大道", "和平南路")
    for matter in ("公交车不按站停车", "小区停水两天", "餐馆油烟扰民", "共享单车乱停放")
]
REPEAT = "市民来电反映：龙昆南路88号路口路灯晚上一直不亮，过马路很危险，希望尽快修好。"


def history_records() -> list[TicketRecord]:
    records = [
        RECORDER.for_import(tid, NOW - timedelta(days=days), body, department=unit, caller_number=number)
        for tid, days, body, unit, number in HISTORY
    ]
    records += [
        RECORDER.for_import(f"F{index}", NOW - timedelta(days=1 + index % 6, hours=index), body)
        for index, body in enumerate(FILLER)
    ]
    return records


@pytest.fixture(params=BACKENDS)
def repository(request, tmp_path):
    with database_url(request.param, tmp_path) as url:
        engine = create_db_engine(url)
        migrate(engine)
        yield CallRepository(make_sessions(engine))
        engine.dispose()


def query_record(ticket_id: str = "Q", text_: str = REPEAT, number: str | None = CALLER) -> TicketRecord:
    return RECORDER.for_import(ticket_id, NOW, text_, caller_number=number)


def test_a_repeat_is_found_first_with_its_reasons(repository):
    assert repository.add_records(history_records()) == (len(HISTORY) + len(FILLER), 0)
    found = repository.related_to(query_record(), RelatedOptions())
    assert found[0].record.ticket_id == "H1"
    first = found[0]
    assert first.same_caller and first.same_place and first.same_matter
    assert first.reasons[:3] == ["同一来电号码", "3天前", "同一地点（龙昆南路）"]
    assert first.reasons[3].startswith("同一事项（相似度")
    ids = [item.record.ticket_id for item in found]
    # H3: the same caller 20 days ago about something else; H4: the same caller, but outside the 30-day window
    h3 = found[ids.index("H3")]
    assert h3.reasons == ["同一来电号码", "20天前"] and not h3.same_matter
    assert "H4" not in ids and "H2" not in ids
    # an unrelated request from someone else finds nothing
    assert repository.related_to(query_record("Q2", "市民来电咨询：新生儿医保怎么办理？", None), RelatedOptions()) == []


def test_the_windows_bound_each_kind_of_match(repository):
    repository.add_records(history_records())
    narrow = RelatedOptions(caller_window_days=2, place_window_days=2, matter_window_days=2)
    assert [item.record.ticket_id for item in repository.related_to(query_record(), narrow)] == []
    wide = RelatedOptions(caller_window_days=60)
    assert "H4" in [item.record.ticket_id for item in repository.related_to(query_record(), wide)]


def test_the_index_is_kept_in_step_with_the_records(repository):
    repository.add_records(history_records())
    # imported again: nothing added, no term counted twice
    counts_before = repository.record_count()
    assert repository.add_records(history_records()) == (0, len(HISTORY) + len(FILLER))
    assert repository.record_count() == counts_before == len(HISTORY) + len(FILLER)
    stall = query_record("Q3", "长滨路伊泰天骄小区门口有人占道摆摊", None)
    assert repository.related_to(stall, RelatedOptions())[0].record.ticket_id == "H2"
    with repository.sessions.begin() as session:
        # the database's own index follows an edited and a removed row (SQLite: triggers; PostgreSQL: generated)
        session.execute(
            TicketRecordRow.__table__.update()
            .where(TicketRecordRow.ticket_id == "H5")
            .values(index_terms="伊泰 泰天 天骄 骄小 占道 摆摊")
        )
        session.execute(delete(TicketRecordRow).where(TicketRecordRow.ticket_id == "H2"))
    ids = [item.record.ticket_id for item in repository.related_to(stall, RelatedOptions())]
    assert "H2" not in ids and ids[0] == "H5"
    with repository.sessions() as session:
        if session.bind.dialect.name == "sqlite":
            indexed = session.scalar(
                text("SELECT count(*) FROM ticket_text_index WHERE ticket_text_index MATCH '天骄'")
            )
        else:
            indexed = session.scalar(text("SELECT count(*) FROM ticket_records WHERE index_vector @@ '天骄'::tsquery"))
        assert indexed == 1


def test_caller_keys_are_keyed_hashes_of_one_normalised_number():
    assert normalised_number("138 0000 7731") == normalised_number("+86 13800007731") == "+8613800007731"
    assert normalised_number("008613800007731") == "+8613800007731"
    key = caller_key("13800007731", SECRET)
    assert key == caller_key("+86-138-0000-7731", SECRET) and len(key) == 64
    assert caller_key("13800007731", b"another deployment") != key
    assert caller_key(None, SECRET) == "" and caller_key("  ", SECRET) == ""
    assert (
        CALLER not in key and "7731" not in RECORDER.for_import("x", NOW, "路灯不亮", caller_number=CALLER).caller_key
    )


def write_csv(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["工单编号", "行业分类1级", "行业分类2级", "诉求内容", "处置单位", "来电号码"])
        writer.writerow(["20310307000001", "城乡建设", "市政设施", HISTORY[0][2], "市政市容委", CALLER])
        writer.writerow(["20310308000002", "城管问题", "占道经营", HISTORY[1][2], "城市管理行政执法局", ""])


@pytest.mark.parametrize("backend", BACKENDS)
def test_hotline_import_tickets_is_idempotent_and_keeps_no_number(backend, tmp_path, monkeypatch):
    csv_file = tmp_path / "history.csv"
    write_csv(csv_file)
    with database_url(backend, tmp_path) as url:
        monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
        monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("HOTLINE_RELATED__CALLER_KEY_SECRET", SECRET.decode())
        arguments = [
            "import", "tickets", "--csv", str(csv_file), "--text-column", "诉求内容", "--id-column", "工单编号",
            "--time-column", "工单编号", "--time-format", "%Y%m%d", "--matter-columns", "行业分类1级,行业分类2级",
            "--department-column", "处置单位", "--caller-column", "来电号码",
        ]  # fmt: skip
        runner = CliRunner()
        first = runner.invoke(app, arguments)
        assert first.exit_code == 0, first.output
        assert "2 tickets imported, 0 already there" in first.output
        again = runner.invoke(app, arguments)
        assert again.exit_code == 0 and "0 tickets imported, 2 already there" in again.output
        engine = create_db_engine(url)
        repository = CallRepository(make_sessions(engine))
        record = repository.record("20310307000001", "import")
        assert record.created_at == datetime(2031, 3, 6, 16, 0, tzinfo=UTC)  # 2031-03-07 in Asia/Shanghai
        assert (record.matter, record.district, record.place) == ("城乡建设/市政设施", "龙华区", "龙昆南路")
        assert record.caller_key == caller_key(CALLER, SECRET)
        with repository.sessions() as session:
            stored = json.dumps([list(row) for row in session.execute(select(TicketRecordRow.__table__))], default=str)
        assert CALLER not in stored and "7731" not in stored
        engine.dispose()
        bad = runner.invoke(app, [*arguments[:6], "--id-column", "编号", *arguments[8:]])
        assert bad.exit_code == 2 and "no column 编号" in bad.output


def test_the_planted_repeat_of_a_real_ticket_is_found_in_the_haikou_history(shared_data, tmp_path):
    from pipeline.service.ticket_records import CsvColumns, read_ticket_csv

    engine = create_db_engine(f"sqlite:///{tmp_path / 'haikou.db'}")
    migrate(engine)
    repository = CallRepository(make_sessions(engine))
    columns = CsvColumns(text="诉求内容", ticket_id="工单编号", time="工单编号", time_format="%Y%m%d")
    added, _ = repository.add_records(read_ticket_csv(shared_data / "haikou12345" / "tickets.csv", columns, RECORDER))
    assert added == 4788
    earlier = repository.record("20180104148272", "import")  # a pump's noise under the bridge on 龙昆南路
    said_again = RECORDER.for_import(
        "new",
        earlier.created_at + timedelta(days=1),
        "市民来电反映：龙昆南路和义龙路交界处南大桥底下的抽水机还在作业，噪音影响汉庭酒店客人休息。",
    )
    found = repository.related_to(said_again, RelatedOptions())
    assert found[0].record.ticket_id == "20180104148272" and found[0].same_matter
    engine.dispose()


# -- the API ---------------------------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def api(request, tmp_path):
    with database_url(request.param, tmp_path) as url:
        # the API's own recorder (corrections) with the secret the calls' records were made with
        related = RelatedSettings(caller_key_secret=SECRET.decode())
        services = quiet_services(make_settings(tmp_path, url, related=related))
        pbx = services.keys.create("telephony", "pbx", webhook_url="https://hooks.example.com/hotline")[0].id
        keys = {
            "telephony": services.keys.create("telephony", "pbx-reader")[1],
            "operator": new_key(services, "operator", "op-related", agent_id="A1024"),
            "qa": new_key(services, "qa", "qa-related"),
        }
        services.repository.add_records(history_records())
        finish_call_with_ticket(
            services,
            RECORDER,
            "c-first",
            pbx,
            HISTORY[0][2],
            "龙华区龙昆南路88号",
            "市政市容委",
            NOW - timedelta(days=3),
        )
        finish_call_with_ticket(services, RECORDER, "c-again", pbx, REPEAT, "龙昆南路88号路口", "交警支队", NOW)
        with TestClient(create_app(services=services)) as client:
            yield {"client": client, "services": services, "keys": keys}
        services.engine.dispose()


def test_related_link_dismiss_and_unlink_through_the_api(api):
    client, services, keys = api["client"], api["services"], api["keys"]
    operator = auth(keys["operator"])
    related = client.get("/v1/calls/c-again/related", headers=operator)
    assert related.status_code == 200, related.text
    items = {item["ticket_id"]: item for item in related.json()}
    # the earlier call and the imported ticket of the same caller, same words, same day: the two first
    assert {item["ticket_id"] for item in related.json()[:2]} == {"c-first", "H1"}
    first = items["c-first"]
    assert first["source"] == "call"
    assert first["reasons"][:3] == ["同一来电号码", "3天前", "同一地点（龙昆南路）"] and first["same_matter"]
    assert items["H1"]["same_matter"] and items["H1"]["decision"] is None
    assert CALLER not in related.text

    linked = client.post("/v1/calls/c-again/links", headers=operator, json={"ticket_id": "c-first", "action": "link"})
    assert linked.status_code == 200, linked.text
    assert [(link["ticket_id"], link["action"], link["direction"]) for link in linked.json()] == [
        ("c-first", "link", "to")
    ]
    dismissed = client.post(
        "/v1/calls/c-again/links", headers=operator, json={"ticket_id": "H1", "action": "dismiss", "source": "import"}
    )
    assert dismissed.status_code == 200
    decisions = {
        item["ticket_id"]: item["decision"] for item in client.get("/v1/calls/c-again/related", headers=operator).json()
    }
    assert decisions["c-first"] == "link" and decisions["H1"] == "dismiss"

    # one matter, one dispatch: the repeat goes to the unit of the ticket it was linked to; who and when kept
    ticket = client.get("/v1/calls/c-again/ticket", headers=operator).json()
    assert ticket["department"] == "市政市容委"
    assert services.repository.record("c-again", "call").department == "市政市容委"
    trail = [(change["actor"], change["action"]) for change in ticket["changes"]]
    assert trail == [("op-related", "link"), ("op-related", "dismiss")]
    assert ticket["changes"][0]["changes"]["department"] == {"old": "交警支队", "new": "市政市容委"}
    # the earlier call shows the later one linked to it (what the QA page lists)
    incoming = client.get("/v1/calls/c-first/links", headers=auth(keys["qa"])).json()
    assert [(link["call_id"], link["direction"]) for link in incoming] == [("c-again", "from")]

    # the link is announced through the outbox, with ids only
    queued = [job[1] for job in services.queue.jobs if job[0] == "webhook"]
    events = {row.id: row for row, _ in services.repository.webhook_log("c-again")}
    assert [events[delivery].event for delivery in queued] == ["ticket.linked"]
    payload = events[queued[0]].payload
    assert payload["ticket_id"] == "c-first" and payload["department"] == "市政市容委"
    assert REPEAT not in json.dumps(payload, ensure_ascii=False)

    # the operator's choice of unit is what the call's record (and the next repeat's 并单) carries
    patched = client.patch("/v1/calls/c-first/ticket", headers=operator, json={"department": "供电局"})
    assert patched.status_code == 200, patched.text
    assert services.repository.record("c-first", "call").department == "供电局"

    undone = client.delete("/v1/calls/c-again/links/c-first", headers=operator)
    assert undone.status_code == 204
    assert [link["ticket_id"] for link in client.get("/v1/calls/c-again/links", headers=operator).json()] == ["H1"]
    events = sorted(row.event for row, _ in services.repository.webhook_log("c-again"))
    assert events == ["call.done", "ticket.linked", "ticket.unlinked"]
    assert client.delete("/v1/calls/c-again/links/c-first", headers=operator).status_code == 404


STALL_FIX = "市民来电反映：海甸岛人民大道沿街商铺的空调外机滴水，行人经过被淋湿，希望整改。"


def term_counts_recounted(repository) -> tuple[dict, dict]:
    """(the stored term counts, the counts made again from every record's terms): equal when kept in step."""
    with repository.sessions() as session:
        stored = dict(session.execute(text("SELECT term, docs FROM ticket_terms")).all())
        recount: dict[str, int] = {"": 0}
        for (terms,) in session.execute(select(TicketRecordRow.index_terms)):
            recount[""] += 1
            for term in terms.split():
                recount[term] = recount.get(term, 0) + 1
    return stored, recount


def indexed(repository, term: str, ticket_id: str) -> bool:
    """Whether the database's own full-text index finds the record of `ticket_id` by `term`."""
    with repository.sessions() as session:
        record_id = session.scalar(select(TicketRecordRow.id).where(TicketRecordRow.ticket_id == ticket_id))
        if session.bind.dialect.name == "sqlite":
            ids = session.scalars(
                text("SELECT rowid FROM ticket_text_index WHERE ticket_text_index MATCH :q"), {"q": f'"{term}"'}
            )
            return record_id in {rowid & 0xFFFFFFFF for rowid in ids}
        ids = session.scalars(
            text("SELECT id FROM ticket_records WHERE index_vector @@ CAST(:q AS tsquery)"), {"q": f"'{term}'"}
        )
        return record_id in set(ids)


def matter_match(repository, body: str, ticket_id: str):
    """The related-ticket result for `ticket_id` when a caller without a number says `body` now, or None."""
    found = repository.related_to(query_record("Q", body, None), RelatedOptions())
    return next((item for item in found if item.record.ticket_id == ticket_id), None)


def test_a_corrected_summary_is_what_the_index_finds(api):
    """The operator rewrites the machine's summary: the call is found by the corrected words, no longer by the
    wrong ones, the term counts follow, and sending the same correction again (or accepting) changes nothing."""
    client, services, keys = api["client"], api["services"], api["keys"]
    repository, operator = services.repository, auth(keys["operator"])
    assert matter_match(repository, REPEAT, "c-again").same_matter
    assert matter_match(repository, STALL_FIX, "c-again") is None
    assert indexed(repository, "路灯", "c-again") and not indexed(repository, "滴水", "c-again")

    patched = client.patch("/v1/calls/c-again/ticket", headers=operator, json={"fields": {"summary": STALL_FIX}})
    assert patched.status_code == 200, patched.text
    record = repository.record("c-again", "call")
    assert record.text == STALL_FIX and (record.district, record.place) == ("", "龙昆南路")  # the address stayed
    assert indexed(repository, "滴水", "c-again") and not indexed(repository, "路灯", "c-again")
    assert matter_match(repository, STALL_FIX, "c-again").same_matter
    old_words = matter_match(repository, REPEAT, "c-again")
    assert old_words is None or not old_words.same_matter  # still on the same road, no longer the same matter
    stored, recount = term_counts_recounted(repository)
    assert stored == recount

    for body in ({"fields": {"summary": STALL_FIX}}, {"accept": True}, {"accept": True}):  # again, accepted, again
        assert client.patch("/v1/calls/c-again/ticket", headers=operator, json=body).status_code == 200
        assert term_counts_recounted(repository)[0] == stored
    assert repository.record("c-again", "call").text == STALL_FIX

    # the address corrected too: the place follows it
    address = {"fields": {"address": "美兰区海甸岛人民大道58号"}}
    assert client.patch("/v1/calls/c-again/ticket", headers=operator, json=address).status_code == 200
    record = repository.record("c-again", "call")
    assert (record.district, record.place) == ("美兰区", "海甸岛")  # the island is a known place (places.yaml)
    assert stored == term_counts_recounted(repository)[0]


def test_a_corrected_phone_is_the_caller_key_of_a_call_without_a_number(api):
    """The caller key is the calling number's, else the callback number's (`TicketRecorder.for_call`): an operator
    who corrects the callback number of a call with a withheld number moves it to the right caller; a call whose
    number the telephony system gave keeps that number's key."""
    client, services, keys = api["client"], api["services"], api["keys"]
    repository, operator = services.repository, auth(keys["operator"])
    body = "市民来电咨询：新生儿医保怎么办理，需要带哪些材料？"
    finish_call_with_ticket(services, RECORDER, "c-withheld", None, body, "", "医保局", NOW, number=None)
    assert repository.record("c-withheld", "call").caller_key == ""

    said, corrected = "13911112222", "13911113333"  # misheard, then corrected by the operator
    for number in (said, corrected):
        patch = {"fields": {"phone": number}}
        assert client.patch("/v1/calls/c-withheld/ticket", headers=operator, json=patch).status_code == 200
    assert repository.record("c-withheld", "call").caller_key == caller_key(corrected, SECRET)
    asked = RECORDER.for_import("Q", NOW, "市民来电咨询：办理居住证", caller_number=corrected)
    same_caller = [item.record.ticket_id for item in repository.related_to(asked, RelatedOptions()) if item.same_caller]
    assert same_caller == ["c-withheld"]
    asked = RECORDER.for_import("Q", NOW, "市民来电咨询：办理居住证", caller_number=said)
    assert not [item for item in repository.related_to(asked, RelatedOptions()) if item.same_caller]

    assert (
        client.patch("/v1/calls/c-again/ticket", headers=operator, json={"fields": {"phone": said}}).status_code == 200
    )
    assert repository.record("c-again", "call").caller_key == caller_key(CALLER, SECRET)
    with repository.sessions() as session:
        stored = json.dumps([list(row) for row in session.execute(select(TicketRecordRow.__table__))], default=str)
    assert corrected not in stored and said not in stored


def test_a_purged_recording_keeps_the_call_s_ticket_record(api, monkeypatch):
    """Retention deletes recordings only (`Jobs.purge_recordings`): the call, its transcript and its ticket stay, and
    so does its record, still found as a repeat. No code path deletes a call; a record that is deleted leaves the
    index (test_the_index_is_kept_in_step_with_the_records)."""
    from service_fakes import FakeClock, FakeStore

    from pipeline.service.database import utcnow

    services = api["services"]
    FakeClock(utcnow() + timedelta(days=2)).install(monkeypatch)
    jobs = Jobs(services.repository, FakeStore(), services.queue, None)
    assert jobs.purge_recordings(retention_days=1) == 2  # both calls were registered two days ago
    for call_id in ("c-first", "c-again"):
        assert services.repository.get(call_id).audio_deleted_at is not None
        assert services.repository.record(call_id, "call") is not None
    found = services.repository.related_to(query_record("Q", REPEAT, None), RelatedOptions())
    assert "c-first" in [item.record.ticket_id for item in found if item.same_matter]


def test_link_requests_are_checked(api):
    client, keys = api["client"], api["keys"]
    operator = auth(keys["operator"])
    unknown = client.post("/v1/calls/c-again/links", headers=operator, json={"ticket_id": "nope", "action": "link"})
    assert unknown.status_code == 404
    wrong = client.post("/v1/calls/c-again/links", headers=operator, json={"ticket_id": "H1", "action": "merge"})
    assert wrong.status_code == 422
    itself = client.post("/v1/calls/c-again/links", headers=operator, json={"ticket_id": "c-again", "action": "link"})
    assert itself.status_code == 409
    as_qa = client.post("/v1/calls/c-again/links", headers=auth(keys["qa"]), json={"ticket_id": "H1", "action": "link"})
    assert as_qa.status_code == 403
    assert client.get("/v1/calls/c-again/related", headers=auth(keys["telephony"])).status_code == 403
    assert client.get("/v1/calls/none/related", headers=operator).status_code == 404


def test_a_link_webhook_is_signed_and_carries_the_link(tmp_path):
    """The delivery job sends a link's own body (not a call summary) through the same signed POST."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'hooks.db'}")
    migrate(engine)
    repository = CallRepository(make_sessions(engine))
    from pipeline.service.keys import KeyStore

    row, _ = KeyStore(repository.sessions).create("telephony", "pbx", webhook_url="https://hooks.example.com/h")

    class Services:  # what finish_call needs
        pass

    services = Services()
    services.repository = repository
    repository.add_records(history_records())
    finish_call_with_ticket(services, RECORDER, "c-1", row.id, REPEAT, "龙昆南路", "交警支队", NOW)
    delivery_id = repository.decide("c-1", "H1", None, "link", "op")[0]
    bodies = []

    def receiver(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(204)

    jobs = Jobs(
        repository=repository,
        store=None,
        queue=None,
        processor=None,
        options=JobOptions(allow_private_webhooks=True),
        http=httpx.Client(transport=httpx.MockTransport(receiver)),
    )
    assert jobs.deliver_webhook(delivery_id) == "delivered"
    body = bodies[0]
    assert body["event"] == "ticket.linked" and body["delivery_id"] == delivery_id
    assert (body["call_id"], body["ticket_id"], body["source"], body["actor"]) == ("c-1", "H1", "import", "op")
    assert body["links"]["related"].endswith("/v1/calls/c-1/related")
    engine.dispose()


def test_the_extract_job_writes_the_call_s_record_with_its_ticket(tmp_path):
    """The worker's extract phase adds the call's ticket record in the transaction that finishes the call."""
    from service_builders import RecordingQueue
    from service_fakes import FakeProcessor, FakeStore, open_repository, register

    repository = open_repository(tmp_path)
    store = FakeStore()
    store.add(b"job-1")
    processor = FakeProcessor()
    processor.ticket.fields["address"] = TicketField("龙华区龙昆南路88号", 0.9)
    jobs = Jobs(repository, store, RecordingQueue(), processor, JobOptions(recorder=RECORDER))
    register(repository, "job-1", recording=b"job-1")
    assert jobs.transcribe("job-1") == "transcribed"
    assert jobs.extract("job-1") == "done"
    record = repository.record("job-1", "call")
    assert (record.text, record.district, record.place) == ("路灯不亮", "龙华区", "龙昆南路")
    assert record.caller_key == ""  # the registered call has no number, the fake ticket no phone
    assert repository.record_count() == 1
