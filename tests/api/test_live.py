"""Live calls for real: a real uvicorn serving GET /v1/live over a real WebSocket, a real Redis (db 12), live workers
reading the streams. The transcriber is the fake at the worker's port (tests/live_fakes.py: utterances by
loudness), except in the last test, which runs `hotline live-worker` processes with the real LiveTranscriber.

What each test shows: a call streamed in is in the operator's queue at once and finishes like a pushed one (turns,
ticket, recording, webhook row); a dropped connection resumes with nothing lost and nothing doubled; bad frames get
an error frame and their close code, and what was received stays; a client that vanishes leaves a partial call;
a worker that dies mid-call is replaced by another that emits every utterance once."""

import importlib.util
import io
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import wave
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis
from live_fakes import CountingExtractor, FakeTranscribers
from service_builders import (
    RecordingQueue,
    auth,
    fresh_redis,
    hotline_process,
    make_settings,
    new_key,
    quiet_services,
    serving,
)
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from api.main import create_app
from asr import g711
from models import CallMeta, CallNotFoundError
from pipeline.service.live import wire
from pipeline.service.live.client import LivePush, frames_of
from pipeline.service.live.worker import PARTIAL, LiveWorker, LiveWorkerOptions
from pipeline.service.repository import EMPTY_RECORDING

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "samples" / "demo-call.wav"
HOTLINE = Path(sys.executable).with_name("hotline")
TEST_REDIS_DB = 12  # this suite's own database number on the shared Redis
RATE = 8000
FRAME_MS = 20
FORMAT = wire.AudioFormat("mulaw", RATE, 2, {"0": "agent", "1": "caller"})
# (channel, from s, to s): who speaks when in the synthetic call
SPEECH = [(0, 0.5, 1.5), (1, 2.0, 3.2), (0, 3.6, 4.4), (1, 5.0, 6.0)]
TURN_IDS = ["0:4000", "1:16000", "0:28800", "1:40000"]
CALLER = "13800007731"


def call_samples() -> np.ndarray:
    """6.6 s of stereo int16 at 8 kHz: a tone on the speaking party's channel, silence elsewhere."""
    samples = np.zeros((int(6.6 * RATE), 2), dtype=np.int16)
    for channel, start, end in SPEECH:
        t = np.arange(int((end - start) * RATE)) / RATE
        samples[int(start * RATE) : int(start * RATE) + len(t), channel] = (8000 * np.sin(2 * np.pi * 440 * t)).astype(
            np.int16
        )
    return samples


def wire_frames(samples: np.ndarray) -> list[bytes]:
    return list(frames_of(samples, FORMAT, FRAME_MS))


def as_received(frames: list[bytes]) -> np.ndarray:
    """What the server makes of µ-law frames: the int16 samples, (n, 2)."""
    return g711.decode(b"".join(frames), "mulaw").reshape(-1, 2)


@pytest.fixture
def redis_url():
    with fresh_redis(TEST_REDIS_DB) as url:
        yield url


@dataclass
class LiveServer:
    http: str
    ws: str
    services: object
    telephony: str
    operator: str


@contextmanager
def live_server(tmp_path: Path, redis_url: str, **live):
    """A real uvicorn serving the app (WebSocket included) on a free port; no jobs run in it."""
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'live.db'}", redis_url=redis_url, live=live)
    services = quiet_services(settings)
    telephony = new_key(services, "telephony", webhook_url="http://127.0.0.1:9/hotline-hook")
    operator = new_key(services, "operator", agent_id="A1024")
    try:
        with serving(create_app(services=services), "uvicorn-live-tests", ws="websockets-sansio") as port:
            yield LiveServer(
                f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/v1/live", services, telephony, operator
            )
    finally:
        services.engine.dispose()


@contextmanager
def live_worker(server: LiveServer, redis_url: str, transcribers, extractor=None, name="w1", refine=None, **options):
    """A LiveWorker on a thread of the test (the fakes at its ports), until the block ends or `stop` is set."""
    values = {"lease_s": 10.0, "abandon_after_s": 30.0, "block_s": 0.1, **options}
    client = redis.Redis.from_url(redis_url)
    worker = LiveWorker(
        client,
        server.services.repository,
        server.services.store,
        RecordingQueue(),
        transcribers,
        extractor,
        LiveWorkerOptions(**values),
        name=name,
        refine=refine,
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), name=f"live-worker-{name}", daemon=True)
    thread.start()
    try:
        yield worker, stop
    finally:
        stop.set()
        thread.join(timeout=10)
        client.close()


def open_socket(server: LiveServer, key: str | None = None):
    """`with open_socket(server) as ws:`, or `dial` for a connection the test drops or leaves itself."""
    return connect(server.ws, additional_headers=auth(key or server.telephony), open_timeout=10)


def dial(server: LiveServer, key: str | None = None):
    return open_socket(server, key).__enter__()


def start_frame(call_id: str, fmt: wire.AudioFormat = FORMAT, **meta) -> str:
    return json.dumps(
        {
            "type": "start",
            "call_id": call_id,
            "meta": {"caller_number": CALLER, "agent_id": "A1024", **meta},
            "format": {
                "encoding": fmt.encoding,
                "sample_rate": fmt.sample_rate,
                "channels": fmt.channels,
                "channel_map": {k: "operator" if v == "agent" else v for k, v in fmt.channel_map.items()},
            },
        }
    )


def receive(ws, timeout: float = 10.0) -> dict:
    return json.loads(ws.recv(timeout=timeout))


def send_frames(ws, frames: list[bytes], first_seq: int, events: list | None = None) -> None:
    """Frames numbered from `first_seq`, each acknowledged before the next is sent; the workers' events that come
    meanwhile go to `events`."""
    for offset, frame in enumerate(frames):
        seq = first_seq + offset
        ws.send(seq.to_bytes(4, "big") + frame)
        while (answer := receive(ws))["type"] != "ack":
            assert events is not None, answer
            events.append(answer)
        assert answer == {"type": "ack", "seq": seq}


def refused(ws, timeout: float = 10.0) -> tuple[dict, int]:
    """The error frame, then the close code."""
    error = receive(ws, timeout)
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=timeout)
    return error, closed.value.rcvd.code


def until_final(ws, events: list | None = None, timeout: float = 30.0) -> list[dict]:
    events = [] if events is None else events
    while not events or events[-1]["type"] != "final":
        event = receive(ws, timeout)
        if event["type"] != "ack":
            events.append(event)
    return events


def stored_audio(server: LiveServer, call) -> np.ndarray:
    with server.services.store.open(call.recording_key) as handle, wave.open(io.BytesIO(handle.read())) as recording:
        assert (recording.getnchannels(), recording.getframerate(), recording.getsampwidth()) == (2, RATE, 2)
        return np.frombuffer(recording.readframes(recording.getnframes()), dtype="<i2").reshape(-1, 2)


def audio_entries(redis_url: str, call_id: str) -> list[dict]:
    client = redis.Redis.from_url(redis_url)
    try:
        return [fields for _, fields in client.xrange(wire.audio_key(call_id))]
    finally:
        client.close()


def test_a_live_call_is_queued_at_once_and_finishes_like_a_pushed_one(tmp_path, redis_url):
    samples = call_samples()
    frames = wire_frames(samples)
    extractor = CountingExtractor()
    with (
        live_server(tmp_path, redis_url) as server,
        live_worker(server, redis_url, FakeTranscribers(), extractor),
        open_socket(server) as ws,
        httpx.Client(base_url=server.http) as http,
    ):
        ws.send(start_frame("live-happy"))
        assert receive(ws) == {"type": "started", "call_id": "live-happy", "acked_seq": 0}
        queue = http.get("/v1/calls", params={"status": "live"}, headers=auth(server.operator)).json()
        assert [(call["call_id"], call["status"], call["audio_available"]) for call in queue["items"]] == [
            ("live-happy", "live", False)
        ]
        assert http.get("/v1/calls/live-happy/audio", headers=auth(server.operator)).status_code == 409
        half, events = len(frames) // 2, []
        send_frames(ws, frames[:half], 1, events)
        send_frames(ws, frames[half:], half + 1, events)
        ws.send(json.dumps({"type": "end"}))
        until_final(ws, events)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1000
        ticket = http.get("/v1/calls/live-happy/ticket", headers=auth(server.operator)).json()

    turns = [event["data"] for event in events if event["type"] == "turn"]
    assert [turn["id"] for turn in turns] == TURN_IDS
    assert [turn["role"] for turn in turns] == ["agent", "caller", "agent", "caller"]
    assert events[-1]["type"] == "final" and events[-1]["at"] <= time.time()
    final = {"status": "done", "call_id": "live-happy", "reason": "hangup", "partial": False, "refining": False}
    assert events[-1]["data"] == final, "no full-call pass configured: nothing comes after the final event"
    assert any(event["type"] == "ticket" for event in events[:-1]), "the ticket came during the call"
    assert ticket["ticket"]["fields"]["summary"]["value"] == "2 caller turns"

    repository = server.services.repository
    call = repository.get("live-happy")
    assert call.status == "done" and call.caller_number == CALLER and call.agent_id == "A1024"
    assert [(turn["channel"], turn["role"], turn["text"]) for turn in call.transcript["turns"]] == [
        (0, "agent", "ch0@4000"),
        (1, "caller", "ch1@16000"),
        (0, "agent", "ch0@28800"),
        (1, "caller", "ch1@40000"),
    ]
    assert call.content_type == "audio/wav" and call.recording_key != EMPTY_RECORDING.key
    assert np.array_equal(stored_audio(server, call), as_received(frames)), "the recording is the audio as received"
    assert call.audio_duration_s == pytest.approx(len(samples) / RATE)
    events_logged = [event.event for event in repository.events("live-happy")]
    assert events_logged == ["live", "transcribed", "done"]
    assert [delivery.event for delivery, _ in repository.webhook_log("live-happy")] == ["call.done"]
    assert extractor.calls >= 2  # during the call, and the final ticket


def test_a_dropped_connection_resumes_with_nothing_lost_or_doubled(tmp_path, redis_url):
    frames = wire_frames(call_samples())
    with live_server(tmp_path, redis_url) as server, live_worker(server, redis_url, FakeTranscribers()):
        ws = dial(server)
        ws.send(start_frame("live-resume"))
        receive(ws)
        send_frames(ws, frames[:120], 1, [])
        for seq in range(121, 131):  # sent, maybe not acknowledged: the line drops
            ws.send(seq.to_bytes(4, "big") + frames[seq - 1])
        ws.socket.shutdown(socket.SHUT_RDWR)
        ws.close()

        with open_socket(server) as again:
            again.send(json.dumps({"type": "start", "call_id": "live-resume", "resume": True}))
            resumed = receive(again)
            assert resumed["type"] == "resumed" and 120 <= resumed["acked_seq"] <= 130
            # the client resends from before what the server acknowledged: those are acknowledged, not appended
            events = []
            send_frames(again, frames[99:], 100, events)
            again.send(json.dumps({"type": "end"}))
            until_final(again, events)

    assert [entry[b"seq"] for entry in audio_entries(redis_url, "live-resume")[:-1]] == [
        str(seq).encode() for seq in range(1, len(frames) + 1)
    ]
    call = server.services.repository.get("live-resume")
    assert np.array_equal(stored_audio(server, call), as_received(frames))
    assert [turn["text"] for turn in call.transcript["turns"]] == ["ch0@4000", "ch1@16000", "ch0@28800", "ch1@40000"]
    # a resumed connection gets the call's events from the first (the client keeps turns by id)
    assert [event["data"]["id"] for event in events if event["type"] == "turn"] == TURN_IDS


def test_bad_frames_get_an_error_frame_and_a_close_code_and_what_was_received_stays(tmp_path, redis_url):
    frames = wire_frames(call_samples()[:RATE])
    with live_server(tmp_path, redis_url, max_frame_bytes=4096) as server:

        def resume(call_id: str):
            ws = dial(server)
            ws.send(json.dumps({"type": "start", "call_id": call_id, "resume": True}))
            return ws, receive(ws)

        with open_socket(server) as ws:
            ws.send(start_frame("live-bad"))
            receive(ws)
            send_frames(ws, frames[:3], 1)
            ws.send((5).to_bytes(4, "big") + frames[4])
            error, code = refused(ws)
        assert (error["type"], error["code"], code) == ("error", "out_of_order", 4409)
        assert "expected 4" in error["message"]

        ws, resumed = resume("live-bad")
        assert resumed["acked_seq"] == 3
        ws.send((4).to_bytes(4, "big") + b"\xff" * 5000)  # past max_frame_bytes
        error, code = refused(ws)
        assert (error["code"], code) == ("frame_too_large", 4413)

        for bad in (b"\x00\x00\x00", (4).to_bytes(4, "big") + b"\xff" * 3):  # no audio; half a stereo sample
            ws, _ = resume("live-bad")
            ws.send(bad)
            error, code = refused(ws)
            assert (error["code"], code) == ("malformed", 4400)

        ws, _ = resume("live-bad")
        ws.send("not json")
        assert refused(ws)[1] == 4400
        ws, resumed = resume("live-bad")
        assert resumed["acked_seq"] == 3, "nothing refused was appended"
        send_frames(ws, frames[3:5], 4)  # and the call goes on where it was
        ws.close()
        assert len(audio_entries(redis_url, "live-bad")) == 5

        for first, reason in (
            (b"\x00\x00\x00\x01\xff", "malformed"),  # audio before the start frame
            ('{"type": "start", "call_id": "x"}', "malformed"),  # a new call without its format
            (start_frame("live-odd", wire.AudioFormat("mulaw", 44100, 2, {})), "malformed"),
            (start_frame("live-odd", wire.AudioFormat("mulaw", RATE, 1, {"0": "agent"})), "malformed"),
            (start_frame("live-bad"), "conflict"),  # started already: only a resume continues it
        ):
            with open_socket(server) as ws:
                ws.send(first)
                error, code = refused(ws)
                assert error["code"] == reason, (first, error)
                assert code == (4409 if reason == "conflict" else 4400)

        with open_socket(server, key="not-a-key") as ws:
            error, code = refused(ws)
        assert (error["code"], code) == ("unauthorized", 4401)
        with open_socket(server, key=server.operator) as ws:
            assert refused(ws)[1] == 4403
        other = new_key(server.services, "telephony", "another-pbx")
        with open_socket(server, key=other) as ws:  # another client's call cannot be resumed, nor told apart
            ws.send(json.dumps({"type": "start", "call_id": "live-bad", "resume": True}))
            assert refused(ws)[0]["message"] == "no live call live-bad of this key to resume"


def test_a_client_that_vanishes_leaves_a_partial_call_made_from_what_arrived(tmp_path, redis_url):
    frames = wire_frames(call_samples())
    arrived = frames[:175]  # 3.5 s: the caller's first turn is over, the operator's second not yet begun
    extractor = CountingExtractor()
    with (
        live_server(tmp_path, redis_url) as server,
        live_worker(server, redis_url, FakeTranscribers(), extractor, abandon_after_s=1.0),
    ):
        ws = dial(server)
        ws.send(start_frame("live-gone"))
        receive(ws)
        send_frames(ws, arrived, 1, [])
        ws.socket.shutdown(socket.SHUT_RDWR)
        ws.close()
        deadline = time.monotonic() + 30
        while (call := server.services.repository.get("live-gone")).status == "live":
            assert time.monotonic() < deadline, "the vanished call was never finalised"
            time.sleep(0.1)
        with open_socket(server) as ws:  # too late to resume
            ws.send(json.dumps({"type": "start", "call_id": "live-gone", "resume": True}))
            assert refused(ws)[0]["code"] == "call_ended"

    assert call.status == "done"
    assert [turn["text"] for turn in call.transcript["turns"]] == ["ch0@4000", "ch1@16000"]
    assert [warning["code"] for warning in call.transcript["warnings"]] == [PARTIAL]
    assert PARTIAL in [reason.code for reason in call.ticket.review_reasons]
    assert call.ticket.review == "check", "a partial call is never pre-accepted"
    assert np.array_equal(stored_audio(server, call), as_received(arrived))
    assert audio_entries(redis_url, "live-gone")[-1] == {b"kind": b"end", b"reason": b"abandoned"}


def test_a_worker_that_stops_mid_call_is_replaced_and_every_utterance_lands_once(tmp_path, redis_url):
    held, released = threading.Event(), threading.Event()

    def gate(transcriber):
        """The first worker's transcriber hangs inside the caller's first turn, as a dead process would."""
        if transcriber is transcribers.instances[0] and transcriber.position >= int(2.5 * RATE):
            held.set()
            released.wait()
            raise RuntimeError("the first worker is gone")

    transcribers = FakeTranscribers(gate)
    frames = wire_frames(call_samples())
    with (
        live_server(tmp_path, redis_url) as server,
        live_worker(server, redis_url, transcribers, name="dying", lease_s=1.0) as (_, stop_first),
    ):
        ws = dial(server)
        ws.send(start_frame("live-takeover"))
        receive(ws)
        events: list = []
        for start in range(0, len(frames), 10):  # in pieces, so that the worker reads the call as it comes
            send_frames(ws, frames[start : start + 10], start + 1, events)
            time.sleep(0.02)
            if held.is_set():
                break
        assert held.wait(30), "the first worker never reached the caller's turn"
        stop_first.set()  # no more claim refreshes: its call is idle past the lease
        with live_worker(server, redis_url, transcribers, name="healthy", lease_s=1.0):
            sent = start + 10
            send_frames(ws, frames[sent:], sent + 1, events)
            ws.send(json.dumps({"type": "end"}))
            until_final(ws, events)
            ws.close()
        released.set()

    call = server.services.repository.get("live-takeover")
    assert call.status == "done"
    assert [turn["text"] for turn in call.transcript["turns"]] == ["ch0@4000", "ch1@16000", "ch0@28800", "ch1@40000"]
    # the checkpoint is written with each saved turn: the second worker starts where the first turn closed (1.5 s
    # of speech and 0.3 s of silence), not at the call's start
    assert transcribers.opened == [("live-takeover", 0), ("live-takeover", int(1.8 * RATE))]
    assert events[-1]["data"]["status"] == "done"
    assert np.array_equal(stored_audio(server, call), as_received(frames))


def test_g711_tables_decode_as_the_reference_and_encode_back():
    codes = bytes(range(256))
    mulaw, alaw = g711.decode(codes, "mulaw"), g711.decode(codes, "alaw")
    # ITU-T G.711's extremes and zeros: 0x00/0x80 are µ-law's loudest, 0xFF/0x7F its zero; A-law's zero is ±8
    assert (mulaw[0x00], mulaw[0x80], mulaw[0xFF], mulaw[0x7F]) == (-32124, 32124, 0, 0)
    assert (alaw[0xD5], alaw[0x55], alaw[0xAA], alaw[0x2A]) == (8, -8, 32256, -32256)
    for encoding, table in (("mulaw", mulaw), ("alaw", alaw)):
        assert g711.decode(g711.encode(table, encoding), encoding).tolist() == table.tolist(), encoding
    ramp = np.linspace(-32000, 32000, 4001).astype(np.int16)
    for encoding in ("mulaw", "alaw"):
        back = g711.decode(g711.encode(ramp, encoding), encoding).astype(int)
        assert np.all(np.abs(back - ramp) <= np.maximum(16, np.abs(ramp.astype(int)) // 16)), encoding
    assert g711.decode(b"\x01\x00\xff\xff", "pcm16").tolist() == [1, -1]


def _worker_env(tmp_path: Path, server: LiveServer, redis_url: str) -> dict[str, str]:
    settings = server.services.settings
    return {
        **os.environ,
        "HOTLINE_DATA_DIR": str(settings.data_dir),
        "HOTLINE_DATABASE_URL": settings.resolved_database_url,
        "HOTLINE_REDIS_URL": redis_url,
        "HOTLINE_LIVE__LEASE_S": "3",
        "HOTLINE_MODEL_CACHE_DIR": str(Path.home() / ".local" / "share" / "hotline-intake" / "models"),
    }


def saved_turns(server: LiveServer, call_id: str) -> list[dict]:
    try:
        return (server.services.repository.get(call_id).transcript or {}).get("turns", [])
    except CallNotFoundError:  # not started yet
        return []


def worker_process(env: dict[str, str], log: Path):
    return hotline_process([str(HOTLINE), "live-worker"], env, log)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("pipeline.live") is None, reason="pipeline.live not merged yet")
def test_a_killed_live_worker_process_is_replaced_and_the_demo_call_lands_every_utterance_once(tmp_path, redis_url):
    from asr.audio import load_audio
    from pipeline.service.live.cli import telephone_samples

    samples, _ = telephone_samples(load_audio(DEMO))
    fmt = wire.AudioFormat("mulaw", RATE, 2, {"0": "agent", "1": "caller"})
    meta = CallMeta("live-demo", caller_number=CALLER, agent_id="A1024", channel_map=dict(fmt.channel_map))
    log = tmp_path / "live-worker.log"
    with live_server(tmp_path, redis_url) as server:
        env = _worker_env(tmp_path, server, redis_url)
        push = LivePush(server.ws, server.telephony, meta, fmt, final_timeout=300)
        outcome: dict = {}

        def play():
            try:
                outcome["result"] = push.play(frames_of(samples, fmt, FRAME_MS), FRAME_MS / 1000, speed=2.0)
            except Exception as error:  # reported by the assertion below
                outcome["error"] = error

        player = threading.Thread(target=play, daemon=True)
        with worker_process(env, log) as first:
            player.start()
            deadline = time.monotonic() + 300
            while not saved_turns(server, "live-demo"):
                assert time.monotonic() < deadline and first.poll() is None, log.read_text(errors="replace")[-3000:]
                time.sleep(0.2)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
        with worker_process(env, log):
            player.join(600)
        assert "result" in outcome, outcome.get("error")

    call = server.services.repository.get("live-demo")
    assert call.status == "done", log.read_text(errors="replace")[-3000:]
    turns = call.transcript["turns"]
    ids = [(turn["channel"], round(turn["start"] * RATE)) for turn in turns]
    assert len(ids) == len(set(ids)), "every utterance once"
    for channel in (0, 1):
        mine = [turn for turn in turns if turn["channel"] == channel]
        assert all(a["end"] <= b["start"] for a, b in itertools.pairwise(mine)), "no utterance twice"
    assert "took over" in log.read_text(errors="replace")
    assert CALLER not in log.read_text(errors="replace"), "phone numbers never reach the logs"
    assert call.ticket is not None and call.recording_key != EMPTY_RECORDING.key


def test_live_push_plays_a_recording_in_and_says_why_when_refused(tmp_path, redis_url):
    recording = tmp_path / "call.wav"
    with wave.open(str(recording), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(call_samples().astype("<i2").tobytes())
    meta = tmp_path / "call.meta.json"
    meta.write_text(json.dumps({"call_id": "live-cli", "caller_number": CALLER, "channel_map": FORMAT.channel_map}))
    with live_server(tmp_path, redis_url) as server, live_worker(server, redis_url, FakeTranscribers()):
        command = [str(HOTLINE), "live-push", str(recording), "--meta", str(meta), "--url", server.ws, "--speed", "0"]
        played = subprocess.run(
            command, env={**os.environ, "HOTLINE_LIVE_KEY": server.telephony}, capture_output=True, text=True
        )
        again = subprocess.run(
            command, env={**os.environ, "HOTLINE_LIVE_KEY": server.telephony}, capture_output=True, text=True
        )
        wrong_key = subprocess.run(
            command, env={**os.environ, "HOTLINE_LIVE_KEY": "nope"}, capture_output=True, text=True
        )
        call = server.services.repository.get("live-cli")

    assert played.returncode == 0, played.stderr
    lines = played.stdout.splitlines()
    assert [line.split("] ")[1].split(":")[0] for line in lines[:-1]] == ["接线员", "市民", "接线员", "市民"]
    assert lines[-1] == "final: done (hangup)"
    assert call.status == "done" and len(call.transcript["turns"]) == 4
    assert again.returncode == 1 and again.stderr.count("\n") == 1  # the same call id again: one line
    assert "conflict" in again.stderr
    assert wrong_key.returncode == 1 and wrong_key.stderr.count("\n") == 1 and "unauthorized" in wrong_key.stderr
    assert CALLER not in played.stdout + played.stderr


def test_live_extraction_starts_at_most_every_few_seconds_and_hang_up_drops_a_waiting_one():
    from pipeline.service.live.worker import _LatestOnly

    started: list[tuple[float, str]] = []
    gate = threading.Event()

    def work(value):
        started.append((time.monotonic(), value))
        gate.wait(5)

    def until(count: int) -> None:
        deadline = time.monotonic() + 5
        while len(started) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    latest = _LatestOnly(work, every_s=0.5)
    latest.request("t1")
    until(1)
    for value in ("t2", "t3", "t4"):  # caller turns while the first extraction runs: only the latest waits
        latest.request(value)
    gate.set()
    until(2)
    assert [value for _, value in started] == ["t1", "t4"]
    assert started[1][0] - started[0][0] >= 0.5, "the second start waited for the interval"
    latest.request("t5")  # lands within the interval after t4 ...
    latest.close()  # ... and the hang-up comes first: it is dropped, the final extraction reads the whole call
    latest.request("t6")  # nothing runs after close
    time.sleep(0.6)
    assert [value for _, value in started] == ["t1", "t4"]
