"""The two `JobQueue`s: Celery over Redis (the service), and threads in the API process (no Redis).

Queues: `asr` (transcription: GPU workers), `extract` (ticket extraction: CPU) and `webhooks`. Live calls
go before backlog through Redis message priorities (0 = first with Celery's Redis transport).

Which `Jobs` method runs a job, under which task name and on which queue, is written once, in `JobRoute`s: both
queues and the Celery tasks (`pipeline.service.tasks`) read them. The task names are what travels through Redis:
they stay the same across releases (and across module moves), so messages queued before an upgrade are run
after it. Celery is imported only when a sender is made.
"""

import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.service.jobs import Jobs
from pipeline.service.repository import Phase

if TYPE_CHECKING:
    from celery import Celery

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobRoute:
    """One kind of job: the Celery task name (a wire name), the queue it waits in, and the `Jobs` method that
    runs it on an id (a call id, or a webhook delivery id)."""

    task: str
    queue: str
    run: Callable[[Jobs, str], str]


PHASE_ROUTES: dict[Phase, JobRoute] = {
    Phase.TRANSCRIBE: JobRoute("hotline.transcribe", "asr", Jobs.transcribe),
    Phase.EXTRACT: JobRoute("hotline.extract", "extract", Jobs.extract),
}
WEBHOOK_ROUTE = JobRoute("hotline.webhook", "webhooks", Jobs.deliver_webhook)
QUEUES = (*(route.queue for route in PHASE_ROUTES.values()), WEBHOOK_ROUTE.queue)
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
    """Jobs run by threads of this process, live calls first. For one machine with no Redis: what is
    queued here is lost if the process dies, and the sweeper (`Jobs.sweep`, run at start-up and on a
    timer) finds those calls in the database again."""

    def __init__(self, threads: int = 1):
        self._threads = threads
        self._heap: list[tuple[int, int, Callable[[], object]]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._stopping = False
        self._workers: list[threading.Thread] = []
        self._busy = 0
        self.jobs: Jobs | None = None  # bound after construction (Jobs needs this queue)

    def start(self, jobs: Jobs) -> None:
        self.jobs = jobs
        for index in range(self._threads):
            worker = threading.Thread(target=self._work, name=f"hotline-job-{index}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def enqueue(self, phase: Phase, call_id: str, priority: str) -> None:
        route = PHASE_ROUTES[phase]
        self._put(PRIORITY.get(priority, 6), lambda: route.run(self.jobs, call_id))

    def enqueue_webhook(self, delivery_id: str) -> None:
        self._put(PRIORITY["live"], lambda: WEBHOOK_ROUTE.run(self.jobs, delivery_id))

    def stop(self, timeout: float = 5.0) -> None:
        with self._ready:
            self._stopping = True
            self._ready.notify_all()
        for worker in self._workers:
            worker.join(timeout)

    def depth(self) -> int:
        with self._ready:
            return len(self._heap)

    def idle(self) -> bool:
        with self._ready:
            return not self._heap and not self._busy

    def _put(self, priority: int, job: Callable[[], object]) -> None:
        with self._ready:
            heapq.heappush(self._heap, (priority, next(self._order), job))
            self._ready.notify()

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._heap and not self._stopping:
                    self._ready.wait()
                if self._stopping:
                    return
                _, _, job = heapq.heappop(self._heap)
                self._busy += 1
            try:
                job()
            except Exception:
                # the call stays claimed until its lease ends; the sweeper then enqueues it again
                logger.exception("in-process job failed")
            finally:
                with self._ready:
                    self._busy -= 1
