"""Celery app and its thin tasks: each takes an id and calls `pipeline.service.jobs.Jobs` (idempotent by claims).

`acks_late` + `reject_on_worker_lost`: a message is acknowledged only after its job ran, so a worker
that dies mid-call leaves it in Redis, which hands it out again after the visibility timeout (set to the
job lease). Only transient errors (store or database unreachable, a model that failed to load) are
retried, with exponential backoff; a bad recording fails its call instead.

The worker reads settings (an entry point); the API only sends tasks by name (`pipeline.service.queues`).
"""

import functools
import logging

from celery import Celery
from sqlalchemy.exc import OperationalError

from models import ModelLoadError, StorageError
from pipeline.service.queues import QUEUES, WEBHOOK_TASK

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (StorageError, OperationalError, ModelLoadError, ConnectionError, TimeoutError)

app = Celery("hotline", set_as_current=False)


def configure(broker_url: str, lease_s: float, target: Celery | None = None) -> Celery:
    """Point the worker's app (or `target`) at Redis. The visibility timeout equals the job lease: longer
    than the slowest call."""
    target = target or app
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


def sender(broker_url: str, lease_s: float) -> Celery:
    """An app of its own for a process that only sends tasks by name (the API): its connection pool belongs
    to this broker URL, whatever else the process has configured."""
    return configure(broker_url, lease_s, Celery("hotline-sender", set_as_current=False))


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


@app.task(name="hotline.transcribe", **_retry)
def transcribe(call_id: str) -> str:
    return _jobs().transcribe(call_id)


@app.task(name="hotline.extract", **_retry)
def extract(call_id: str) -> str:
    return _jobs().extract(call_id)


@app.task(name=WEBHOOK_TASK, **_retry)
def webhook(delivery_id: str) -> str:
    return _jobs().deliver_webhook(delivery_id)


__all__ = ["QUEUES", "app", "configure", "extract", "sender", "transcribe", "webhook"]
