"""A hostile telephony client on the live endpoints (GET /v1/live, docs/LIVE.md), replayed against a real uvicorn
and a real Redis: each test is an attack that once worked. The app runs on SQLite with a queue that runs nothing
and no live worker: what is checked is what the API process lets into Redis and the database."""

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from service_builders import auth, fresh_redis, make_settings, new_key, push, quiet_services, serving
from websockets.sync.client import connect

from api.main import create_app
from pipeline.service.live import wire

ROOT = Path(__file__).resolve().parents[2]
TEST_REDIS_DB = 9  # this suite's own database number on the shared Redis
RATE = 8000
CALLER = "13912345678"


@dataclass
class Live:
    http: str
    ws: str
    services: object
    telephony: str
    redis: redis.Redis


@contextmanager
def live_app(tmp_path: Path, **live):
    with fresh_redis(TEST_REDIS_DB) as url:
        settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'hostile.db'}", redis_url=url, live=live)
        services = quiet_services(settings)
        telephony = new_key(services, "telephony", webhook_url="http://127.0.0.1:9/hook")
        client = redis.Redis.from_url(url)
        try:
            with serving(create_app(services=services), "uvicorn-hostile", ws="websockets-sansio") as port:
                yield Live(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/v1/live", services, telephony, client)
        finally:
            client.close()
            services.engine.dispose()


def start_frame(call_id: str, **meta) -> str:
    return json.dumps(
        {
            "type": "start",
            "call_id": call_id,
            "meta": {"agent_id": "A1024", **meta},
            "format": {"encoding": "mulaw", "sample_rate": RATE, "channels": 1},
        }
    )


def first_answer(live: Live, frame: str) -> dict:
    with connect(live.ws, additional_headers=auth(live.telephony), open_timeout=10) as ws:
        ws.send(frame)
        return json.loads(ws.recv(timeout=10))


@pytest.mark.parametrize("number", ["139\x0012345678", "139\u202e12345678", "139\x1b[2J"])
def test_a_caller_number_with_control_or_direction_characters_is_refused_live_and_pushed(tmp_path, number):
    """A NUL in the caller number was a 500 on push and 'unavailable, retry' on a live start with PostgreSQL (its
    text cannot hold one); an override showed the number backwards to the operator. Both are refused at the edge."""
    wav = (ROOT / "samples" / "demo-call.wav").read_bytes()
    with live_app(tmp_path) as live, httpx.Client(base_url=live.http, timeout=30) as http:
        answer = first_answer(live, start_frame("hostile-ani", caller_number=number))
        assert (answer["type"], answer["code"]) == ("error", "bad_metadata"), answer
        as_field = push(http, live.telephony, wav, "hostile-ani-1", caller_number=number)
        metadata = json.dumps({"caller_number": number})
        as_document = push(http, live.telephony, wav, "hostile-ani-2", metadata=metadata)
        assert (as_field.status_code, as_document.status_code) == (422, 422), (as_field.text, as_document.text)
        # an ordinary number, "+86…" and a PBX's "anonymous" still pass
        for call_id, ani in (("ok-1", CALLER), ("ok-2", "+86" + CALLER), ("ok-3", "anonymous")):
            assert first_answer(live, start_frame(call_id, caller_number=ani))["type"] == "started"
        assert not live.redis.exists(wire.meta_key("hostile-ani"))


def test_a_flood_faster_than_real_time_is_taken_at_real_time_past_the_lead_and_nothing_is_lost(tmp_path):
    """A client could push an hour of audio into Redis in seconds (600 s of 16 kHz stereo in 2 s, +40 MB:
    bench/live_flood.py), on as many calls as it liked. Past `max_lead_s` ahead of the call's clock, the server now
    reads frames at real time."""
    lead_s, frame_s, frames = 1.0, 0.1, 30  # 3 s of audio sent at once
    audio = b"\xff" * int(RATE * frame_s)
    with live_app(tmp_path, max_lead_s=lead_s) as live:
        with connect(live.ws, additional_headers=auth(live.telephony), open_timeout=10) as ws:
            ws.send(start_frame("hostile-flood", caller_number=CALLER))
            assert json.loads(ws.recv(timeout=10))["type"] == "started"
            acked: list[int] = []

            def read_acks():
                while len(acked) < frames:
                    acked.append(json.loads(ws.recv(timeout=30))["seq"])

            reader = threading.Thread(target=read_acks, daemon=True)
            reader.start()
            sent_at = time.monotonic()
            for seq in range(1, frames + 1):
                ws.send(seq.to_bytes(4, "big") + audio)
            reader.join(60)
            elapsed = time.monotonic() - sent_at
        # the call's clock starts at its start frame: the Redis time of its entry in the calls stream
        (started_entry,) = live.redis.xrange(wire.CALLS)
        opened_at = int(started_entry[0].split(b"-")[0]) / 1000
        entries = live.redis.xrange(wire.audio_key("hostile-flood"))

    assert acked == list(range(1, frames + 1))
    assert [int(fields[b"seq"]) for _, fields in entries] == acked, "every frame appended once, in order"
    # each frame went in no earlier than the call's clock allowed (the entry id is Redis' clock, in ms)
    for entry_id, fields in entries:
        appended_s = int(entry_id.split(b"-")[0]) / 1000 - opened_at
        audio_end_s = (int(fields[b"sample"]) + len(audio)) / RATE
        assert audio_end_s <= appended_s + lead_s + 0.002, (audio_end_s, appended_s)
    # a lower bound only: a busy machine makes it later, never sooner
    assert elapsed >= frames * frame_s - lead_s - 0.2


def test_a_frame_past_the_lead_is_held_not_refused_and_the_call_goes_on(tmp_path):
    """Pacing waits, it does not close: a client that resends a backlog after a dropped connection keeps its call."""
    with live_app(tmp_path, max_lead_s=0.2) as live:
        with connect(live.ws, additional_headers=auth(live.telephony), open_timeout=10) as ws:
            ws.send(start_frame("hostile-backlog", caller_number=CALLER))
            json.loads(ws.recv(timeout=10))
            for seq in (1, 2, 3):  # 0.5 s each: the second and third wait for the clock
                ws.send(seq.to_bytes(4, "big") + b"\xff" * (RATE // 2))
            answers = [json.loads(ws.recv(timeout=10)) for _ in range(3)]
            ws.send(json.dumps({"type": "end"}))
            with pytest.raises(TimeoutError):  # no worker here: the connection waits for the final event
                ws.recv(timeout=0.5)
        state = live.redis.hmget(wire.meta_key("hostile-backlog"), "state", "acked_seq")
    assert answers == [{"type": "ack", "seq": seq} for seq in (1, 2, 3)]
    assert state == [b"ended", b"3"]


def test_a_last_event_id_past_redis_ids_is_a_400_not_a_broken_stream(tmp_path):
    """20 digits passed the pattern but not Redis: XREAD failed after the 200, the stream broke with a traceback in
    the log, and a browser reconnected with the same id every 2 s."""
    with live_app(tmp_path) as live, httpx.Client(base_url=live.http, timeout=10) as http:
        operator = new_key(live.services, "operator", agent_id="A1024")
        assert first_answer(live, start_frame("hostile-sse", caller_number=CALLER))["type"] == "started"
        for bad in ("99999999999999999999-0", "1-18446744073709551616"):
            answer = http.get("/v1/calls/hostile-sse/live", headers={**auth(operator), "Last-Event-ID": bad})
            assert answer.status_code == 400, (bad, answer.text)
        highest = f"{2**64 - 1}-{2**64 - 1}"
        with http.stream(
            "GET", "/v1/calls/hostile-sse/live", headers={**auth(operator), "Last-Event-ID": highest}
        ) as s:
            assert s.status_code == 200
            assert next(s.iter_bytes()).startswith(b"retry:")
