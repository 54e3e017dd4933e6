"""Access control, replayed as issue 12 found it broken and as the OWASP API Security Top 10 (2023) asks:

- item 7 (API2): the login cookie is a server-side session of its own: logout, the key's revocation, the
  shift's end and idle time end it; each login is a new session; failed logins and invalid keys are throttled
  per client address (429 + Retry-After).
- item 8 (API1): a call is seen only by the telephony client that pushed it, the operators of its agent id and
  team, QA and admin; anything else is 404, the same as a call that does not exist, on every /v1/calls/{id}…
  route, in search and in the QA summary; a client cannot attach to another client's call id.
- item 9: a webhook delivery replayed under another delivery id is caught by a receiver that follows the
  documented verification.
- API5 / API6: every route admits exactly its roles; the corrections export is admin-only and bounded.

The app runs with its real services on SQLite and PostgreSQL (the migration adds the sessions and teams); no
model is loaded: calls are pushed through the API and taken to `done` through the repository's state machine.
"""

import hashlib
import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest
from conftest import tone, write_audio
from fastapi.testclient import TestClient
from service_builders import auth, database_url, make_settings, new_key, push, quiet_services
from sqlalchemy import select

from api.auth import SESSION_COOKIE, FailureLimiter
from api.main import create_app
from models import DepartmentSuggestion, Ticket, TicketField
from pipeline.service.database import ApiKey, Call, LoginSession, utcnow
from pipeline.service.keys import SESSION_TOUCH_S
from pipeline.service.webhooks import verify, verify_legacy
from pipeline.service.wiring import make_jobs

TICKET = Ticket(
    fields={**Ticket.empty().fields, "summary": TicketField("市民来电反映：小区楼下夜间施工噪音扰民。", 0.8)},
    department_suggestions=[DepartmentSuggestion("城市管理行政执法局", 0.6)],
    review="check",
)

# who holds which key: (role, agent id, team, webhook)
HOLDERS = {
    "pbx_x": ("telephony", None, None, True),
    "pbx_y": ("telephony", None, None, True),
    "op_a1": ("operator", "A1", "T1", False),
    "op_a2": ("operator", "A2", "T1", False),  # A1's teammate
    "op_b1": ("operator", "B1", "T2", False),
    "op_solo": ("operator", "S1", None, False),  # an agent id, no team
    "op_none": ("operator", None, None, False),  # neither: sees no call
    "qa": ("qa", None, None, False),
    "admin": ("admin", None, None, False),
}
# call id → (pushed by, agent id)
CALLS = {
    "x-a1": ("pbx_x", "A1"),
    "x-a2": ("pbx_x", "A2"),
    "y-b1": ("pbx_y", "B1"),
    "y-s1": ("pbx_y", "S1"),
}
EVERY_CALL = set(CALLS)
VISIBLE = {
    "pbx_x": {"x-a1", "x-a2"},
    "pbx_y": {"y-b1", "y-s1"},
    "op_a1": {"x-a1", "x-a2"},
    "op_a2": {"x-a1", "x-a2"},
    "op_b1": {"y-b1"},
    "op_solo": {"y-s1"},
    "op_none": set(),
    "qa": EVERY_CALL,
    "admin": EVERY_CALL,
}


def transcript_document(call_id: str) -> dict:
    def turn(role: str, channel: int, start: float, text: str) -> dict:
        words = [{"start": start, "end": start + 1.0, "text": text, "probability": 0.9}]
        return {"role": role, "speaker": role, "channel": channel, "start": start, "end": start + 1.0, "text": text,
                "confidence": 0.9, "words": words}  # fmt: skip

    turns = [turn("agent", 0, 0.0, "您好，12345热线"), turn("caller", 1, 1.0, "楼下晚上施工太吵了")]
    return {"call_id": call_id, "duration": 2.0, "sample_rate": 8000, "channels": 2, "language": "zh",
            "model": "test", "turns": turns, "schema_version": "1.2"}  # fmt: skip


def finish(services, call_id: str) -> list[str]:
    """Take a pushed call through the repository's state machine to done; returns its webhook deliveries."""
    repository = services.repository
    assert repository.claim(call_id, "transcribe", 60) is not None
    assert repository.save_transcript(call_id, transcript_document(call_id), {"transcribe": 1.0}, 2.0)
    assert repository.claim(call_id, "extract", 60) is not None
    return repository.finish(call_id, TICKET, {"extract": 0.1})


def wav(tmp_path, name: str, freq: float = 440.0) -> bytes:
    return write_audio(tmp_path / name, np.stack([tone(1.0, 8000, freq), tone(1.0, 8000, freq)]), 8000).read_bytes()


def _services(tmp_path, url: str, **overrides):
    """The in-process services with a queue that runs nothing: calls stay where the tests put them."""
    return quiet_services(make_settings(tmp_path, url, max_upload_mb=1, **overrides))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    """Keys for two telephony clients, operators of two teams and outside them, QA and admin; four calls."""
    tmp_path = tmp_path_factory.mktemp(f"access-{request.param}")
    with database_url(request.param, tmp_path) as url:
        services = _services(
            tmp_path, url, auth={"max_failures": 10_000}, webhooks={"allow_private": True}
        )  # the throttle has its own test
        keys = {
            holder: new_key(
                services,
                role,
                holder,
                webhook_url="http://127.0.0.1:9/hook" if hook else None,
                agent_id=agent,
                team=team,
            )
            for holder, (role, agent, team, hook) in HOLDERS.items()
        }
        recording = wav(tmp_path, "call.wav")
        app = create_app(services=services)
        with TestClient(app) as client:
            for call_id, (holder, agent) in CALLS.items():
                response = push(client, keys[holder], recording, call_id, agent_id=agent)
                assert response.status_code == 202, response.text
                finish(services, call_id)
            yield {"app": app, "client": client, "services": services, "keys": keys, "tmp_path": tmp_path}
        services.engine.dispose()


def key_id(services, name: str) -> int:
    with services.repository.sessions() as session:
        return session.scalar(select(ApiKey.id).where(ApiKey.name == name))


# --- item 8, API1: object-level authorisation -----------------------------------------------------------

# every route that takes a call id: method, path, body, the roles it admits (admin always)
CALL_ROUTES = [
    ("GET", "/v1/calls/{call_id}", None, {"telephony", "operator", "qa"}),
    ("GET", "/v1/calls/{call_id}/live", None, {"telephony", "operator", "qa"}),
    ("GET", "/v1/calls/{call_id}/transcript", None, {"operator", "qa"}),
    ("GET", "/v1/calls/{call_id}/audio", None, {"operator", "qa"}),
    ("GET", "/v1/calls/{call_id}/ticket", None, {"operator", "qa"}),
    ("PATCH", "/v1/calls/{call_id}/ticket", {}, {"operator"}),
    ("POST", "/v1/calls/{call_id}/audit", {"score": 80}, {"qa"}),
    ("GET", "/v1/calls/{call_id}/audits", None, {"qa"}),
    ("GET", "/v1/calls/{call_id}/checks", None, {"operator", "qa"}),
    ("GET", "/v1/calls/{call_id}/webhooks", None, {"telephony"}),
    ("GET", "/v1/calls/{call_id}/related", None, {"operator", "qa"}),
    ("GET", "/v1/calls/{call_id}/links", None, {"operator", "qa"}),
    ("POST", "/v1/calls/{call_id}/links", {"ticket_id": "2018010100001", "action": "dismiss"}, {"operator"}),
    ("DELETE", "/v1/calls/{call_id}/links/{ticket_id}", None, {"operator"}),
]


IN_SCOPE = {
    ("GET", "/v1/calls/{call_id}/related"): (200, 409),
    ("POST", "/v1/calls/{call_id}/links"): (200, 404, 409),
    ("DELETE", "/v1/calls/{call_id}/links/{ticket_id}"): (204, 404),
}


def operations(app) -> set[tuple[str, str]]:
    """Every operation of the app, from its own OpenAPI document."""
    return {(method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item}


def test_the_table_names_every_route_that_takes_a_call_id(world):
    routes = {(method, path) for method, path in operations(world["app"]) if "{call_id}" in path}
    assert routes == {(method, path) for method, path, _, _ in CALL_ROUTES}


@pytest.mark.parametrize(("method", "path", "body", "roles"), CALL_ROUTES)
def test_every_call_route_answers_404_outside_the_callers_scope(world, method, path, body, roles):
    client, keys = world["client"], world["keys"]
    for holder, (role, *_) in HOLDERS.items():
        for call_id in sorted(EVERY_CALL):
            url = path.format(call_id=call_id, ticket_id="2018010100001")
            response = client.request(method, url, headers=auth(keys[holder]), json=body)
            where = (holder, method, path, call_id, response.status_code, response.text[:200])
            if role not in roles and role != "admin":
                assert response.status_code == 403, where  # the role first: says nothing about the call
            elif call_id in VISIBLE[holder]:
                # in scope, the route itself answers (the world's calls have no ticket to compare or link yet)
                assert response.status_code in IN_SCOPE.get((method, path), (200, 201)), where
                assert response.status_code < 300 or response.json()["error"]["message"] != f"no call {call_id}", where
            else:
                assert response.status_code == 404, where
                assert response.json() == {"error": {"code": "not_found", "message": f"no call {call_id}"}}, where
                missing = client.request(
                    method,
                    path.format(call_id="no-such-call", ticket_id="2018010100001"),
                    headers=auth(keys[holder]),
                    json=body,
                )
                assert missing.status_code == 404, "another's call and no call look the same"


def test_an_operator_cannot_read_patch_or_play_another_agents_call_but_can_a_teammates(world):
    client, keys = world["client"], world["keys"]
    a1 = auth(keys["op_a1"])
    for call_id in ("y-b1", "y-s1"):
        assert client.get(f"/v1/calls/{call_id}/transcript", headers=a1).status_code == 404
        assert client.get(f"/v1/calls/{call_id}/audio", headers=a1).status_code == 404
        patch = client.patch(f"/v1/calls/{call_id}/ticket", headers=a1, json={"fields": {"caller_surname": "黑"}})
        assert patch.status_code == 404
    with world["services"].repository.sessions() as session:
        tickets = [call.ticket.to_dict() for call in session.scalars(select(Call)) if call.ticket]
        assert "黑" not in json.dumps(tickets, ensure_ascii=False)
    # A2 is A1's teammate (班组 T1): A1 works on A2's call
    assert client.get("/v1/calls/x-a2/transcript", headers=a1).json()["turns"]
    assert client.get("/v1/calls/x-a2/audio", headers=a1).status_code == 200
    patched = client.patch("/v1/calls/x-a2/ticket", headers=a1, json={"fields": {"honorific": "女士"}})
    assert patched.status_code == 200 and patched.json()["changes"][-1]["actor"] == "op_a1"


def test_search_and_summary_list_only_the_callers_calls(world):
    client, keys = world["client"], world["keys"]

    def found(holder: str, **params) -> list[str]:
        page = client.get("/v1/calls", headers=auth(keys[holder]), params=params).json()
        assert page["total"] == len(page["items"])
        return sorted(item["call_id"] for item in page["items"])

    # (other tests of this module add calls: the four of the table are looked for)
    for holder in ("op_a1", "op_a2", "op_b1", "op_solo", "op_none", "qa", "admin"):
        assert set(found(holder)) & EVERY_CALL == VISIBLE[holder], holder
    assert found("op_none") == []
    assert found("op_a1", agent_id="B1") == [], "a filter narrows the scope, never widens it"
    assert set(found("op_a1", q="施工")) == {"x-a1", "x-a2"}, "text search stays inside it too"
    summary = client.get("/v1/audits/summary", headers=auth(keys["qa"])).json()
    assert {row["agent_id"] for row in summary} == {"A1", "A2", "B1", "S1"}, "QA audits everyone"


def test_a_telephony_client_sees_only_the_calls_it_pushed(world):
    client, keys = world["client"], world["keys"]
    x, y = auth(keys["pbx_x"]), auth(keys["pbx_y"])
    assert client.get("/v1/calls/x-a1", headers=x).status_code == 200
    assert client.get("/v1/calls/x-a1", headers=y).status_code == 404
    assert client.get("/v1/calls/x-a1/webhooks", headers=y).status_code == 404
    own = client.get("/v1/calls/x-a1/webhooks", headers=x).json()
    assert [delivery["event"] for delivery in own] == ["call.done"]


def test_pushing_another_clients_call_id_neither_attaches_nor_tells_anything(world):
    client, keys, services = world["client"], world["keys"], world["services"]

    def stored() -> list[str]:
        return sorted(path.name for path in services.settings.recordings_dir.rglob("*") if path.is_file())

    before = stored()
    same = push(client, keys["pbx_y"], wav(world["tmp_path"], "call.wav"), "x-a1")
    other = push(client, keys["pbx_y"], wav(world["tmp_path"], "other.wav", 660.0), "x-a1")
    for response in (same, other):
        assert response.status_code == 409
        assert response.json() == {"error": {"code": "conflict", "message": "call id x-a1 is already in use"}}
        assert "location" not in response.headers
    assert services.repository.get("x-a1").pushed_by == key_id(services, "pbx_x")
    assert client.get("/v1/calls/x-a1", headers=auth(keys["pbx_y"])).status_code == 404
    assert stored() == before, "the refused recording is not kept"
    again = push(client, keys["pbx_x"], wav(world["tmp_path"], "call.wav"), "x-a1")
    assert again.status_code == 202 and again.json()["created"] is False, "the client that pushed it still may"


def test_a_calls_team_is_fixed_when_it_is_registered(world):
    client, keys, services = world["client"], world["keys"], world["services"]
    assert services.repository.get("x-a1").team == "T1"
    assert services.repository.get("y-s1").team is None
    # A1 moves to team T9: a new key; the old call stays with T1, the new call goes to T9
    new_key(services, "operator", "op_a1_moved", agent_id="A1", team="T9")
    t9 = new_key(services, "operator", "t9_lead", team="T9")
    assert (
        push(client, keys["pbx_x"], wav(world["tmp_path"], "later.wav", 550.0), "x-a1-later", agent_id="A1").status_code
        == 202
    )
    assert services.repository.get("x-a1-later").team == "T9"
    assert client.get("/v1/calls/x-a1", headers=auth(t9)).status_code == 404
    assert client.get("/v1/calls/x-a1", headers=auth(keys["op_a2"])).status_code == 200
    assert client.get("/v1/calls/x-a1-later", headers=auth(t9)).status_code == 200
    assert client.get("/v1/calls/x-a1-later", headers=auth(keys["op_a2"])).status_code == 404


# --- item 7, API2: sessions ------------------------------------------------------------------------------


def log_in(client: TestClient, key: str) -> str:
    response = client.post("/v1/session", json={"key": key})
    assert response.status_code == 200, response.text
    return response.cookies[SESSION_COOKIE]


def with_cookie(client: TestClient, token: str, method: str = "GET", path: str = "/v1/calls/x-a1/transcript", **kw):
    """A request presenting `token` as the login cookie, and nothing else (a copied cookie)."""
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, token)
    try:
        return client.request(method, path, **kw)
    finally:
        client.cookies.clear()


def test_logging_out_ends_the_session_for_every_copy_of_the_cookie(world):
    client, key = world["client"], world["keys"]["op_a1"]
    token = log_in(client, key)
    assert token != key and key not in token, "the cookie is not the key"
    assert with_cookie(client, token).status_code == 200
    assert with_cookie(client, token, "DELETE", "/v1/session").status_code == 204
    assert with_cookie(client, token).status_code == 401, "the old cookie reads nothing after logout"
    assert with_cookie(client, token, path="/v1/session").status_code == 401


def test_revoking_a_key_ends_its_sessions(world):
    client, services = world["client"], world["services"]
    admin = auth(world["keys"]["admin"])
    created = client.post("/v1/keys", headers=admin, json={"name": "temp", "role": "operator", "agent_id": "A1"})
    token = log_in(client, created.json()["key"])
    client.cookies.clear()
    assert with_cookie(client, token).status_code == 200
    assert client.delete(f"/v1/keys/{created.json()['id']}", headers=admin).status_code == 204
    assert with_cookie(client, token).status_code == 401
    assert with_cookie(client, token, path="/v1/session").status_code == 401
    with services.repository.sessions() as session:
        rows = session.scalars(select(LoginSession).where(LoginSession.key_id == created.json()["id"])).all()
        assert rows and all(row.revoked_at is not None for row in rows)


def test_each_login_is_a_new_session_and_a_planted_cookie_is_worthless(world):
    client, keys = world["client"], world["keys"]
    planted = log_in(client, keys["op_b1"])  # the attacker's own login, its cookie planted in the victim's browser
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, planted)
    victims = client.post("/v1/session", json={"key": keys["op_a1"]})
    fresh = victims.cookies[SESSION_COOKIE]
    assert fresh != planted
    assert with_cookie(client, planted).status_code == 401, "the session the browser presented ended at the login"
    assert with_cookie(client, fresh, path="/v1/session").json()["name"] == "op_a1"
    again = log_in(client, keys["op_a1"])
    assert again != fresh
    client.cookies.clear()


def test_the_cookie_is_httponly_strict_secure_and_only_its_hash_is_stored(world):
    services = world["services"]
    with TestClient(world["app"], base_url="https://hotline.test") as secure:
        response = secure.post("/v1/session", json={"key": world["keys"]["qa"]})
    token = response.cookies[SESSION_COOKIE]
    cookies = {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}
    attributes = [part.strip().lower() for part in cookies[SESSION_COOKIE].split(";")]
    assert {"httponly", "samesite=strict", "secure", "path=/", f"max-age={12 * 3600}"} <= set(attributes)
    assert "max-age=0" in cookies["hotline_key"].lower(), "a cookie holding a key from before is removed"
    assert token.startswith("hs_") and len(token) == 46
    with services.repository.sessions() as session:
        row = session.scalars(select(LoginSession).order_by(LoginSession.id.desc())).first()
        values = json.dumps([str(getattr(row, column.key)) for column in LoginSession.__table__.columns])
    assert token not in values and row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (row.expires_at - row.created_at).total_seconds() == 12 * 3600


def test_a_change_with_the_cookie_needs_the_pages_header(world):
    client = world["client"]
    token = log_in(client, world["keys"]["op_a1"])
    body = {"fields": {"honorific": "先生"}}
    assert with_cookie(client, token, "PATCH", "/v1/calls/x-a1/ticket", json=body).status_code == 403
    allowed = with_cookie(client, token, "PATCH", "/v1/calls/x-a1/ticket", json=body, headers={"X-Hotline-UI": "1"})
    assert allowed.status_code == 200


def test_a_session_ends_after_the_shift_and_after_idle_time(world):
    services = world["services"]
    operator, start = key_id(services, "op_a1"), utcnow()
    idle_s, shift_s = 2 * 3600, 12 * 3600

    def opened() -> str:
        return services.keys.open_session(operator, max_age_s=shift_s, now=start)

    def seen(token: str, after_s: float):
        return services.keys.session_principal(token, idle_s=idle_s, now=start + timedelta(seconds=after_s))

    def last_seen(token: str) -> float:
        digest = hashlib.sha256(token.encode()).hexdigest()
        with services.repository.sessions() as session:
            row = session.scalars(select(LoginSession).where(LoginSession.token_hash == digest)).one()
            return (row.last_seen_at - start).total_seconds()

    token = opened()
    assert seen(token, 30).name == "op_a1"
    assert last_seen(token) == 0, "a use within a minute of the last is not written"
    assert seen(token, SESSION_TOUCH_S + 1) is not None and last_seen(token) == SESSION_TOUCH_S + 1
    # used every 90 minutes, it lives to the end of the shift and no further
    for minutes in range(90, 12 * 60, 90):
        assert seen(token, minutes * 60) is not None, minutes
    assert seen(token, shift_s) is None
    # unused for the idle time, it ends
    idle = opened()
    assert seen(idle, idle_s - 1) is not None
    assert seen(idle, 2 * idle_s - 1) is None


@pytest.fixture
def throttled(tmp_path):
    with database_url("sqlite", tmp_path) as url:
        services = _services(tmp_path, url, auth={"max_failures": 3, "failure_window_s": 60})
        keys = {
            role: new_key(services, role, agent_id="A1" if role == "operator" else None)
            for role in ("operator", "admin")
        }
        app = create_app(services=services)
        with (
            TestClient(app, client=("198.51.100.7", 5000)) as attacker,
            TestClient(app, client=("198.51.100.8", 5000)) as colleague,
        ):
            yield {"attacker": attacker, "colleague": colleague, "keys": keys}
        services.engine.dispose()


def test_guessing_keys_or_logins_is_throttled_per_client_address(throttled, caplog):
    attacker, colleague, keys = throttled["attacker"], throttled["colleague"], throttled["keys"]
    with caplog.at_level(logging.WARNING, logger="api.auth"):
        guesses = [
            attacker.get("/v1/calls", headers=auth("hk_" + "A" * 43)),
            attacker.post("/v1/session", json={"key": "hk_" + "B" * 43}),
            attacker.get("/v1/keys", headers={"X-API-Key": "hk_" + "C" * 43}),
        ]
    assert [response.status_code for response in guesses] == [401, 401, 401]
    # the block is a security event an operator of the service sees in the log, once
    assert [record.getMessage() for record in caplog.records if record.name == "api.auth"] == [
        "client 198.51.100.7 blocked: 3 invalid keys or failed logins within 60 s"
    ]
    for blocked in (
        attacker.get("/v1/calls", headers=auth("hk_" + "D" * 43)),
        attacker.get("/v1/calls", headers=auth(keys["operator"])),  # not even a right guess gets through
        attacker.post("/v1/session", json={"key": keys["operator"]}),
    ):
        assert blocked.status_code == 429, blocked.text
        assert blocked.json()["error"]["code"] == "too_many_requests"
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
    assert colleague.get("/v1/calls", headers=auth(keys["operator"])).status_code == 200, "other addresses are not"


def test_the_limiter_forgets_failures_after_its_window_and_stays_small():
    now = [0.0]
    limiter = FailureLimiter(3, 60, max_addresses=100, clock=lambda: now[0])
    for second in (0, 10, 20):
        now[0] = second
        assert limiter.retry_after("a") == 0
        blocked = limiter.fail("a")
    assert blocked, "the third failure is the one that blocks"
    assert limiter.retry_after("a") == 40, "until the failure at 0 s leaves the 60 s window"
    now[0] = 60.5
    assert limiter.retry_after("a") == 0
    for index in range(1_000):
        limiter.fail(f"flood-{index}")
    assert len(limiter) <= 100


# --- API5: function-level authorisation; API6: sensitive flows -----------------------------------------

ROLES = ("telephony", "operator", "qa", "admin")
HOLDER_OF = {"telephony": "pbx_x", "operator": "op_a1", "qa": "qa", "admin": "admin"}
# every route of the API: method, path, body, the roles it admits (admin always); None = no key needed
ALL_ROUTES = [
    ("POST", "/v1/calls", None, {"telephony"}),
    ("GET", "/v1/calls", None, {"operator", "qa"}),
    *CALL_ROUTES,
    ("GET", "/v1/audits/summary", None, {"qa"}),
    ("GET", "/v1/reports", None, {"qa"}),
    ("POST", "/v1/reports", {"kind": "weekly", "start": "2018-05-14", "last_day": "2018-05-20"}, {"qa"}),
    ("GET", "/v1/reports/{name}", None, {"qa"}),
    ("GET", "/v1/reference", None, {"operator", "qa"}),
    ("GET", "/v1/reference/departments", None, {"operator"}),
    ("GET", "/v1/corrections", None, {"admin"}),
    ("GET", "/v1/keys", None, {"admin"}),
    ("POST", "/v1/keys", {"name": "made-in-test", "role": "qa"}, {"admin"}),
    ("DELETE", "/v1/keys/{key_id}", None, {"admin"}),
    ("POST", "/v1/session", None, None),
    ("GET", "/v1/session", None, None),
    ("DELETE", "/v1/session", None, None),
]


def test_every_route_admits_exactly_its_roles(world):
    client, keys = world["client"], world["keys"]
    app_routes = {(method, path) for method, path in operations(world["app"]) if path.startswith("/v1/")}
    assert app_routes == {(method, path) for method, path, _, _ in ALL_ROUTES}, "a route the table does not know"
    for method, path, body, roles in ALL_ROUTES:
        if roles is None:
            continue
        url = path.format(
            call_id="x-a1", key_id=987_654, name="weekly-2018-05-14-2018-05-20.html", ticket_id="2018010100001"
        )
        for role in ROLES:
            response = client.request(method, url, headers=auth(keys[HOLDER_OF[role]]), json=body)
            if role in roles or role == "admin":
                assert response.status_code not in (401, 403), (method, path, role, response.text)
            else:
                assert response.status_code == 403, (method, path, role, response.status_code)
        assert client.request(method, url, json=body).status_code == 401
        assert client.request(method, url, json=body, headers=auth("hk_" + "Z" * 43)).status_code == 401


def test_the_corrections_export_is_bounded(world):
    client, keys = world["client"], world["keys"]
    admin = auth(keys["admin"])
    for call_id in ("y-b1", "y-s1"):
        response = client.patch(f"/v1/calls/{call_id}/ticket", headers=admin, json={"accept": True})
        assert response.status_code == 200
    everything = client.get("/v1/corrections", headers=admin, params={"format": "jsonl"}).text.splitlines()
    assert len(everything) >= 2
    first = client.get("/v1/corrections", headers=admin, params={"format": "jsonl", "limit": 1}).text.splitlines()
    assert first == everything[:1]
    assert client.get("/v1/corrections", headers=admin, params={"limit": 100_001}).status_code == 422
    assert client.get("/v1/corrections", headers=auth(keys["qa"])).status_code == 403


# --- item 9: a webhook replayed under a new delivery id ------------------------------------------------


class _Capture(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format, *args):
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", server.received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def documented_receiver(secret: str, requests: list[tuple[dict, bytes]]) -> list[str]:
    """What pipeline/service/webhooks.py tells a receiver to do: verify the Standard Webhooks signature and the time,
    then act once per webhook-id (signed). Returns the delivery ids acted on."""
    seen, acted = set(), []
    for headers, body in requests:
        if not verify(secret, headers, body):
            continue
        delivery = headers["webhook-id"]
        if delivery in seen:
            continue
        seen.add(delivery)
        acted.append(delivery)
    return acted


def test_a_webhook_replayed_under_a_new_delivery_id_is_done_once(world, receiver):
    url, received = receiver
    client, services = world["client"], world["services"]
    key = new_key(services, "telephony", "pbx-hooked", webhook_url=url)
    assert push(client, key, wav(world["tmp_path"], "hooked.wav", 880.0), "hooked-1").status_code == 202
    [delivery_id] = finish(services, "hooked-1")
    jobs = make_jobs(services.settings, services.repository, services.store, services.queue)
    assert jobs.deliver_webhook(delivery_id) == "delivered"
    [(headers, body)] = received
    assert headers["webhook-id"] == headers["x-hotline-delivery"] == delivery_id == json.loads(body)["delivery_id"]
    # an eavesdropper sends the captured request again at once, under a delivery id of its own
    forged_id = "00000000-0000-4000-8000-000000000000"
    forged = {**headers, "webhook-id": forged_id, "x-hotline-delivery": forged_id}
    assert httpx.post(url, content=body, headers=forged).status_code == 204
    secret = services.repository.delivery(delivery_id)[1]
    assert secret.startswith("whsec_"), "a new key's secret is in the Standard Webhooks format"
    assert documented_receiver(secret, received) == [delivery_id]
    replay_headers, replay_body = received[1]
    assert not verify(secret, replay_headers, replay_body), "the standard signature covers webhook-id"
    assert not verify_legacy(
        secret,
        replay_headers["x-hotline-timestamp"],
        replay_headers["x-hotline-signature"],
        replay_body,
        delivery_id=replay_headers["x-hotline-delivery"],
    ), "a receiver keyed on the header sees the forgery"
