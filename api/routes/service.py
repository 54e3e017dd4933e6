"""Liveness, readiness (database, Redis, models) and Prometheus metrics."""

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from api.deps import ServicesDep

router = APIRouter(tags=["service"])


@router.get("/healthz", summary="The process answers")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", summary="Database, Redis and models reachable", responses={503: {"description": "not ready"}})
def readyz(request: Request, services: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        services.repository.ping()
        checks["database"] = "ok"
    except Exception as error:  # readiness reports, it does not raise
        checks["database"] = f"error: {type(error).__name__}"
    if services.settings.redis_url:
        checks["redis"] = _redis_check(services.settings.redis_url)
    else:
        checks["redis"] = "not used (in-process jobs)"
    preparing = getattr(request.app.state, "preparing_models", None)
    if preparing is not None and preparing.is_alive():
        checks["models"] = "error: the bundled model is being prepared (start-up, once per data directory)"
    else:
        checks["models"] = _models_check(services.settings)
    ready = all(value == "ok" or value.startswith("not used") for value in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)


def _redis_check(url: str) -> str:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        return "ok"
    except Exception as error:
        return f"error: {type(error).__name__}"


def _models_check(settings) -> str:
    """The Whisper model the workers will load is present (the bundled base, or a local directory)."""
    from pathlib import Path

    name = settings.model
    if name == "base":
        model_dir = settings.resolved_model_cache / "whisper-base-ct2"
        return "ok" if (model_dir / "model.bin").is_file() else "error: bundled model not assembled (scripts/setup)"
    if Path(name).is_dir():
        return "ok" if (Path(name) / "model.bin").is_file() else f"error: no model.bin in {name}"
    return "ok"  # a hub name: downloaded by the workers


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(services: ServicesDep) -> Response:
    registry = CollectorRegistry()
    jobs = Gauge("hotline_calls", "Calls by status", ["status"], registry=registry)
    for status in ("live", "queued", "processing", "done", "failed"):
        jobs.labels(status).set(0)
    for status, count in services.repository.counts_by_status().items():
        jobs.labels(status).set(count)
    depth = Gauge("hotline_queue_depth", "Messages waiting in each queue", ["queue"], registry=registry)
    for queue, count in _queue_depths(services).items():
        depth.labels(queue).set(count)
    stats = services.repository.processing_stats()
    stage = Gauge(
        "hotline_stage_seconds_mean", "Mean duration of each stage over finished calls", ["stage"], registry=registry
    )
    for name, seconds in stats["stages"].items():
        stage.labels(name).set(seconds)
    Gauge("hotline_real_time_factor", "Processing time / audio time over finished calls", registry=registry).set(
        stats["real_time_factor"]
    )
    Gauge("hotline_metrics_generated_timestamp", "When these numbers were read", registry=registry).set(time.time())
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _queue_depths(services) -> dict[str, int]:
    from pipeline.service.queues import QUEUES

    if not services.settings.redis_url:
        return services.queue.depths()  # the in-process queues carry the same names
    import redis

    client = redis.Redis.from_url(services.settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    try:
        # Celery's Redis transport keeps one list per queue and priority step ("asr", "asr:6", …)
        return {queue: sum(client.llen(f"{queue}:{step}" if step else queue) for step in range(10)) for queue in QUEUES}
    except Exception:
        return {}
    finally:
        client.close()
