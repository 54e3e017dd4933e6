"""Celery app and its thin tasks: each takes an id and calls `pipeline.service.jobs.Jobs` (idempotent by claims).

`acks_late` + `reject_on_worker_lost`: a message is acknowledged only after its job ran, so a worker
that dies mid-call leaves it in Redis, which hands it out again after the visibility timeout (set to the
job lease). Only transient errors (store or database unreachable, a model that failed to load) are
retried, with exponential backoff; a bad recording fails its call instead.

Housekeeping (`pipeline.service.housekeeping`) runs as periodic tasks that Celery beat sends: the sweep and the
purge every HOTLINE_WORKER__SWEEP_INTERVAL_S, the weekly brief's check hourly (`schedule_housekeeping`). They are
not retried: the next one comes soon, and
one that waited a whole interval in the queue is dropped (`expires`), so a pile-up after an outage runs once.

The worker reads settings (an entry point); the API only sends tasks by name (`pipeline.service.queues`).
This module is a leaf: only `hotline worker` and `hotline beat` import it. Each job task is made from a `JobRoute`
of `pipeline.service.queues`: its name is the route's wire name (`hotline.transcribe`, `hotline.extract`,
`hotline.webhook`), so messages queued by an older release are still run by a newer worker, and it runs the
route's `Jobs` method, the one the in-process queue runs. The housekeeping tasks' wire names are pinned there too
(`hotline.sweep`, `hotline.purge_recordings`).
"""

import functools
import logging

from celery import Celery, Task
from sqlalchemy.exc import OperationalError

from models import ModelLoadError, StorageError
from pipeline.service.housekeeping import Housekeeping
from pipeline.service.queues import (
    HOUSEKEEPING_QUEUE,
    PHASE_ROUTES,
    PURGE_RECORDINGS_TASK,
    QUEUES,
    SWEEP_TASK,
    WEBHOOK_ROUTE,
    WEEKLY_REPORT_TASK,
    JobRoute,
)
from pipeline.service.queues import configure as configure_celery
from pipeline.service.repository import Phase
from pipeline.settings import Settings

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


REPORT_CHECK_INTERVAL_S = 3600.0
"""How often beat asks for last week's brief: it is made on the first check after Sunday ends, and a check that
finds it made costs a file lookup, so a beat that was down on Monday still gets it out."""


@functools.cache
def _housekeeping() -> Housekeeping:
    from pipeline.service.reports import reports_from

    settings, jobs = Settings(), _jobs()
    return Housekeeping(jobs, settings.retention_days, reports_from(settings, jobs.repository))


def schedule_housekeeping(interval_s: float) -> Celery:
    """Beat's schedule: `hotline.sweep` and `hotline.purge_recordings` every `interval_s`, `hotline.weekly_report`
    every `REPORT_CHECK_INTERVAL_S`. Beat keeps it in memory (nothing written to disk): after a restart the first
    ones come one interval later."""
    options = {"queue": HOUSEKEEPING_QUEUE, "expires": interval_s}
    report_options = {"queue": HOUSEKEEPING_QUEUE, "expires": REPORT_CHECK_INTERVAL_S}
    app.conf.update(
        beat_schedule={
            "sweep": {"task": SWEEP_TASK, "schedule": interval_s, "options": options},
            "purge recordings": {"task": PURGE_RECORDINGS_TASK, "schedule": interval_s, "options": options},
            "weekly report": {
                "task": WEEKLY_REPORT_TASK,
                "schedule": REPORT_CHECK_INTERVAL_S,
                "options": report_options,
            },
        },
        beat_scheduler="celery.beat:Scheduler",
        result_expires=None,  # no result backend to clean: beat would add a daily cleanup task otherwise
    )
    return app


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
        return route(_jobs(), job_id)  # logs the outcome (`JobRoute.__call__`)

    return app.task(name=route.task, **_retry)(run)


transcribe = _task(PHASE_ROUTES[Phase.TRANSCRIBE])
extract = _task(PHASE_ROUTES[Phase.EXTRACT])
webhook = _task(WEBHOOK_ROUTE)


@app.task(name=SWEEP_TASK)
def sweep() -> int:
    return _housekeeping().sweep()


@app.task(name=PURGE_RECORDINGS_TASK)
def purge_recordings() -> int:
    return _housekeeping().purge_recordings()


@app.task(name=WEEKLY_REPORT_TASK)
def weekly_report() -> str | None:
    return _housekeeping().weekly_report()


__all__ = [
    "QUEUES",
    "app",
    "configure",
    "extract",
    "purge_recordings",
    "schedule_housekeeping",
    "sweep",
    "transcribe",
    "webhook",
    "weekly_report",
]
