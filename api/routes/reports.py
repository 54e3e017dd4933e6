"""/v1/reports: the weekly brief (一周热点) and monthly report for QA and supervisors (docs/REPORTS.md).

The reports are HTML files the service stores under its data directory (`pipeline.service.reports`): made by
housekeeping each week, or here on demand. A report is served as a document that runs nothing and loads
nothing (its charts are `data:` images, its one style block allowed by hash), which the reports page may frame.
"""

import threading
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse

from api.auth import AuditKey
from api.deps import ServicesDep
from api.errors import ERRORS, ApiError
from api.schemas import ReportOut, ReportRequest

router = APIRouter(prefix="/v1/reports", tags=["qa"])

MAKING = threading.Lock()
"""One report made at a time per API process. A report reads every ticket of its period and baseline: a year's
over the 4,788 Haikou tickets took 37 s of a core (a week's 5 s), and a hotline takes that many in a few days, so
QA clicking "make" again while it runs (or several at once) would hold every core for as long."""
MAKING_RETRY_S = 30


def _out(stored) -> ReportOut:
    return ReportOut(
        name=stored.name,
        kind=stored.kind,
        start=stored.start,
        last_day=stored.last_day,
        size=stored.size,
        made_at=stored.made_at,
        url=f"/v1/reports/{stored.name}",
    )


def _reports(services):
    from pipeline.service.reports import reports_from  # deferred: the analysis loads only when reports are used

    return reports_from(services.settings, services.repository)


@router.get("", response_model=list[ReportOut], responses=ERRORS, summary="Stored reports, latest period first")
def list_reports(
    _principal: AuditKey,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ReportOut]:
    return [_out(stored) for stored in _reports(services).store.list(limit)]


@router.post("", response_model=ReportOut, status_code=201, responses=ERRORS, summary="Make a report now")
def make_report(_principal: AuditKey, services: ServicesDep, request: ReportRequest) -> ReportOut:
    """Made from the calls' tickets over [start, last_day] and stored (a report of the same period is replaced).
    One at a time per process: while one is being made, 429 with Retry-After."""
    from pipeline.reports import check_period

    try:
        check_period(request.kind, request.start, request.last_day)
    except ValueError as error:
        raise ApiError(422, "invalid_period", str(error)) from None
    if not MAKING.acquire(blocking=False):
        raise ApiError(
            429, "busy", "a report is being made; retry when it is done", {"Retry-After": str(MAKING_RETRY_S)}
        )
    try:
        return _out(_reports(services).generate(request.kind, request.start, request.last_day))
    finally:
        MAKING.release()


@router.get("/{name}", response_class=FileResponse, responses=ERRORS, summary="A report's HTML")
def report_file(
    _principal: AuditKey,
    services: ServicesDep,
    name: Annotated[str, Path(max_length=64)],
    download: Annotated[bool, Query(description="as an attachment, to save")] = False,
) -> FileResponse:
    from pipeline.reports import STYLE_CSP_HASH

    path = _reports(services).store.path(name)
    if path is None:
        raise ApiError(404, "not_found", f"no report {name}")
    headers = {
        "Content-Security-Policy": (
            f"default-src 'none'; img-src data:; style-src {STYLE_CSP_HASH}; frame-ancestors 'self'; "
            "base-uri 'none'; form-action 'none'"
        ),
        "X-Frame-Options": "SAMEORIGIN",  # the reports page shows it in a frame; no other site may
    }
    return FileResponse(
        path,
        media_type="text/html; charset=utf-8",
        headers=headers,
        filename=name if download else None,
        content_disposition_type="attachment" if download else "inline",
    )
