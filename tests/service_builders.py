"""Builders for the service tests: settings on a temporary data dir, a fresh database per backend (SQLite
file or a new PostgreSQL database), API keys, and polling for a call to finish. Not a conftest: the
root conftest is imported by name elsewhere."""

import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from pipeline.service.processor import PipelineProcessor
from pipeline.service.queues import ThreadQueue
from pipeline.service.wiring import Services, build_store, make_jobs, open_repository
from pipeline.settings import Settings

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@contextmanager
def database_url(backend: str, tmp_path: Path, name: str | None = None):
    """A URL of an empty database of `backend` ("sqlite" | "postgresql"), dropped afterwards; `name` the
    PostgreSQL database's (default: a new random one)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'hotline-test.db'}"
        return
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (.ci/run starts it)")
    name = name or f"hotline_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))  # left by a killed run
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_settings(tmp_path: Path, url: str, **overrides) -> Settings:
    values = {"data_dir": tmp_path / "data", "database_url": url, "redis_url": None, **overrides}
    return Settings(_env_file=None, **values)


def in_process_services(settings: Settings, engines) -> Services:
    """The API's in-process services, with `engines` (already loaded) instead of loading models again."""
    engine, repository = open_repository(settings)
    store = build_store(settings)
    queue = ThreadQueue()
    jobs = make_jobs(settings, repository, store, queue)
    if engines is not None:
        jobs.processor = PipelineProcessor(
            settings, engines=replace(engines, extractor=None), extractor=engines.extractor
        )
    queue.start(jobs)
    return Services(settings, engine, repository, store, queue, jobs)


class RecordingQueue:
    """Stands in for the job queue: remembers what it was handed and runs nothing."""

    def __init__(self):
        self.jobs: list[tuple] = []

    def enqueue(self, phase: str, call_id: str, priority: str) -> None:
        self.jobs.append((phase, call_id, priority))

    def enqueue_webhook(self, delivery_id: str) -> None:
        self.jobs.append(("webhook", delivery_id))

    def depth(self) -> int:
        return len(self.jobs)

    def depths(self) -> dict[str, int]:
        """Per queue, as `ThreadQueue.depths` (the metrics read it): all in one here."""
        return {"recorded": len(self.jobs)}


def quiet_services(settings: Settings) -> Services:
    """The in-process services with a queue that only records what it is handed: no model loads, no job runs,
    and no sweeper (the app's lifespan starts none without a job runner)."""
    services = in_process_services(settings, engines=None)
    services.queue.stop()
    services.queue = RecordingQueue()
    services.jobs = None
    return services


def new_key(
    services: Services,
    role: str,
    name: str | None = None,
    webhook_url: str | None = None,
    agent_id: str | None = None,
    team: str | None = None,
) -> str:
    """A new key. An operator's key sees only the calls of its agent id and team: give it one of them."""
    _, key = services.keys.create(role, name or f"{role}-test", webhook_url=webhook_url, agent_id=agent_id, team=team)
    return key


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wait_for(client, call_id: str, key: str, statuses=("done", "failed"), timeout: float = 600.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/v1/calls/{call_id}", headers=auth(key)).json()
        if body.get("status") in statuses:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"call {call_id} still {body.get('status')} after {timeout} s")
        time.sleep(0.25)


def push(client, key: str, audio: Path | bytes, call_id: str, content_type: str = "audio/wav", **fields):
    data = {"call_id": call_id, **fields}
    content = audio.read_bytes() if isinstance(audio, Path) else audio
    return client.post(
        "/v1/calls", headers=auth(key), data=data, files={"recording": ("call.wav", content, content_type)}
    )


def finish_call_with_ticket(
    services,
    recorder,
    call_id: str,
    key_id: int | None,
    summary: str,
    address: str,
    unit: str,
    started,
    number: str | None = "13800007731",
    agent_id: str = "A1024",
) -> list[str]:
    """A call taken through the real state machine to done with the ticket given (no models run), its ticket
    record made by `recorder` as the extract job makes it; the webhook deliveries queued. `number`: the calling
    number the telephony system pushed (None: withheld)."""
    from models import CallMeta, CallTranscript, DepartmentSuggestion, Ticket, TicketField
    from pipeline.service.recordings import StoredRecording
    from pipeline.service.repository import NewCall, Phase

    repository = services.repository
    new = NewCall(call_id, number, agent_id, started, {"0": "agent", "1": "caller"}, "live", "audio/wav")
    repository.register(new, StoredRecording(call_id.encode().hex().ljust(64, "0")[:64], 10), key_id)
    assert repository.claim(call_id, Phase.TRANSCRIBE, 60)
    transcript = CallTranscript(call_id, 10.0, 8000, 2, "zh", "fake", [], {})
    assert repository.save_transcript(call_id, transcript.to_dict(), {}, 10.0)
    assert repository.claim(call_id, Phase.EXTRACT, 60)
    ticket = Ticket.empty()
    ticket.fields["summary"] = TicketField(summary, 0.9)
    ticket.fields["address"] = TicketField(address, 0.9)
    ticket.department_suggestions = [DepartmentSuggestion(unit, 0.8)]
    record = recorder.for_call(CallMeta(call_id, number, agent_id, started), ticket, transcript, started)
    return repository.finish(call_id, ticket, {}, record)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(app, name: str = "uvicorn-tests", ws: str = "none"):
    """A real uvicorn serving `app` on a free port, on a thread of the test; yields the port. `ws`: uvicorn's
    WebSocket implementation ("websockets-sansio" for the live endpoint)."""
    import uvicorn

    port = free_port()
    runner = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws=ws))
    thread = threading.Thread(target=runner.run, name=name, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not runner.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        yield port
    finally:
        runner.should_exit = True
        thread.join(timeout=30)


@contextmanager
def fresh_redis(db: int):
    """The URL of this suite's own database number on the local Redis, emptied before and after; skips the test
    when no Redis runs (.ci/run starts one)."""
    import redis

    url = f"redis://127.0.0.1:6379/{db}"
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        client.close()
        pytest.skip("Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@contextmanager
def hotline_process(argv: list[str], env: dict[str, str], log: Path):
    """A `hotline` command in a process group of its own, its output in `log`; stopped with SIGTERM (SIGKILL after
    30 s) when the block ends, whatever the test did to it."""
    with log.open("ab") as output:
        process = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
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
