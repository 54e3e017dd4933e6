"""Wiring of the service from settings: database, recording store, job queue and jobs.

Entry points (`hotline serve`, `hotline worker`, `hotline keys`) call these; library code never reads
settings.
"""

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from pipeline.service.caller_keys import deployment_secret
from pipeline.service.database import create_db_engine, make_sessions, migrate
from pipeline.service.jobs import JobOptions, JobQueue, Jobs
from pipeline.service.keys import KeyStore
from pipeline.service.processor import PipelineProcessor
from pipeline.service.recordings import LocalRecordingStore, RecordingStore
from pipeline.service.repository import CallRepository, RelatedOptions
from pipeline.service.ticket_records import TicketRecorder
from pipeline.service.webhooks import WebhookOptions
from pipeline.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class Services:
    """What the API and workers share: settings, database, store, queue; `jobs` in-process only. `keys` is
    made from the repository's sessions: keys and calls live in one database. `recorder` makes a call's ticket
    record again when an operator corrects the ticket, with the secret and city the workers use."""

    settings: Settings
    engine: Engine
    repository: CallRepository
    store: RecordingStore
    queue: JobQueue
    jobs: Jobs | None = None
    keys: KeyStore = field(init=False)
    recorder: TicketRecorder = field(init=False)

    def __post_init__(self) -> None:
        self.keys = KeyStore(self.repository.sessions)
        self.recorder = ticket_recorder(self.settings)


def open_repository(settings: Settings) -> tuple[Engine, CallRepository]:
    """Connect and bring the schema up to date (idempotent at every start)."""
    engine = create_db_engine(settings.resolved_database_url)
    migrate(engine)
    return engine, CallRepository(make_sessions(engine))


def open_store(
    kind: str,
    *,
    root: Path | None = None,
    bucket: str | None = None,
    endpoint_url: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str = "us-east-1",
    prefix: str = "recordings/",
) -> RecordingStore:
    """Build the configured store: "local" needs `root`, "s3" needs `bucket`; anything else is a ValueError."""
    if kind == "local":
        if root is None:
            raise ValueError('the "local" recording store needs a root directory')
        return LocalRecordingStore(root)
    if kind == "s3":
        if not bucket:
            raise ValueError('the "s3" recording store needs a bucket name')
        from pipeline.service.s3 import S3RecordingStore  # boto3 is loaded only when S3 is configured

        return S3RecordingStore(
            bucket,
            endpoint_url=endpoint_url,
            access_key=access_key,
            secret_key=secret_key,
            region=region,
            prefix=prefix,
        )
    raise ValueError(f'unknown recording store kind {kind!r} (expected "local" or "s3")')


def build_store(settings: Settings) -> RecordingStore:
    config = settings.store
    if config.kind == "local":
        return open_store("local", root=settings.recordings_dir)
    store = open_store(
        "s3",
        bucket=config.bucket,
        endpoint_url=config.endpoint_url,
        access_key=config.access_key,
        secret_key=config.secret_key,
        region=config.region,
        prefix=config.prefix,
    )
    store.ensure_bucket()
    return store


def ticket_recorder(settings: Settings) -> TicketRecorder:
    """Ticket records for related-ticket search: the caller keys' secret and the deployment's city."""
    secret = settings.related.caller_key_secret
    return TicketRecorder(
        deployment_secret(secret.get_secret_value() if secret else None, settings.data_dir),
        province=settings.extract.province,
        city=settings.extract.city,
    )


def related_options(settings: Settings) -> RelatedOptions:
    related = settings.related
    return RelatedOptions(
        caller_window_days=related.caller_window_days,
        place_window_days=related.place_window_days,
        matter_window_days=related.matter_window_days,
        same_matter_threshold=related.same_matter_threshold,
        max_results=related.max_results,
    )


def job_options(settings: Settings) -> JobOptions:
    hooks = settings.webhooks
    return JobOptions(
        recorder=ticket_recorder(settings),
        lease_s=settings.worker.lease_s,
        requeue_after_s=settings.worker.requeue_after_s,
        public_url=settings.public_url,
        allow_private_webhooks=hooks.allow_private,
        webhooks=WebhookOptions(
            timeout_s=hooks.timeout_s,
            max_attempts=hooks.max_attempts,
            backoff_base_s=hooks.backoff_base_s,
            backoff_max_s=hooks.backoff_max_s,
        ),
    )


def make_jobs(settings: Settings, repository: CallRepository, store: RecordingStore, queue: JobQueue) -> Jobs:
    """Jobs whose models load on the first call that needs them, once per process."""
    return Jobs(
        repository=repository,
        store=store,
        queue=queue,
        processor=PipelineProcessor(settings),
        options=job_options(settings),
    )


def celery_queue(settings: Settings):
    from pipeline.service.queues import CeleryQueue, sender

    return CeleryQueue(sender(settings.redis_url, settings.worker.lease_s))


def build_services(settings: Settings) -> Services:
    """The API's services: Celery when HOTLINE_REDIS_URL is set, else jobs on a thread of this process."""
    engine, repository = open_repository(settings)
    store = build_store(settings)
    if settings.redis_url:
        return Services(settings, engine, repository, store, celery_queue(settings))
    from pipeline.service.queues import ThreadQueue

    queue = ThreadQueue(threads=settings.worker.concurrency)
    jobs = make_jobs(settings, repository, store, queue)
    queue.start(jobs)
    return Services(settings, engine, repository, store, queue, jobs)


def prepare_models(settings: Settings) -> None:
    """Join the bundled Whisper base into the model cache (verified) when it is the configured model, so that the
    first call does not pay for it; other models are the workers' to load. Errors are logged: the first call
    tries again and fails with the reason. The city's place names that a ticket record needs are loaded first,
    so that an operator's first correction does not wait for them."""
    from asr.weights import DEFAULT_MODEL, resolve_whisper_model

    try:
        ticket_recorder(settings).warm_up()
    except Exception:
        logger.exception("the place names of the ticket records could not be loaded")
    if settings.model != DEFAULT_MODEL:
        return
    try:
        logger.info("preparing the Whisper model %r", settings.model)
        resolve_whisper_model(settings.model, settings.resolved_model_cache)
        logger.info("the Whisper model %r is ready", settings.model)
    except Exception:
        logger.exception("the Whisper model %r could not be prepared", settings.model)


def start_preparing_models(settings: Settings) -> threading.Thread:
    """`prepare_models` on a thread of its own (the server answers meanwhile; /readyz waits for it)."""
    thread = threading.Thread(target=prepare_models, args=(settings,), name="hotline-models", daemon=True)
    thread.start()
    return thread


def build_worker_jobs(settings: Settings | None = None) -> Jobs:
    """A Celery worker process's jobs (its queue sends follow-up tasks through Redis)."""
    settings = settings or Settings()
    if not settings.redis_url:
        raise ValueError("a worker needs HOTLINE_REDIS_URL")
    _, repository = open_repository(settings)
    return make_jobs(settings, repository, build_store(settings), celery_queue(settings))
