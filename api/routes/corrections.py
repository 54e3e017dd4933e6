"""/v1/corrections: operator-accepted tickets as routing training data (admin only)."""

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.auth import AdminKey
from api.errors import ERRORS
from pipeline.corrections import correction_rows, to_csv, to_jsonl
from pipeline.meta import aware

router = APIRouter(prefix="/v1/corrections", tags=["admin"])


@router.get(
    "",
    responses={**ERRORS, 200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
    summary="Accepted tickets as training data (CSV for `hotline train routing`, or JSON lines)",
)
def export_corrections(
    request: Request,
    _principal: AdminKey,
    since: datetime | None = None,
    until: datetime | None = None,
    format: Literal["csv", "jsonl"] = "csv",
) -> StreamingResponse:
    rows = correction_rows(request.app.state.services.repository, aware(since), aware(until))
    if format == "jsonl":
        return StreamingResponse(to_jsonl(rows), media_type="application/x-ndjson; charset=utf-8")
    headers = {"Content-Disposition": 'attachment; filename="corrections.csv"'}
    return StreamingResponse(to_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
