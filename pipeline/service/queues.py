"""The two `JobQueue`s: Celery over Redis (the service), and threads in the API process (no Redis).

Queues: `asr` (transcription: GPU workers), `extract` (ticket extraction: CPU) and `webhooks`. Live calls
go before backlog through Redis message priorities (0 = first with Celery's Redis transport).

Which `Jobs` method runs a job, under which task name and on which queue, is written once, in `JobRoute`s: both
queues and the Celery tasks (`pipeline.service.tasks`) read them. The task names are what travels through Redis:
they stay the same across releases (and across module moves), so messages queued before an upgrade are run
after it. Celery is imported only when a sender is made.

Every job run through a route (`JobRoute.__call__`: both queues) writes one line at INFO on the logger
`hotline.calls`: the call (or webhook delivery) id, the phase, what happened and how long it took, e.g.
`call dev-0001 transcribe: transcribed in 12.31 s`. Ids only: no number from the call.
"""

import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.service.jobs import Jobs
from pipeline.service.repository import Phase

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger(__name__)
CALL_LOG = logging.getLogger("hotline.calls")


@dataclass(frozen=True)
class JobRoute:
    """One kind of job: the Celery task name (a wire name), the queue it waits in, and the `Jobs` method that
    runs it on an id (a call id, or a webhook delivery id)."""

    task: str
    queue: str
    run: Callable[[Jobs, str], str]
    subject: str = "call"  # what the id names, for the log line

    def __call__(self, jobs: Jobs, job_id: str) -> str:
        """Run the job (`run`) and log its outcome on `hotline.calls`; an exception is logged as "error" and
        raised again."""
        started = time.perf_counter()
        outcome = "error"
        try:
            outcome = self.run(jobs, job_id)
            return outcome
        finally:
            CALL_LOG.info(
                "%s %s %s: %s in %.2f s",
                self.subject,
                job_id,
                self.task.removeprefix("hotline."),
                outcome,
                time.perf_counter() - started,
            )


# Calls through the instance, not `Jobs.transcribe` itself, so a subclass or a stand-in for `Jobs` is honoured.
PHASE_ROUTES: dict[Phase, JobRoute] = {
    Phase.TRANSCRIBE: JobRoute("hotline.transcribe", "asr", lambda jobs, call_id: jobs.transcribe(call_id)),
    Phase.EXTRACT: JobRoute("hotline.extract", "extract", lambda jobs, call_id: jobs.extract(call_id)),
}
WEBHOOK_ROUTE = JobRoute(
    "hotline.webhook", "webhooks", lambda jobs, delivery_id: jobs.deliver_webhook(delivery_id), subject="delivery"
)
QUEUES = (*(route.queue for route in PHASE_ROUTES.values()), WEBHOOK_ROUTE.queue)
# Beat's periodic tasks (`pipeline.service.housekeeping`): they carry no id and run no `Jobs` method, so no route.
SWEEP_TASK = "hotline.sweep"
PURGE_RECORDINGS_TASK = "hotline.purge_recordings"
WEEKLY_REPORT_TASK = "hotline.weekly_report"
# Housekeeping needs no model and takes little time, like a webhook; and a deployment whose webhooks go out
# has a worker on this queue, whatever else it splits across machines.
HOUSEKEEPING_QUEUE = WEBHOOK_ROUTE.queue
PRIORITY = {"live": 0, "backlog": 6}


def configure(broker_url: str, lease_s: float, target: "Celery") -> "Celery":
    """Point a Celery app (the worker's, `pipeline.service.tasks.app`, or a sender) at Redis. The visibility
    timeout equals the job lease: longer than the slowest call."""
    target.conf.update(
        broker_url=broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": lease_s,
            "priority_steps": list(range(10)),
            "sep": ":",
            "queue_order_strategy": "priority",
        },
        task_default_queue="extract",
        task_create_missing_queues=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_prefetch_multiplier=1,  # a worker holds one call at a time; the rest stay in Redis for others
        worker_hijack_root_logger=False,
    )
    return target


def sender(broker_url: str, lease_s: float) -> "Celery":
    """An app of its own for a process that only sends tasks by name (the API): its connection pool belongs
    to this broker URL, whatever else the process has configured."""
    from celery import Celery

    return configure(broker_url, lease_s, Celery("hotline-sender", set_as_current=False))


class CeleryQueue:
    """Sends tasks by name, so the API process never imports the worker's code or models."""

    def __init__(self, app):
        self.app = app

    def enqueue(self, phase: Phase, call_id: str, priority: str) -> None:
        route = PHASE_ROUTES[phase]
        self.app.send_task(route.task, args=[call_id], queue=route.queue, priority=PRIORITY.get(priority, 6))

    def enqueue_webhook(self, delivery_id: str) -> None:
        self.app.send_task(WEBHOOK_ROUTE.task, args=[delivery_id], queue=WEBHOOK_ROUTE.queue, priority=PRIORITY["live"])


class ThreadQueue:
    """Jobs run by threads of this process, one queue per kind of work, live calls first. For one machine with
    no Redis: what is queued here is lost if the process dies, and the sweeper (`Jobs.sweep`, run at start-up
    and on a timer) finds those calls in the database again.

    The queues are Celery's (`QUEUES`: asr, extract, webhooks), each a `queue.PriorityQueue` of
    (priority, order, job) with threads of its own: `threads` for transcription, one each for extraction and
    webhooks. So a call's extraction and its webhook never wait behind the transcription of calls pushed after
    it, as they would in one queue. Within a queue, the lowest priority number first (`PRIORITY`), first in
    first out within one. A job's exception is logged, never raised.
    """

    def __init__(self, threads: int = 1):
        self._threads = {name: threads if name == PHASE_ROUTES[Phase.TRANSCRIBE].queue else 1 for name in QUEUES}
        # The counter breaks ties in order of arrival, so the jobs themselves are never compared.
        self._pending: dict[str, queue.PriorityQueue[tuple[int, int, Callable[[], object] | None]]] = {
            name: queue.PriorityQueue() for name in QUEUES
        }
        self._order = itertools.count()
        self._lock = threading.Lock()
        # Jobs queued or running. Counted before the put and uncounted after the run, so `idle` never misses
        # a job between the queue and the thread that took it.
        self._unfinished = 0
        self._stopping = False
        self._workers: list[threading.Thread] = []
        self.jobs: Jobs | None = None  # bound after construction (Jobs needs this queue)

    def start(self, jobs: Jobs) -> None:
        self.jobs = jobs
        for name, count in self._threads.items():
            for index in range(count):
                worker = threading.Thread(
                    target=self._work, args=(self._pending[name],), name=f"hotline-{name}-{index}", daemon=True
                )
                worker.start()
                self._workers.append(worker)

    def enqueue(self, phase: Phase, call_id: str, priority: str) -> None:
        route = PHASE_ROUTES[phase]
        self._put(route.queue, PRIORITY.get(priority, 6), lambda: route(self.jobs, call_id))

    def enqueue_webhook(self, delivery_id: str) -> None:
        self._put(WEBHOOK_ROUTE.queue, PRIORITY["live"], lambda: WEBHOOK_ROUTE(self.jobs, delivery_id))

    def stop(self, timeout: float = 5.0) -> None:
        """Each thread finishes the job it is running and ends, waiting up to `timeout` for each; jobs still
        queued are not run (the sweeper finds their calls again)."""
        with self._lock:
            first_stop, self._stopping = not self._stopping, True
        if first_stop:
            for name, count in self._threads.items():
                for _ in range(count):
                    # One stop sign per thread, ahead of every job (priority -1): no thread takes another job.
                    self._pending[name].put((-1, next(self._order), None))
        for worker in self._workers:
            worker.join(timeout)

    def depth(self) -> int:
        """Jobs waiting for a thread, in all queues."""
        return sum(self.depths().values())

    def depths(self) -> dict[str, int]:
        """Jobs waiting for a thread, per queue."""
        return {name: pending.qsize() for name, pending in self._pending.items()}

    def idle(self) -> bool:
        """Whether no job is waiting or running."""
        with self._lock:
            return self._unfinished == 0

    def _put(self, queue_name: str, priority: int, job: Callable[[], object]) -> None:
        with self._lock:
            self._unfinished += 1
            order = next(self._order)
        self._pending[queue_name].put((priority, order, job))

    def _work(self, pending: "queue.PriorityQueue[tuple[int, int, Callable[[], object] | None]]") -> None:
        while True:
            _, _, job = pending.get()
            if job is None:
                return
            try:
                job()
            except Exception:
                # the call stays claimed until its lease ends; the sweeper then enqueues it again
                logger.exception("in-process job failed")
            finally:
                with self._lock:
                    self._unfinished -= 1
