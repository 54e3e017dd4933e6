"""The HTTP API against a real database (SQLite and PostgreSQL), the real pipeline in-process (no Redis):
push → done → transcript, audio, ticket; duplicates; corrections with their audit trail; QA audits;
search; every role refused where it must be; bad input refused with nothing stored."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from service_builders import (
    auth,
    database_url,
    in_process_services,
    make_settings,
    new_key,
    push,
    wait_for,
)

from api.main import create_app
from pipeline.service.corrections import CORRECTION_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "samples" / "demo-call.wav"
META = {
    "caller_number": "13800007731",
    "agent_id": "A1024",
    "started_at": "2026-11-30T09:15:00+08:00",
    "channel_map": json.dumps({"0": "agent", "1": "caller"}),
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request, tmp_path_factory, engines):
    """A running app on one database backend, keys for every role, and the demo call processed once."""
    tmp_path = tmp_path_factory.mktemp(request.param)
    with database_url(request.param, tmp_path) as url:
        settings = make_settings(tmp_path, url, max_upload_mb=5)
        services = in_process_services(settings, engines)
        # the operator is the demo call's agent (an operator key sees the calls of its agent id and team)
        keys = {role: new_key(services, role) for role in ("telephony", "qa", "admin")}
        keys["operator"] = new_key(services, "operator", agent_id=META["agent_id"])
        with TestClient(create_app(services=services)) as client:
            response = push(client, keys["telephony"], DEMO, "demo-1", **META)
            assert response.status_code == 202, response.text
            done = wait_for(client, "demo-1", keys["telephony"])
            yield {"client": client, "services": services, "keys": keys, "done": done}
        services.queue.stop()
        services.engine.dispose()


def test_a_pushed_call_is_transcribed_and_its_ticket_served(service):
    client, keys, done = service["client"], service["keys"], service["done"]
    assert done["status"] == "done", done
    assert done["caller_number_masked"] == "138****7731"
    assert done["audio_duration_s"] == pytest.approx(60, abs=2)
    assert {"decode", "transcribe", "extract"} <= set(done["timings"])
    transcript = client.get("/v1/calls/demo-1/transcript", headers=auth(keys["operator"])).json()
    roles = {turn["role"] for turn in transcript["turns"]}
    assert roles == {"agent", "caller"}
    assert any("热线" in turn["text"] for turn in transcript["turns"] if turn["role"] == "agent")
    ticket = client.get("/v1/calls/demo-1/ticket", headers=auth(keys["operator"])).json()
    assert ticket["state"] == "pending"
    assert ticket["ticket"]["fields"]["district"]["value"] == "龙华区"
    assert ticket["ticket"]["department_suggestions"], "the ticket suggests departments"


@pytest.mark.parametrize(
    ("fmt", "media", "needle"),
    [
        ("txt", "text/plain", "接线员"),
        ("srt", "application/x-subrip", "-->"),
        ("vtt", "text/vtt", "WEBVTT"),
        ("rttm", "text/plain", "SPEAKER demo-1"),
    ],
)
def test_transcript_formats(service, fmt, media, needle):
    response = service["client"].get(f"/v1/calls/demo-1/transcript?format={fmt}", headers=auth(service["keys"]["qa"]))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media)
    assert needle in response.text


def test_a_repeated_push_is_the_same_call_and_another_recording_is_a_conflict(service, tmp_path):
    client, keys, services = service["client"], service["keys"], service["services"]
    again = push(client, keys["telephony"], DEMO, "demo-1", **META)
    assert again.status_code == 202 and again.json()["created"] is False
    assert [event.event for event in services.repository.events("demo-1")].count("queued") == 1
    other = push(client, keys["telephony"], DEMO.read_bytes()[:-3200], "demo-1")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "conflict"


def test_audio_is_served_whole_and_by_range(service):
    client, key = service["client"], service["keys"]["qa"]
    whole = client.get("/v1/calls/demo-1/audio", headers=auth(key))
    assert whole.status_code == 200 and whole.content == DEMO.read_bytes()
    part = client.get("/v1/calls/demo-1/audio", headers={**auth(key), "Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == DEMO.read_bytes()[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{DEMO.stat().st_size}"
    tail = client.get("/v1/calls/demo-1/audio", headers={**auth(key), "Range": "bytes=-10"})
    assert tail.content == DEMO.read_bytes()[-10:]
    outside = client.get("/v1/calls/demo-1/audio", headers={**auth(key), "Range": f"bytes={10**9}-"})
    assert outside.status_code == 416


def test_operator_corrections_are_kept_with_who_and_when(service):
    client, keys = service["client"], service["keys"]
    before = client.get("/v1/calls/demo-1/ticket", headers=auth(keys["operator"])).json()
    patch = {"fields": {"caller_surname": "李"}, "department": "住房和城乡建设局", "accept": True}
    response = client.patch("/v1/calls/demo-1/ticket", headers=auth(keys["operator"]), json=patch)
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["department"] == "住房和城乡建设局" and after["state"] == "accepted"
    assert after["ticket"]["fields"]["caller_surname"]["value"] == "李"
    assert after["ticket"]["fields"]["caller_surname"]["source"] == "corrected"
    assert after["machine_ticket"] == before["machine_ticket"], "the machine's ticket is kept as it was"
    correction = [change for change in after["changes"] if change["action"] == "correct"][-1]
    assert correction["actor"] == "operator-test"
    assert correction["changes"]["department"]["new"] == "住房和城乡建设局"
    assert correction["changes"]["caller_surname"] == {
        "old": before["ticket"]["fields"]["caller_surname"]["value"],
        "new": "李",
    }
    status = client.get("/v1/calls/demo-1", headers=auth(keys["operator"])).json()
    assert status["ticket_state"] == "accepted" and status["department"] == "住房和城乡建设局"
    unknown = client.patch("/v1/calls/demo-1/ticket", headers=auth(keys["operator"]), json={"fields": {"x": 1}})
    assert unknown.status_code == 422


def test_a_corrected_field_leaves_the_review_reasons_and_the_others_stay(service):
    client, key = service["client"], service["keys"]["operator"]
    before = client.get("/v1/calls/demo-1/ticket", headers=auth(key)).json()
    reasons = before["ticket"]["review_reasons"]
    flagged = [reason["field"] for reason in reasons if reason["field"] in before["ticket"]["fields"]]
    assert "address" in flagged, "the demo call's address (Whisper base on 8 kHz) is flagged"
    assert all(set(reason) == {"code", "field", "value", "threshold", "message"} for reason in reasons)

    patch = {"fields": {"address": "龙华区龙昆南路椰林花园小区3栋2单元"}}
    response = client.patch("/v1/calls/demo-1/ticket", headers=auth(key), json=patch)
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["ticket"]["review_reasons"] == [reason for reason in reasons if reason["field"] != "address"]
    assert after["ticket"]["review"] == before["ticket"]["review"], "the level stays the machine's"
    assert "address" in {reason["field"] for reason in after["machine_ticket"]["review_reasons"]}
    assert client.get("/v1/calls/demo-1/ticket", headers=auth(key)).json()["ticket"] == after["ticket"]


def test_accepted_corrections_export_as_routing_training_data(service, tmp_path):
    client, keys = service["client"], service["keys"]
    patch = {"department": "交通运输局", "accept": True}
    assert client.patch("/v1/calls/demo-1/ticket", headers=auth(keys["operator"]), json=patch).status_code == 200
    machine = client.get("/v1/calls/demo-1/ticket", headers=auth(keys["operator"])).json()["machine_ticket"]
    machine_units = [item["department"] for item in machine["department_suggestions"]]

    exported = client.get("/v1/corrections", headers=auth(keys["admin"]))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    csv_file = tmp_path / "corrections.csv"
    csv_file.write_text(exported.text, encoding="utf-8")
    from extract.routing import read_labelled_rows

    texts, labels, ids = read_labelled_rows(csv_file, "text", "department", "call_id")
    assert ids == ["demo-1"] and labels == ["交通运输局"]
    assert texts[0] and "市民来电反映" not in texts[0], "the request without the opening formula"
    row = client.get("/v1/corrections?format=jsonl", headers=auth(keys["admin"])).text.splitlines()
    record = json.loads(row[0])
    assert record["machine_department"] == machine_units[0]
    assert record["machine_rank"] == (machine_units.index("交通运输局") + 1 if "交通运输局" in machine_units else "")
    assert "department" in record["corrected_fields"].split(",")
    assert record["accepted_by"] == "operator-test"
    later = client.get("/v1/corrections", headers=auth(keys["admin"]), params={"since": "2099-01-01T00:00:00"})
    assert later.text.strip().splitlines() == [",".join(CORRECTION_COLUMNS)], "header only"

    # the same rows from the command line, written whole to the file
    settings = service["services"].settings
    env = {**os.environ, "HOTLINE_DATABASE_URL": settings.resolved_database_url, "HOTLINE_DATA_DIR": str(tmp_path)}
    out = tmp_path / "exported.csv"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("hotline")), "export", "corrections", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == exported.content
    assert "1 accepted tickets" in done.stderr


def test_qa_audit_is_stored_and_marks_must_point_at_turns(service):
    client, key = service["client"], service["keys"]["qa"]
    audit = {
        "score": 85,
        "rubric": {"greeting": 10, "courtesy": 9},
        "checks": {"greeting": True, "number_read_back": False, "closing": None},  # closing: not reviewed
        "marks": [{"turn": 1, "kind": "asr_error", "corrected_text": "我要反映一下"}],
        "comment": "号码未复述",
    }
    created = client.post("/v1/calls/demo-1/audit", headers=auth(key), json=audit)
    assert created.status_code == 201, created.text
    assert created.json()["actor"] == "qa-test"
    listed = client.get("/v1/calls/demo-1/audits", headers=auth(key)).json()
    assert listed[-1]["marks"][0]["corrected_text"] == "我要反映一下"
    assert listed[-1]["checks"] == {"greeting": True, "number_read_back": False, "closing": None}
    status = client.get("/v1/calls/demo-1", headers=auth(key)).json()
    assert status["audit_score"] == 85 and status["audited_at"]
    audited = client.get("/v1/calls", headers=auth(key), params={"audited": "true"}).json()["items"]
    not_audited = client.get("/v1/calls", headers=auth(key), params={"audited": "false"}).json()["items"]
    assert "demo-1" in [item["call_id"] for item in audited]
    assert "demo-1" not in [item["call_id"] for item in not_audited]
    bad = client.post(
        "/v1/calls/demo-1/audit", headers=auth(key), json={**audit, "marks": [{"turn": 999, "kind": "asr_error"}]}
    )
    assert bad.status_code == 422


def test_automatic_service_checks_and_the_per_agent_summary(service):
    client, key = service["client"], service["keys"]["qa"]
    checks = client.get("/v1/calls/demo-1/checks", headers=auth(key)).json()
    assert set(checks) == {"greeting", "number_read_back", "summary_confirmed", "closing", "no_forbidden_words"}
    assert checks["greeting"]["passed"] and checks["greeting"]["turn"] == 0
    assert checks["no_forbidden_words"]["passed"]
    assert all(check["label"] for check in checks.values())
    # the demo's read-backs (0:33 number, 0:39 request) pass as Whisper base hears them, and link to their turns
    turns = client.get("/v1/calls/demo-1/transcript", headers=auth(key)).json()["turns"]
    for name, said_at in (("number_read_back", 33.0), ("summary_confirmed", 39.3)):
        check = checks[name]
        assert check["passed"], (name, check)
        judged = check["turns"][0]
        assert judged["index"] == check["turn"] and turns[judged["index"]]["role"] == "agent"
        assert judged["start"] == turns[judged["index"]]["start"]
        assert judged["start"] - 1.0 <= said_at <= judged["end"] + 1.0  # Whisper's turn times move by CPU
        assert turns[check["turns"][1]["index"]]["role"] == "caller", "and the caller's reply"
    audit = {"score": 70, "marks": [{"turn": 0, "kind": "asr_error"}, {"turn": 2, "kind": "impolite"}]}
    assert client.post("/v1/calls/demo-1/audit", headers=auth(key), json=audit).status_code == 201
    summary = {row["agent_id"]: row for row in client.get("/v1/audits/summary", headers=auth(key)).json()}
    a1024 = summary["A1024"]
    assert (a1024["calls"], a1024["audited"], a1024["mean_score"]) == (1, 1, 70), "the latest audit counts"
    assert a1024["marks"] == {"asr_error": 1, "impolite": 1}
    assert client.get("/v1/audits/summary", headers=auth(key), params={"since": "2099-01-01"}).json() == []


def test_the_web_pages_log_in_with_a_cookie_that_cannot_be_used_across_sites(service):
    client, keys = service["client"], service["keys"]
    page = client.get("/ui/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    assert client.post("/v1/session", json={"key": keys["telephony"]}).status_code == 401, "no pages for the PBX"
    assert client.post("/v1/session", json={"key": "hk_wrong"}).status_code == 401
    login = client.post("/v1/session", json={"key": keys["operator"]})
    assert login.status_code == 200
    assert login.json() == {"name": "operator-test", "role": "operator", "agent_id": "A1024"}
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    try:
        assert client.get("/v1/session").json()["role"] == "operator"
        assert client.get("/v1/calls/demo-1/ticket").status_code == 200, "the cookie authenticates reads"
        patch = {"fields": {"honorific": "先生"}}
        refused = client.patch("/v1/calls/demo-1/ticket", json=patch)
        assert refused.status_code == 403, "a change with the cookie alone could come from another site"
        allowed = client.patch("/v1/calls/demo-1/ticket", json=patch, headers={"X-Hotline-UI": "1"})
        assert allowed.status_code == 200
        assert client.get("/v1/keys").status_code == 403, "the cookie carries the key's role, no more"
    finally:
        assert client.delete("/v1/session").status_code == 204
    assert client.get("/v1/calls/demo-1/ticket").status_code == 401


def test_reference_lists_for_the_pages(service):
    reference = service["client"].get("/v1/reference", headers=auth(service["keys"]["operator"])).json()
    assert "城市管理行政执法局" in reference["departments"] and len(reference["departments"]) >= 20
    assert "投诉" in reference["request_types"] and "urgent" in reference["urgency_levels"]
    assert "asr_error" in reference["mark_kinds"]


def test_search_by_text_agent_status_and_time(service):
    client, key = service["client"], service["keys"]["qa"]
    transcript = client.get("/v1/calls/demo-1/transcript", headers=auth(key)).json()
    caller_text = next(turn["text"] for turn in transcript["turns"] if turn["role"] == "caller")
    needle = caller_text[2:6]

    def ids(**params):
        return [item["call_id"] for item in client.get("/v1/calls", headers=auth(key), params=params).json()["items"]]

    assert "demo-1" in ids(q=needle)
    assert ids(q="没有这句话的通话") == []
    assert "demo-1" in ids(agent_id="A1024", status="done")
    assert ids(agent_id="nobody") == []
    assert ids(since="2099-01-01T00:00:00Z") == []
    page = client.get("/v1/calls", headers=auth(key), params={"limit": 1}).json()
    assert page["limit"] == 1 and page["total"] >= 1


def test_a_recording_without_speech_fails_with_the_reason(service):
    client, keys = service["client"], service["keys"]
    from conftest import tone, write_audio

    path = Path(service["services"].settings.data_dir) / "tone.wav"
    write_audio(path, np.stack([tone(3, 8000), tone(3, 8000)]) * 0.0, 8000)
    assert push(client, keys["telephony"], path, "silent-1").status_code == 202
    failed = wait_for(client, "silent-1", keys["telephony"])
    assert failed["status"] == "failed"
    assert failed["error"]["kind"] == "NoSpeechError"
    assert client.get("/v1/calls/silent-1/ticket", headers=auth(keys["qa"])).status_code == 409


def test_phone_numbers_never_reach_the_logs(service, caplog):
    import logging

    client, keys = service["client"], service["keys"]
    from conftest import tone, write_audio

    path = Path(service["services"].settings.data_dir) / "logged.wav"
    write_audio(path, np.stack([tone(2, 8000), tone(2, 8000)]) * 0.0, 8000)
    with caplog.at_level(logging.DEBUG):
        assert push(client, keys["telephony"], path, "logged-1", caller_number="13912345678").status_code == 202
        wait_for(client, "logged-1", keys["telephony"])
        client.get("/v1/calls/logged-1", headers=auth(keys["telephony"]))
        correction = {"fields": {"phone": "13655556666"}}
        client.patch("/v1/calls/demo-1/ticket", headers=auth(keys["operator"]), json=correction)
    assert caplog.records, "the service logged something to look through"
    assert "13912345678" not in caplog.text and "13655556666" not in caplog.text


ROUTES = [
    ("post", "/v1/calls", {"telephony"}),
    ("get", "/v1/calls/demo-1", {"telephony", "operator", "qa"}),
    ("get", "/v1/calls", {"operator", "qa"}),
    ("get", "/v1/calls/demo-1/transcript", {"operator", "qa"}),
    ("get", "/v1/calls/demo-1/audio", {"operator", "qa"}),
    ("get", "/v1/calls/demo-1/ticket", {"operator", "qa"}),
    ("patch", "/v1/calls/demo-1/ticket", {"operator"}),
    ("post", "/v1/calls/demo-1/audit", {"qa"}),
    ("get", "/v1/calls/demo-1/audits", {"qa"}),
    ("get", "/v1/calls/demo-1/checks", {"operator", "qa"}),
    ("get", "/v1/calls/demo-1/webhooks", {"telephony"}),
    ("get", "/v1/audits/summary", {"qa"}),
    ("get", "/v1/reference", {"operator", "qa"}),
    ("get", "/v1/corrections", set()),
    ("get", "/v1/keys", set()),
    ("post", "/v1/keys", set()),
]


@pytest.mark.parametrize(("method", "path", "allowed"), ROUTES)
def test_every_role_is_refused_where_it_must_be(service, method, path, allowed):
    client, keys = service["client"], service["keys"]
    for role, key in keys.items():
        response = client.request(method, path, headers=auth(key))
        if role in allowed or role == "admin":
            assert response.status_code not in (401, 403), (role, response.text)
        else:
            assert response.status_code == 403, (role, response.status_code)
            assert response.json()["error"]["code"] == "forbidden"
    assert client.request(method, path).status_code == 401
    assert client.request(method, path, headers=auth("hk_not-a-real-key")).status_code == 401


def test_admin_creates_and_revokes_keys(service):
    client, admin = service["client"], service["keys"]["admin"]
    created = client.post("/v1/keys", headers=auth(admin), json={"name": "pbx-2", "role": "telephony"})
    assert created.status_code == 201
    key = created.json()["key"]
    assert client.get("/v1/calls/demo-1", headers=auth(key)).status_code == 404, "a valid key; another client's call"
    listed = client.get("/v1/keys", headers=auth(admin)).json()
    assert all("key" not in row and "key_hash" not in row for row in listed)
    assert client.delete(f"/v1/keys/{created.json()['id']}", headers=auth(admin)).status_code == 204
    assert client.get("/v1/calls/demo-1", headers=auth(key)).status_code == 401

    operator = client.post("/v1/keys", headers=auth(admin), json={"name": "张三", "role": "operator", "agent_id": "A7"})
    assert operator.status_code == 201 and operator.json()["agent_id"] == "A7"
    login = client.post("/v1/session", json={"key": operator.json()["key"]})
    assert login.json() == {"name": "张三", "role": "operator", "agent_id": "A7"}
    client.delete("/v1/session")


def _wav_bytes(tmp_path: Path) -> bytes:
    from conftest import tone, write_audio

    return write_audio(tmp_path / "short.wav", tone(1.0, 8000)[None, :], 8000).read_bytes()


def test_bad_pushes_get_clear_errors_and_store_nothing(service, tmp_path):
    client, key, services = service["client"], service["keys"]["telephony"], service["services"]
    good = _wav_bytes(tmp_path)
    stored_before = sorted(p.name for p in services.settings.recordings_dir.rglob("*") if p.is_file())
    cases = [
        ("not audio", push(client, key, b"hello, this is not audio" * 100, "bad-1"), 422, "bad_audio"),
        ("empty", push(client, key, b"", "bad-2"), 422, "bad_audio"),
        ("truncated", push(client, key, DEMO.read_bytes()[: len(DEMO.read_bytes()) // 2], "bad-3"), 422, "bad_audio"),
        ("oversized", push(client, key, b"RIFF" + b"\0" * 6_000_000, "bad-4"), 413, "too_large"),
        ("wrong type", push(client, key, good, "bad-5", content_type="text/plain"), 415, "unsupported_media_type"),
        ("bad channel map", push(client, key, good, "bad-6", channel_map="{0: agent"), 422, "bad_metadata"),
        ("bad role", push(client, key, good, "bad-7", channel_map='{"0": "boss"}'), 422, "bad_metadata"),
        ("bad time", push(client, key, good, "bad-8", started_at="yesterday"), 422, "bad_metadata"),
        ("path id", push(client, key, good, "../../etc/passwd"), 422, "bad_metadata"),
        ("slash id", push(client, key, good, "a/b"), 422, "bad_metadata"),
        ("bad priority", push(client, key, good, "bad-9", priority="urgent"), 422, "bad_metadata"),
    ]
    for name, response, status, code in cases:
        assert response.status_code == status, (name, response.status_code, response.text)
        assert response.json()["error"]["code"] == code, name
        assert response.json()["error"]["message"], name
    no_file = client.post("/v1/calls", headers=auth(key), data={"call_id": "bad-10"})
    assert no_file.status_code in (415, 422)
    not_multipart = client.post("/v1/calls", headers={**auth(key), "Content-Type": "application/json"}, content=b"{}")
    assert not_multipart.status_code == 415
    stored_after = sorted(p.name for p in services.settings.recordings_dir.rglob("*") if p.is_file())
    assert stored_after == stored_before, "a refused push leaves no file behind"
    for index in range(1, 11):
        assert client.get(f"/v1/calls/bad-{index}", headers=auth(key)).status_code == 404


def test_an_oversized_upload_is_refused_while_it_streams(service):
    """A chunked upload (no Content-Length) of 500 MB against the 5 MB limit: refused after about 5 MB read.
    (httpx's ASGI transport hands the body to the app chunk by chunk, as a server does; TestClient would
    read it all first.)"""
    import asyncio

    import httpx

    client, key = service["client"], service["keys"]["telephony"]
    boundary = "hotline-test-boundary"
    pulled = 0

    async def body():
        nonlocal pulled
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="call_id"\r\n\r\nhuge-1\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="recording"; filename="huge.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\nRIFF"
        ).encode()
        for chunk in [head] + [b"\0" * 1_000_000] * 500:
            pulled += len(chunk)
            yield chunk

    async def upload() -> httpx.Response:
        transport = httpx.ASGITransport(app=client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hotline.test") as http:
            headers = {**auth(key), "Content-Type": f"multipart/form-data; boundary={boundary}"}
            return await http.post("/v1/calls", headers=headers, content=body())

    response = asyncio.run(upload())
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert pulled < 8_000_000, f"the server read {pulled} bytes of a 500 MB upload"
    assert client.get("/v1/calls/huge-1", headers=auth(key)).status_code == 404


def test_health_readiness_and_metrics(service):
    client = service["client"]
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["checks"]["database"] == "ok"
    metrics = client.get("/metrics").text
    assert 'hotline_calls{status="done"}' in metrics
    assert "hotline_real_time_factor" in metrics
    assert "13800007731" not in metrics


def test_the_api_imports_no_model_code():
    code = (
        "import sys, api.main; print(sorted(m for m in ('torch', 'faster_whisper', 'ctranslate2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
