"""GET /v1/calls/{id}/live for real: a real uvicorn, a real Redis (db 13), events written to the call's stream in the
workers' wire format (and, in the last test, published by a live worker over the fake transcriber while frames
stream in over the WebSocket). The browser's EventSource is played by httpx reading the stream line by line."""

import json
import threading
import time
import wave
from contextlib import contextmanager

import httpx
import pytest
import redis
from live_fakes import CountingExtractor, FakeTranscribers
from service_builders import auth, fresh_redis, new_key
from test_live import (
    RATE,
    SPEECH,
    TURN_IDS,
    call_samples,
    live_server,
    live_worker,
    open_socket,
    receive,
    send_frames,
    start_frame,
    wire_frames,
)

from models import CallTranscript, Ticket, TicketField, Turn
from pipeline.service.live import wire

TEST_REDIS_DB = 13  # this suite's own database number on the shared Redis


@pytest.fixture
def redis_url():
    with fresh_redis(TEST_REDIS_DB) as url:
        yield url


@pytest.fixture
def server(tmp_path, redis_url):
    with live_server(tmp_path, redis_url) as server:
        yield server


def start_call(server, call_id: str) -> None:
    """A call started over the WebSocket, as a PBX starts one: live in the database and in Redis."""
    with open_socket(server) as ws:
        ws.send(start_frame(call_id))
        assert receive(ws)["type"] == "started"


@contextmanager
def subscribe(server, call_id: str, key: str | None = None, last_event_id: str | None = None):
    """The SSE stream as an iterator of (event, id, data); the response itself as `.response`."""
    headers = {**auth(key or server.operator), "Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    with (
        httpx.Client(base_url=server.http, timeout=httpx.Timeout(10.0, read=30.0)) as client,
        client.stream("GET", f"/v1/calls/{call_id}/live", headers=headers) as response,
    ):
        yield response, sse_messages(response)


def sse_messages(response: httpx.Response):
    """Messages as the browser's EventSource dispatches them: comments and the retry field left out."""
    fields: dict[str, list[str]] = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in fields:
                yield fields.get("event", ["message"])[0], fields.get("id", [None])[0], "\n".join(fields["data"])
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields.setdefault(name, []).append(value.removeprefix(" "))


def publish(client: redis.Redis, call_id: str, kind: str, data: dict) -> str:
    """An event as a live worker publishes it; its Redis entry id."""
    entry = client.xadd(wire.events_key(call_id), {"type": kind, "data": json.dumps(data, ensure_ascii=False)})
    return entry.decode()


def test_events_arrive_with_their_redis_ids_and_a_reconnect_gets_only_the_later_ones(server, redis_url):
    call_id = "sse-1"
    start_call(server, call_id)
    client = redis.Redis.from_url(redis_url)
    first = publish(client, call_id, "turn", {"id": "0:4000", "role": "agent", "text": "您好，12345热线"})
    second = publish(client, call_id, "ticket", {"fields": {"summary": {"value": "市民来电反映：路灯不亮"}}})

    with subscribe(server, call_id) as (response, messages):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert next(messages) == (
            "turn",
            first,
            json.dumps({"id": "0:4000", "role": "agent", "text": "您好，12345热线"}, ensure_ascii=False),
        )
        kind, entry, data = next(messages)
        assert (kind, entry) == ("ticket", second)
        assert json.loads(data)["fields"]["summary"]["value"] == "市民来电反映：路灯不亮"
        # an event published while the page listens comes at once, without a reconnect
        third = publish(client, call_id, "turn", {"id": "1:16000", "role": "caller", "text": "我家楼下路灯坏了"})
        assert next(messages)[:2] == ("turn", third)

    # the browser drops the connection and reconnects with the last id it got: only what came after
    fourth = publish(client, call_id, "turn", {"id": "0:28800", "role": "agent", "text": "好的"})
    final = publish(
        client, call_id, "final", {"status": "done", "call_id": call_id, "reason": "hangup", "partial": False}
    )
    with subscribe(server, call_id, last_event_id=third) as (_, messages):
        received = list(messages)  # the stream ends after `final`
    assert [(kind, entry) for kind, entry, _ in received] == [("turn", fourth), ("final", final)]
    assert json.loads(received[-1][2])["status"] == "done"
    client.close()


def test_who_may_follow_a_call(server, redis_url):
    call_id = "sse-2"
    start_call(server, call_id)
    with httpx.Client(base_url=server.http, timeout=10) as client:
        assert client.get(f"/v1/calls/{call_id}/live").status_code == 401
        assert client.get(f"/v1/calls/{call_id}/live", headers=auth("not-a-key")).status_code == 401
        # an operator of another agent id does not see the call: the same 404 as for no call at all
        stranger = new_key(server.services, "operator", "op-other", agent_id="B2048")
        hidden = client.get(f"/v1/calls/{call_id}/live", headers=auth(stranger))
        unknown = client.get("/v1/calls/no-such-call/live", headers=auth(server.operator))
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.json()["error"]["code"] == unknown.json()["error"]["code"] == "not_found"
        bad_id = client.get(f"/v1/calls/{call_id}/live", headers={**auth(server.operator), "Last-Event-ID": "x; y"})
        assert bad_id.status_code == 400
        assert bad_id.json()["error"]["code"] == "bad_request"


def turns_in(received: list) -> list[str]:
    return [json.loads(data)["id"] for kind, _, data in list(received) if kind == "turn"]


def test_a_worker_s_turns_reach_the_page_before_the_call_ends_and_a_finished_call_answers_final(server, redis_url):
    call_id = "sse-3"
    frames = wire_frames(call_samples())
    received: list[tuple[str, str | None, str]] = []
    listening = threading.Event()

    def listen():
        with subscribe(server, call_id) as (_, messages):
            listening.set()
            received.extend(messages)

    with live_worker(server, redis_url, FakeTranscribers(), CountingExtractor()):
        with open_socket(server) as ws:
            ws.send(start_frame(call_id))
            assert receive(ws)["type"] == "started"
            listener = threading.Thread(target=listen, daemon=True)
            listener.start()
            assert listening.wait(10)
            ws_events: list[dict] = []
            send_frames(ws, frames, 1, ws_events)
            # the utterances closed by their trailing silence reach the page before the hang-up
            deadline = time.monotonic() + 10
            while len(turns_in(received)) < len(SPEECH) - 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert turns_in(received)[: len(SPEECH) - 1] == TURN_IDS[: len(SPEECH) - 1]
            ws.send(json.dumps({"type": "end"}))
            while receive(ws, timeout=30)["type"] != "final":
                pass
        listener.join(timeout=30)
    assert not listener.is_alive(), "the stream ends after the final event"
    assert set(turns_in(received)) == set(TURN_IDS)
    assert received[-1][0] == "final" and json.loads(received[-1][2])["status"] == "done"
    assert all(entry for _, entry, _ in received), "every event carries its Redis id"

    # the call is over: the stream says so at once, with its status, and ends
    with subscribe(server, call_id) as (_, messages):
        assert [(kind, json.loads(data)) for kind, _, data in messages] == [
            ("final", {"status": "done", "call_id": call_id})
        ]


class HeldFullCallPass:
    """The worker's full-call pass (`Refine`): reads the recording it is handed, waits for `go`, and says different
    words and a different summary and address than the live pass did."""

    def __init__(self):
        self.go = threading.Event()
        self.seen: list[tuple[int, int, dict]] = []

    def __call__(self, recording, meta):
        with wave.open(str(recording)) as audio:
            self.seen.append((audio.getnchannels(), audio.getnframes(), dict(meta.channel_map)))
        assert self.go.wait(30)
        turn = Turn("caller", "SPEAKER_01", 1, 2.0, 3.2, "整通复核的转写", 0.9, [])
        transcript = CallTranscript(meta.call_id, 6.6, RATE, 2, "zh", "batch", [turn])
        ticket = Ticket.empty()
        ticket.fields["summary"] = TicketField("市民来电反映：整通复核", 0.9)
        ticket.fields["address"] = TicketField("整通复核的地址", 0.9)
        return transcript, ticket


def test_the_full_call_pass_refines_after_the_final_event_and_keeps_what_the_operator_corrected(server, redis_url):
    call_id = "sse-refine"
    samples = call_samples()
    refine = HeldFullCallPass()
    with live_worker(server, redis_url, FakeTranscribers(), CountingExtractor(), refine=refine):
        with open_socket(server) as ws:
            ws.send(start_frame(call_id))
            assert receive(ws)["type"] == "started"
            send_frames(ws, wire_frames(samples), 1, [])
            ws.send(json.dumps({"type": "end"}))
            while (final := receive(ws, timeout=30))["type"] != "final":
                pass
        assert final["data"]["refining"] is True and final["data"]["status"] == "done"
        # the final ticket is there at once; the operator corrects the address before the full-call pass lands
        with httpx.Client(base_url=server.http, timeout=10) as http:
            ticket = http.get(f"/v1/calls/{call_id}/ticket", headers=auth(server.operator)).json()
            assert ticket["ticket"]["fields"]["summary"]["value"] == "2 caller turns"
            patch = {"fields": {"address": "海口市龙华区滨海大道1号"}}
            assert http.patch(f"/v1/calls/{call_id}/ticket", headers=auth(server.operator), json=patch).is_success
        client = redis.Redis.from_url(redis_url)
        final_id = [e for e, f in client.xrange(wire.events_key(call_id)) if f[b"type"] == b"final"][-1].decode()
        client.close()
        # the page that got the final event stays on the stream for the refinement, and the stream ends after it
        with subscribe(server, call_id, last_event_id=final_id) as (_, messages):
            refine.go.set()
            received = [(kind, json.loads(data)) for kind, _, data in messages]
    assert received == [("refined", {"call_id": call_id, "refined": True, "kept": ["address"], "accepted": False})]
    assert refine.seen == [(2, len(samples), {"0": "agent", "1": "caller"})], "the assembled recording, roles mapped"

    repository = server.services.repository
    call = repository.get(call_id)
    assert [turn["text"] for turn in call.transcript["turns"]] == ["整通复核的转写"]
    assert call.transcript["metadata"]["refined"] is True
    fields = call.ticket.fields
    assert fields["summary"].value == "市民来电反映：整通复核", "a field nobody touched takes the refined value"
    assert (fields["address"].value, fields["address"].source) == ("海口市龙华区滨海大道1号", "corrected")
    assert call.machine_ticket.value("address") == "整通复核的地址", "the machine's ticket is the refined one"
    assert [event.event for event in repository.events(call_id)][-1] == "refined"
    (correction,) = [change.changes for change in repository.ticket_changes(call_id)]
    assert correction["address"]["new"] == "海口市龙华区滨海大道1号", "the correction's record stays"
    # a second pass (a worker that took the call over after the first one stored its result) changes nothing
    assert repository.refine_live(call_id, call.transcript, 6.6, Ticket.empty()) is None
