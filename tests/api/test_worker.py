"""Celery workers for real: a `hotline worker` process over a real Redis, the API sending tasks by name.
Push → done; a worker SIGKILLed mid-call and restarted → the call is done once; Redis restarted with the
queue in it → no job lost (the sweeper finds the calls in the database again)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient
from service_builders import auth, make_settings, new_key, push, wait_for

from api.main import create_app
from pipeline.service import build_services

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


@contextmanager
def worker_process(env: dict[str, str], log: Path):
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(HOTLINE), "worker"], env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)


def _service_env(tmp_path: Path, redis_url: str) -> tuple[dict[str, str], object]:
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'service.db'}",
        redis_url=redis_url,
        worker={"lease_s": 20, "requeue_after_s": 5, "sweep_interval_s": 2},
    )
    env = {
        **os.environ,
        "HOTLINE_DATA_DIR": str(settings.data_dir),
        "HOTLINE_DATABASE_URL": settings.resolved_database_url,
        "HOTLINE_REDIS_URL": redis_url,
        "HOTLINE_WORKER__LEASE_S": "20",
        "HOTLINE_WORKER__REQUEUE_AFTER_S": "5",
        "HOTLINE_WORKER__SWEEP_INTERVAL_S": "2",
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


def _events(services, call_id: str) -> list[str]:
    return [event.event for event in services.repository.events(call_id)]


def test_worker_processes_a_call_and_a_killed_worker_does_it_exactly_once(tmp_path, shared_redis):
    env, settings = _service_env(tmp_path, shared_redis)
    services = build_services(settings)
    key = new_key(services, "telephony")
    log = tmp_path / "worker.log"
    with TestClient(create_app(services=services)) as client:
        assert push(client, key, DEMO, "live-1", channel_map='{"0": "agent", "1": "caller"}').status_code == 202
        with worker_process(env, log):
            done = wait_for(client, "live-1", key, timeout=600)
        assert done["status"] == "done", log.read_text(errors="replace")[-3000:]
        assert client.get("/v1/calls/live-1/ticket", headers=auth(new_key(services, "operator"))).status_code == 200

        # kill -9 while it transcribes, then start a new worker
        assert push(client, key, DEMO, "killed-1").status_code == 202
        with worker_process(env, log) as first:
            wait_for(client, "killed-1", key, statuses=("processing",), timeout=300)
            time.sleep(1.0)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(10)
        assert client.get("/v1/calls/killed-1", headers=auth(key)).json()["status"] == "processing"
        with worker_process(env, log):
            done = wait_for(client, "killed-1", key, timeout=600)
        assert done["status"] == "done", log.read_text(errors="replace")[-3000:]
        events = _events(services, "killed-1")
        assert events.count("done") == 1, events
        assert events.count("claimed:transcribe") >= 2, events
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
