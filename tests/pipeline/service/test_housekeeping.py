"""Housekeeping: in-process it puts back what a restart lost, then sweeps and purges on its own timer; with Celery,
beat sends the same work as two periodic tasks, from exactly one process that the deployment chooses."""

import threading
import time
from datetime import UTC, datetime

import pytest
from service_builders import RecordingQueue, make_settings
from typer.testing import CliRunner

from pipeline.service.housekeeping import Housekeeping
from pipeline.service.queues import HOUSEKEEPING_QUEUE, PURGE_RECORDINGS_TASK, QUEUES, SWEEP_TASK, WEEKLY_REPORT_TASK
from pipeline.service.recordings import StoredRecording
from pipeline.service.repository.calls import NewCall
from pipeline.service.wiring import build_store, make_jobs, open_repository


def _call(call_id: str) -> NewCall:
    return NewCall(
        call_id=call_id,
        caller_number=None,
        agent_id=None,
        started_at=datetime(2026, 5, 1, 9, 0, tzinfo=UTC),
        channel_map={},
        priority="live",
        content_type="audio/wav",
    )


def test_requeue_all_puts_back_every_unfinished_call_and_drops_the_dead_process_leases(tmp_path):
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'hk.db'}")
    engine, repository = open_repository(settings)
    queue = RecordingQueue()
    jobs = make_jobs(settings, repository, build_store(settings), queue)
    recording = StoredRecording("a" * 64, 1)
    for call_id in ("waiting", "claimed", "finished"):
        repository.register(_call(call_id), recording, None)
    assert repository.claim("claimed", "transcribe", 3600, "dead-process") is not None
    assert repository.claim("finished", "transcribe", 3600, "w") is not None
    repository.fail("finished", "NoSpeechError", "no speech")
    try:
        assert Housekeeping(jobs).requeue_all() == 2
        assert sorted(queue.jobs) == [("transcribe", "claimed", "live"), ("transcribe", "waiting", "live")]
        assert repository.get("claimed").lease_until is None
        assert repository.claim("claimed", "transcribe", 3600, "new-process") is not None, "claimable at once"
    finally:
        engine.dispose()


class FakeJobs:
    """Records what housekeeping asks of the jobs, the repository and the queue, in order."""

    def __init__(self, failures: int = 0, ticks: int = 3):
        self.log: list[tuple] = []
        self.failures = failures
        self.ticks = ticks  # `ticked` is set after this many sweeps
        self.repository = self
        self.queue = self
        self.ticked = threading.Event()

    def release_all(self) -> int:
        self.log.append(("release_all",))
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database not up yet")
        return 1

    def stale(self, older_than_s: float) -> list[tuple[str, str, str]]:
        self.log.append(("stale", older_than_s))
        return [("lost-1", "extract", "backlog")]

    def enqueue(self, phase: str, call_id: str, priority: str) -> None:
        self.log.append(("enqueue", phase, call_id, priority))

    def sweep(self) -> int:
        self.log.append(("sweep",))
        if self.log.count(("sweep",)) >= self.ticks:
            self.ticked.set()
        return 0

    def purge_recordings(self, retention_days: float) -> int:
        self.log.append(("purge", retention_days))
        return 0


def test_purging_needs_a_retention_period():
    jobs = FakeJobs()
    assert Housekeeping(jobs, retention_days=None).purge_recordings() == 0
    assert jobs.log == []
    Housekeeping(jobs, retention_days=30).purge_recordings()
    assert jobs.log == [("purge", 30)]


def test_in_process_it_requeues_once_then_sweeps_and_purges_every_interval(caplog):
    jobs = FakeJobs(failures=1)  # the first tick fails: the requeue is tried again at the next one
    housekeeping = Housekeeping(jobs, retention_days=7)
    housekeeping.start(interval_s=0.01)
    try:
        assert jobs.ticked.wait(10)
    finally:
        housekeeping.stop()
    assert not housekeeping._thread.is_alive()
    requeue = [("release_all",), ("stale", 0), ("enqueue", "extract", "lost-1", "backlog")]
    tick = [("sweep",), ("purge", 7)]
    assert jobs.log[:6] == [("release_all",), *requeue, *tick]
    assert jobs.log.count(("release_all",)) == 2
    assert set(jobs.log[6:]) <= set(tick) and jobs.log.count(("sweep",)) >= 3
    assert "sweep failed" in caplog.text


def test_beat_sends_the_sweeps_every_sweep_interval_and_the_weekly_check_hourly_to_a_queue_workers_consume():
    from pipeline.service import tasks

    tasks.schedule_housekeeping(45.0)
    schedule = tasks.app.conf.beat_schedule
    assert {entry["task"] for entry in schedule.values()} == {SWEEP_TASK, PURGE_RECORDINGS_TASK, WEEKLY_REPORT_TASK}
    for entry in schedule.values():
        assert entry["task"] in tasks.app.tasks
        interval = tasks.REPORT_CHECK_INTERVAL_S if entry["task"] == WEEKLY_REPORT_TASK else 45.0
        assert entry["schedule"] == interval
        assert entry["options"] == {"queue": HOUSEKEEPING_QUEUE, "expires": interval}
    assert HOUSEKEEPING_QUEUE in QUEUES
    assert tasks.app.conf.beat_scheduler == "celery.beat:Scheduler", "beat keeps no schedule file"


@pytest.fixture
def broker_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HOTLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'worker.db'}")
    monkeypatch.setenv("HOTLINE_REDIS_URL", "redis://127.0.0.1:6379/15")  # nothing connects to it here
    monkeypatch.setenv("HOTLINE_WORKER__SWEEP_INTERVAL_S", "30")


def _started_with(monkeypatch, method: str, *args: str):
    """What `hotline ARGS` hands Celery (its `worker_main` or `start` replaced by a recorder)."""
    from pipeline.cli import app
    from pipeline.service import tasks

    started = []
    monkeypatch.setattr(tasks.app, method, started.append)
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    [argv] = started
    return argv, tasks.app.conf.beat_schedule


def tasks_report_interval() -> float:
    from pipeline.service.tasks import REPORT_CHECK_INTERVAL_S

    return REPORT_CHECK_INTERVAL_S


def test_a_worker_runs_no_beat_unless_asked(broker_env, monkeypatch):
    argv, _ = _started_with(monkeypatch, "worker_main", "worker")
    assert argv[0] == "worker" and not {"--beat", "-B"} & set(argv), "several workers must not each run beat"
    argv, schedule = _started_with(monkeypatch, "worker_main", "worker", "--beat", "--queues", "webhooks")
    assert "--beat" in argv and "--queues=webhooks" in argv
    assert {entry["schedule"] for entry in schedule.values()} == {30.0, tasks_report_interval()}


def test_hotline_beat_runs_beat_alone(broker_env, monkeypatch):
    argv, schedule = _started_with(monkeypatch, "start", "beat")
    assert argv[0] == "beat"
    assert {entry["schedule"] for entry in schedule.values()} == {30.0, tasks_report_interval()}


def test_beat_without_a_broker_is_a_usage_error(tmp_path, monkeypatch):
    from pipeline.cli import app

    monkeypatch.setenv("HOTLINE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HOTLINE_REDIS_URL", raising=False)
    result = CliRunner().invoke(app, ["beat"])
    assert result.exit_code == 2
    assert "HOTLINE_REDIS_URL" in result.output


def test_stop_ends_the_wait_for_the_next_interval():
    jobs = FakeJobs(ticks=1)
    housekeeping = Housekeeping(jobs)  # no retention period: nothing purged
    housekeeping.start(interval_s=3600)
    assert jobs.ticked.wait(10)
    started = time.monotonic()
    housekeeping.stop()
    assert time.monotonic() - started < 5 and not housekeeping._thread.is_alive()
    assert jobs.log[-1] == ("sweep",) and jobs.log.count(("sweep",)) == 1
