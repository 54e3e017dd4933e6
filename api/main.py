"""The FastAPI app. `uvicorn api.main:app` or `hotline serve`; settings from HOTLINE_* at start-up.

Importing this module loads no model and no torch: the API stores recordings and hands call ids to
workers (Celery), or, with no Redis configured, to a job thread of its own that loads the models on
the first call.
"""

from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import docs, errors, pages
from api.headers import SecurityHeaders
from api.limits import JSON_BODY_LIMIT, BodyGuard, SendGuard
from api.requestlog import RequestLog
from api.routes import (
    audits,
    calls,
    corrections,
    keys,
    live,
    live_events,
    reference,
    related,
    reports,
    service,
    session,
)
from pipeline.settings import Settings

API_VERSION = "1.0.0"


def create_app(settings: Settings | None = None, services=None) -> FastAPI:
    """The app; `services` (pipeline.service.wiring.Services) may be given by tests, else built at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        from pipeline.service.housekeeping import Housekeeping
        from pipeline.service.reports import reports_from
        from pipeline.service.wiring import build_services, start_preparing_models

        nonlocal services
        owned = services is None
        if owned:
            services = build_services(settings or Settings())
            # the bundled model is joined now, not by the first call; /readyz says ready once it is there
            app.state.preparing_models = start_preparing_models(services.settings)
        app.state.services = services
        housekeeping = None
        if services.jobs is not None:  # in-process mode: no Celery beat, this process keeps its own time
            reports = reports_from(services.settings, services.repository)
            housekeeping = Housekeeping(services.jobs, services.settings.retention_days, reports)
            housekeeping.start(services.settings.worker.sweep_interval_s)
        try:
            yield
        finally:
            await live.close_live_redis(app)
            if housekeeping:
                housekeeping.stop()
            if owned:
                if services.jobs is not None:
                    services.queue.stop()
                services.store.close()
                services.engine.dispose()

    app = FastAPI(
        title="hotline-intake",
        version=API_VERSION,
        description="Call intake for a 12345 hotline: push recordings, read transcripts and pre-filled tickets, "
        "review and audit. Every /v1 endpoint needs an API key (Authorization: Bearer <key>).",
        lifespan=lifespan,
        docs_url=None,  # api.docs serves Swagger UI from this app's own files
        redirect_slashes=False,  # a redirect would be built from the request's Host header, which clients set
        redoc_url=None,
    )
    errors.install(app)
    app.include_router(calls.router)
    app.include_router(related.router)
    app.include_router(audits.router)
    app.include_router(reports.router)
    app.include_router(corrections.router)
    app.include_router(reference.router)
    app.include_router(session.router)
    app.include_router(keys.router)
    app.include_router(service.router)
    app.include_router(live.router)
    app.include_router(live_events.router)
    pages.install(app)
    docs.install(app)

    def body_limit(scope) -> int:
        if scope["method"] == "POST" and scope["path"] == "/v1/calls":  # the push: a recording and its fields
            return int(app.state.services.settings.max_upload_mb * 1_000_000) + 64 * 1024
        return JSON_BODY_LIMIT

    def body_timeouts() -> tuple[float, float]:
        server = app.state.services.settings.server
        return server.body_idle_timeout_s, server.body_timeout_s

    app.add_middleware(BodyGuard, max_bytes=body_limit, timeouts=body_timeouts)
    app.add_middleware(SendGuard, idle_s=lambda: app.state.services.settings.server.send_idle_timeout_s)
    app.add_middleware(SecurityHeaders)  # outside the body guard, so its 413 and 408 get them too
    app.add_middleware(RequestLog)  # added last: outermost, it logs the status the client got
    return app


app = create_app()
