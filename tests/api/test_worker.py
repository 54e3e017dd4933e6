"""Celery workers for real: a `hotline worker` process over a real Redis, the API sending tasks by name.
Push → done; a worker SIGKILLed mid-call and restarted → the call is done once; Redis restarted with the
queue in it → no job lost (the sweeper finds the calls in the database again)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient
from service_builders import auth, hotline_process, make_settings, new_key, push, wait_for

from api.main import create_app
from pipeline.service.wiring import build_services

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "samples" / "demo-call.wav"
HOTLINE = Path(sys.executable).with_name("hotline")
TEST_REDIS_DB = 11  # the tests' own database number on the shared Redis

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _redis_up(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


@contextmanager
def redis_server(port: int):
    """A Redis of our own (so it can be restarted), keeping nothing on disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 20
    while not _redis_up(url):
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.1)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


def worker_process(env: dict[str, str], log: Path):
    return hotline_process([str(HOTLINE), "worker", "--beat"], env, log)


def _service_env(tmp_path: Path, redis_url: str) -> tuple[dict[str, str], object]:
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'service.db'}",
        redis_url=redis_url,
        worker={"lease_s": 20, "requeue_after_s": 5, "sweep_interval_s": 2},
        webhooks={"allow_private": True, "backoff_base_s": 1},
    )
    env = {
        **os.environ,
        "HOTLINE_DATA_DIR": str(settings.data_dir),
        "HOTLINE_DATABASE_URL": settings.resolved_database_url,
        "HOTLINE_REDIS_URL": redis_url,
        "HOTLINE_WORKER__LEASE_S": "20",
        "HOTLINE_WORKER__REQUEUE_AFTER_S": "5",
        "HOTLINE_WORKER__SWEEP_INTERVAL_S": "2",
        # the test's webhook receiver is on loopback, and its retries should come within seconds
        "HOTLINE_WEBHOOKS__ALLOW_PRIVATE": "true",
        "HOTLINE_WEBHOOKS__BACKOFF_BASE_S": "1",
        # the bundled model is assembled once per machine; share it instead of rebuilding per test
        "HOTLINE_MODEL_CACHE_DIR": str(Path.home() / ".local" / "share" / "hotline-intake" / "models"),
    }
    return env, settings.model_copy(update={"model_cache_dir": Path(env["HOTLINE_MODEL_CACHE_DIR"])})


@pytest.fixture
def shared_redis():
    url = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
    if not _redis_up(url):
        pytest.skip("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


def wait_until_transcribing(services, call_id: str, timeout: float) -> None:
    """Until the worker's heartbeat shows it inside transcription (the progress of its `transcribe` stage is in
    the database), not merely holding the claim; fails if the transcript is saved first."""
    deadline = time.monotonic() + timeout
    while True:
        call = services.repository.get(call_id)
        assert call.transcript is None, f"call {call_id} got past transcription before its worker could be killed"
        if call.status == "processing" and "transcribe" in (call.progress or {}):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"call {call_id} not in transcription after {timeout} s (status {call.status})")
        time.sleep(0.1)


def _events(services, call_id: str) -> list[str]:
    return [event.event for event in services.repository.events(call_id)]


def test_worker_processes_a_call_and_a_killed_worker_does_it_exactly_once(tmp_path, shared_redis):
    env, settings = _service_env(tmp_path, shared_redis)
    services = build_services(settings)
    key = new_key(services, "telephony")
    log = tmp_path / "worker.log"
    with TestClient(create_app(services=services)) as client:
        meta = {"channel_map": '{"0": "agent", "1": "caller"}', "caller_number": "13800007731"}
        assert push(client, key, DEMO, "live-1", **meta).status_code == 202
        with worker_process(env, log):
            done = wait_for(client, "live-1", key, timeout=600)
        assert done["status"] == "done", log.read_text(errors="replace")[-3000:]
        assert client.get("/v1/calls/live-1/ticket", headers=auth(new_key(services, "qa"))).status_code == 200

        # kill -9 while it transcribes, then start a new worker
        assert push(client, key, DEMO, "killed-1").status_code == 202
        with worker_process(env, log) as first:
            wait_until_transcribing(services, "killed-1", timeout=300)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
        assert client.get("/v1/calls/killed-1", headers=auth(key)).json()["status"] == "processing"
        with worker_process(env, log):
            done = wait_for(client, "killed-1", key, timeout=600)
        assert done["status"] == "done", log.read_text(errors="replace")[-3000:]
        events = _events(services, "killed-1")
        assert events.count("done") == 1, events
        assert events.count("claimed:transcribe") >= 2, events
    worker_log = log.read_text(errors="replace")
    for number in ("13800007731", "13900005286"):  # the caller's ANI and the number spoken in the call
        assert number not in worker_log, "phone numbers never reach the logs"
    services.engine.dispose()


def test_jobs_survive_a_redis_restart(tmp_path):
    port = _free_port()
    silent = tmp_path / "silent.wav"
    from conftest import write_audio

    write_audio(silent, np.zeros((2, 8000 * 2), dtype=np.float32), 8000)
    with redis_server(port) as url:
        env, settings = _service_env(tmp_path, url)
        services = build_services(settings)
        key = new_key(services, "telephony")
        with TestClient(create_app(services=services)) as client:
            for index in range(3):
                assert push(client, key, silent, f"queued-{index}").status_code == 202
            depth = redis.Redis.from_url(url)
            assert sum(depth.llen(name) for name in depth.keys("asr*")) == 3
            depth.close()
    with redis_server(port) as url:  # restarted: empty
        assert not redis.Redis.from_url(url).keys("asr*")
        with TestClient(create_app(services=services)) as client, worker_process(env, tmp_path / "worker.log"):
            for index in range(3):
                final = wait_for(client, f"queued-{index}", key, timeout=300)
                assert final["status"] == "failed" and final["error"]["kind"] == "NoSpeechError"
    services.engine.dispose()


class WebhookReceiver:
    """A client's webhook endpoint on loopback: answers 500 to the first `failures` requests, then 200."""

    def __init__(self, failures: int):
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(500 if len(receiver.requests) <= receiver.failures else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/hotline"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_a_finished_call_is_announced_by_a_signed_webhook_retried_after_a_server_error(tmp_path, shared_redis):
    from conftest import write_audio

    from pipeline.service.webhooks import verify, verify_legacy

    env, settings = _service_env(tmp_path, shared_redis)
    services = build_services(settings)
    receiver = WebhookReceiver(failures=1)
    row, key = services.keys.create("telephony", "pbx", webhook_url=receiver.url)
    secret = row.webhook_secret
    silent = write_audio(tmp_path / "silent.wav", np.zeros((2, 8000 * 2), dtype=np.float32), 8000)
    try:
        with TestClient(create_app(services=services)) as client, worker_process(env, tmp_path / "worker.log"):
            assert push(client, key, silent, "hooked-1", caller_number="13800007731").status_code == 202
            assert wait_for(client, "hooked-1", key, timeout=300)["status"] == "failed"
            deadline = time.monotonic() + 60
            while len(receiver.requests) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            log = client.get("/v1/calls/hooked-1/webhooks", headers=auth(key)).json()
            someone_else = client.get("/v1/calls/hooked-1/webhooks", headers=auth(new_key(services, "telephony")))
    finally:
        receiver.close()
        services.engine.dispose()
    assert len(receiver.requests) == 2, "one 500, then delivered, and nothing after"
    for headers, body in receiver.requests:
        assert verify(secret, headers, body)
        assert not verify("another-secret", headers, body)
        assert verify_legacy(secret, headers["X-Hotline-Timestamp"], headers["X-Hotline-Signature"], body)
        assert b"13800007731" not in body, "no phone numbers in webhooks"
    payload = json.loads(receiver.requests[-1][1])
    assert payload["event"] == "call.failed" and payload["call_id"] == "hooked-1"
    assert payload["error"]["kind"] == "NoSpeechError" and payload["error"]["message"]
    assert [delivery["state"] for delivery in log] == ["delivered"]
    assert [(entry["status_code"], entry["delivered"]) for entry in log[0]["log"]] == [(500, False), (200, True)]
    assert {json.loads(body)["delivery_id"] for _, body in receiver.requests} == {log[0]["id"]}, "one signed id"
    assert someone_else.status_code == 404, "another client's call is not found"


def test_live_calls_are_taken_before_the_backlog(tmp_path, shared_redis):
    from conftest import write_audio

    env, settings = _service_env(tmp_path, shared_redis)
    services = build_services(settings)
    key = new_key(services, "telephony")
    silent = write_audio(tmp_path / "silent.wav", np.zeros((2, 8000 * 2), dtype=np.float32), 8000)
    broker = redis.Redis.from_url(shared_redis)
    with TestClient(create_app(services=services)) as client:
        for index in range(3):
            assert push(client, key, silent, f"backlog-{index}", priority="backlog").status_code == 202
        assert push(client, key, silent, "live-now").status_code == 202
        # kombu keeps one Redis list per priority step: asr (0, live) and asr:6 (backlog)
        assert (broker.llen("asr"), broker.llen("asr:6")) == (1, 3)
        with worker_process(env, tmp_path / "worker.log"):
            for call_id in ("live-now", "backlog-0", "backlog-1", "backlog-2"):
                wait_for(client, call_id, key, timeout=300)
    broker.close()
    claimed = {}
    for call_id in ("live-now", "backlog-0", "backlog-1", "backlog-2"):
        claimed[call_id] = min(e.at for e in services.repository.events(call_id) if e.event.startswith("claimed"))
    assert min(claimed, key=claimed.get) == "live-now", claimed
    services.engine.dispose()
