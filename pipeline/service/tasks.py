"""Celery app and its thin tasks: each takes an id and calls `pipeline.service.jobs.Jobs` (idempotent by claims).

`acks_late` + `reject_on_worker_lost`: a message is acknowledged only after its job ran, so a worker
that dies mid-call leaves it in Redis, which hands it out again after the visibility timeout (set to the
job lease). Only transient errors (store or database unreachable, a model that failed to load) are
retried, with exponential backoff; a bad recording fails its call instead.

The worker reads settings (an entry point); the API only sends tasks by name (`pipeline.service.queues`).
This module is a leaf: only `hotline worker` imports it. Each task is made from a `JobRoute` of
`pipeline.service.queues`: its name is the route's wire name (`hotline.transcribe`, `hotline.extract`,
`hotline.webhook`), so messages queued by an older release are still run by a newer worker, and it runs the
route's `Jobs` method, the one the in-process queue runs.
"""

import functools
import logging

from celery import Celery, Task
from sqlalchemy.exc import OperationalError

from models import ModelLoadError, StorageError
from pipeline.service.queues import PHASE_ROUTES, QUEUES, WEBHOOK_ROUTE, JobRoute
from pipeline.service.queues import configure as configure_celery
from pipeline.service.repository import Phase

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (StorageError, OperationalError, ModelLoadError, ConnectionError, TimeoutError)

app = Celery("hotline", set_as_current=False)


def configure(broker_url: str, lease_s: float) -> Celery:
    """Point the worker's app at Redis (`pipeline.service.queues.configure`: the sender's settings too)."""
    return configure_celery(broker_url, lease_s, app)


@functools.cache
def _jobs():
    """The worker process's Jobs: settings read, database migrated, models loaded on first use."""
    from pipeline.service.wiring import build_worker_jobs

    return build_worker_jobs()


_retry = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 5,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
    "acks_late": True,
}


def _task(route: JobRoute) -> Task:
    """The task that runs `route`'s `Jobs` method on the id a message carries, registered under its wire name."""

    def run(job_id: str) -> str:
        return route.run(_jobs(), job_id)

    return app.task(name=route.task, **_retry)(run)


transcribe = _task(PHASE_ROUTES[Phase.TRANSCRIBE])
extract = _task(PHASE_ROUTES[Phase.EXTRACT])
webhook = _task(WEBHOOK_ROUTE)


__all__ = ["QUEUES", "app", "configure", "extract", "transcribe", "webhook"]
