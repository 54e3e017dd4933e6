"""The Celery task names are a wire format: messages already in Redis name their task. One table (`JobRoute`s)
says which `Jobs` method a job runs; both queues and the worker's tasks dispatch through it. The in-process
`ThreadQueue`: a queue per kind of work, priority order within each, depth and idleness, a log line per job,
failures logged, stop."""

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from pipeline.service.queues import (
    PHASE_ROUTES,
    PURGE_RECORDINGS_TASK,
    QUEUES,
    SWEEP_TASK,
    WEBHOOK_ROUTE,
    WEEKLY_REPORT_TASK,
    CeleryQueue,
    ThreadQueue,
)
from pipeline.service.repository import Phase


def test_task_names_do_not_follow_module_paths() -> None:
    # Changing one strands every message queued under the old name when the workers are upgraded.
    assert {phase: (route.task, route.queue) for phase, route in PHASE_ROUTES.items()} == {
        Phase.TRANSCRIBE: ("hotline.transcribe", "asr"),
        Phase.EXTRACT: ("hotline.extract", "extract"),
    }
    assert (WEBHOOK_ROUTE.task, WEBHOOK_ROUTE.queue) == ("hotline.webhook", "webhooks")
    assert (SWEEP_TASK, PURGE_RECORDINGS_TASK) == ("hotline.sweep", "hotline.purge_recordings")
    assert WEEKLY_REPORT_TASK == "hotline.weekly_report"
    assert QUEUES == ("asr", "extract", "webhooks")


def test_every_phase_has_a_route_to_its_jobs_method() -> None:
    assert set(PHASE_ROUTES) == set(Phase)
    ran = _RecordingJobs()
    for phase, route in PHASE_ROUTES.items():
        route.run(ran, f"call-{phase}")
    WEBHOOK_ROUTE.run(ran, "delivery-1")
    assert ran.ran == [("transcribe", "call-transcribe"), ("extract", "call-extract"), ("webhook", "delivery-1")]
    # the repository hands phases back as the strings it stores: they find the same route
    assert PHASE_ROUTES["extract"] is PHASE_ROUTES[Phase.EXTRACT]


def test_the_worker_registers_its_tasks_under_those_names() -> None:
    from pipeline.service import tasks

    names = {*(route.task for route in PHASE_ROUTES.values()), WEBHOOK_ROUTE.task, SWEEP_TASK, PURGE_RECORDINGS_TASK}
    assert {name: tasks.app.tasks[name].name for name in names} == {name: name for name in names}
    assert tasks.transcribe.name == PHASE_ROUTES[Phase.TRANSCRIBE].task
    assert tasks.extract.name == PHASE_ROUTES[Phase.EXTRACT].task
    assert tasks.webhook.name == WEBHOOK_ROUTE.task
    assert (tasks.sweep.name, tasks.purge_recordings.name) == (SWEEP_TASK, PURGE_RECORDINGS_TASK)
    assert tasks.weekly_report.name == WEEKLY_REPORT_TASK


def test_the_celery_queue_sends_each_job_by_its_wire_name_and_queue() -> None:
    class SendingApp:
        def __init__(self):
            self.sent = []

        def send_task(self, name, args, queue, priority):
            self.sent.append((name, args, queue, priority))

    app = SendingApp()
    queue = CeleryQueue(app)
    queue.enqueue(Phase.TRANSCRIBE, "c-1", "live")
    queue.enqueue("extract", "c-1", "backlog")
    queue.enqueue_webhook("d-1")
    assert app.sent == [
        ("hotline.transcribe", ["c-1"], "asr", 0),
        ("hotline.extract", ["c-1"], "extract", 6),
        ("hotline.webhook", ["d-1"], "webhooks", 0),
    ]


class _RecordingJobs:
    """Stands in for `Jobs`: records what ran, in order. The call "hold" waits until released, "boom" raises."""

    def __init__(self):
        self.ran: list[tuple[str, str]] = []
        self.holding = threading.Event()
        self.release = threading.Event()

    def _run(self, phase: str, call_id: str) -> str:
        if call_id == "hold":
            self.holding.set()
            assert self.release.wait(5)
        if call_id == "boom":
            raise RuntimeError("boom")
        self.ran.append((phase, call_id))
        return "ran"

    def transcribe(self, call_id: str) -> str:
        return self._run("transcribe", call_id)

    def extract(self, call_id: str) -> str:
        return self._run("extract", call_id)

    def deliver_webhook(self, delivery_id: str) -> str:
        return self._run("webhook", delivery_id)


def _wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def held_queue() -> Iterator[tuple[ThreadQueue, _RecordingJobs]]:
    """A queue whose one transcription thread is busy with the call "hold" until the test releases it."""
    jobs = _RecordingJobs()
    queue = ThreadQueue(threads=1)
    queue.start(jobs)
    queue.enqueue("transcribe", "hold", "backlog")
    assert jobs.holding.wait(5)
    yield queue, jobs
    jobs.release.set()
    queue.stop()


def test_live_calls_go_before_backlog_in_order_of_arrival(held_queue):
    queue, jobs = held_queue
    queue.enqueue("transcribe", "b-1", "backlog")
    queue.enqueue("transcribe", "l-1", "live")
    queue.enqueue("transcribe", "b-2", "backlog")
    queue.enqueue("transcribe", "l-2", "live")
    queue.enqueue("transcribe", "u-1", "unknown priority")  # counts as backlog

    assert queue.depth() == 5, "the running job is not waiting"
    assert queue.depths() == {"asr": 5, "extract": 0, "webhooks": 0}
    assert not queue.idle()
    jobs.release.set()
    _wait_until(queue.idle)

    assert queue.depth() == 0
    assert jobs.ran == [
        ("transcribe", "hold"),
        ("transcribe", "l-1"),
        ("transcribe", "l-2"),
        ("transcribe", "b-1"),
        ("transcribe", "b-2"),
        ("transcribe", "u-1"),
    ]


def test_extraction_and_webhooks_do_not_wait_behind_transcriptions(held_queue):
    # One call's extraction used to wait until every call pushed after it was transcribed.
    queue, jobs = held_queue
    queue.enqueue("transcribe", "later-1", "live")
    queue.enqueue("transcribe", "later-2", "live")
    queue.enqueue("extract", "earlier", "backlog")
    queue.enqueue_webhook("d-1")

    _wait_until(lambda: len(jobs.ran) == 2)
    assert sorted(jobs.ran) == [("extract", "earlier"), ("webhook", "d-1")]
    assert queue.depths() == {"asr": 2, "extract": 0, "webhooks": 0} and not queue.idle()
    jobs.release.set()
    _wait_until(queue.idle)
    assert jobs.ran[2:] == [("transcribe", "hold"), ("transcribe", "later-1"), ("transcribe", "later-2")]


def test_each_job_logs_one_line_with_its_outcome_and_time(caplog):
    jobs = _RecordingJobs()
    queue = ThreadQueue()
    queue.start(jobs)
    try:
        with caplog.at_level(logging.INFO, logger="hotline.calls"):
            queue.enqueue("transcribe", "c-1", "live")
            _wait_until(queue.idle)
            queue.enqueue("extract", "boom", "live")
            _wait_until(queue.idle)
            queue.enqueue_webhook("d-1")
            _wait_until(queue.idle)
    finally:
        queue.stop()

    lines = [record.getMessage() for record in caplog.records if record.name == "hotline.calls"]
    assert [line.rsplit(" in ", 1)[0] for line in lines] == [
        "call c-1 transcribe: ran",  # `Jobs` says transcribed, done, failed, skipped…; the stand-in says ran
        "call boom extract: error",
        "delivery d-1 webhook: ran",
    ]
    assert all(line.endswith(" s") and float(line.rsplit(" in ", 1)[1][:-2]) >= 0 for line in lines)


def test_a_running_job_keeps_the_queue_busy(held_queue):
    queue, jobs = held_queue

    assert queue.depth() == 0 and not queue.idle()
    jobs.release.set()
    _wait_until(queue.idle)
    assert jobs.ran == [("transcribe", "hold")]


def test_a_failing_job_is_logged_and_the_next_one_runs(caplog):
    jobs = _RecordingJobs()
    queue = ThreadQueue()
    queue.start(jobs)
    try:
        with caplog.at_level(logging.ERROR, logger="pipeline.service.queues"):
            queue.enqueue("transcribe", "boom", "live")
            queue.enqueue("extract", "after", "live")
            _wait_until(queue.idle)
    finally:
        queue.stop()

    assert jobs.ran == [("extract", "after")]
    [record] = caplog.records
    assert record.getMessage() == "in-process job failed" and record.exc_info[0] is RuntimeError


def test_stop_lets_the_running_job_finish_and_runs_nothing_queued():
    jobs = _RecordingJobs()
    queue = ThreadQueue(threads=1)
    before = set(threading.enumerate())
    queue.start(jobs)
    [thread] = [thread for thread in set(threading.enumerate()) - before if thread.name == "hotline-asr-0"]
    queue.enqueue("transcribe", "hold", "backlog")
    assert jobs.holding.wait(5)
    queue.enqueue("transcribe", "left-1", "live")
    queue.enqueue("transcribe", "left-2", "backlog")

    started = time.monotonic()
    queue.stop(timeout=0.2)  # returns when the timeout is up, the job still running
    assert 0.2 <= time.monotonic() - started < 2 and thread.is_alive()
    jobs.release.set()
    thread.join(5)

    assert not any(thread.is_alive() for thread in set(threading.enumerate()) - before)
    assert jobs.ran == [("transcribe", "hold")]
    assert queue.depth() == 2 and not queue.idle(), "what was queued is left for the sweeper"


def test_each_transcription_thread_takes_a_job_of_its_own():
    jobs = _RecordingJobs()
    queue = ThreadQueue(threads=2)
    queue.start(jobs)
    try:
        queue.enqueue("transcribe", "hold", "live")
        assert jobs.holding.wait(5)
        queue.enqueue("transcribe", "beside", "live")
        _wait_until(lambda: jobs.ran == [("transcribe", "beside")])
    finally:
        jobs.release.set()
        queue.stop()
    assert jobs.ran == [("transcribe", "beside"), ("transcribe", "hold")]
