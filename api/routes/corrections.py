"""/v1/corrections: operator-accepted tickets as routing training data (admin only).

A bulk export of what citizens reported is the API's most sensitive flow: admin keys only, at most `limit`
tickets per request (the oldest first: continue with `since` = the last row's `accepted_at`), and each export
is logged with the key that made it."""

import itertools
import logging
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from api.auth import AdminKey
from api.deps import ServicesDep
from api.errors import ERRORS
from pipeline.meta import MOMENT_RANGE, Moment, aware
from pipeline.service.corrections import correction_rows, to_csv, to_jsonl

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/corrections", tags=["admin"])

MAX_EXPORT_ROWS = 100_000


@router.get(
    "",
    responses={**ERRORS, 200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
    summary="Accepted tickets as training data (CSV for `hotline train routing`, or JSON lines)",
)
def export_corrections(
    principal: AdminKey,
    services: ServicesDep,
    since: Annotated[Moment | None, Query(description=f"accepted at or after; {MOMENT_RANGE}")] = None,
    until: Annotated[Moment | None, Query(description=f"accepted before; {MOMENT_RANGE}")] = None,
    format: Literal["csv", "jsonl"] = "csv",
    limit: Annotated[int, Query(ge=1, le=MAX_EXPORT_ROWS, description="at most this many tickets")] = MAX_EXPORT_ROWS,
) -> StreamingResponse:
    logger.info("corrections export by key %d, at most %d rows", principal.key_id, limit)
    rows = correction_rows(services.repository, aware(since), aware(until), limit)
    # The query runs here, before the 200 and its headers are sent: an error is then a JSON error response,
    # not a connection dropped in the middle of the body (the rows are read lazily, and used to fail there).
    rows = _started(rows)
    if format == "jsonl":
        return StreamingResponse(to_jsonl(rows), media_type="application/x-ndjson; charset=utf-8")
    headers = {"Content-Disposition": 'attachment; filename="corrections.csv"'}
    return StreamingResponse(to_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)


def _started(rows: Iterator[dict]) -> Iterator[dict]:
    """The same rows, the first one already read (so the database has answered)."""
    first = next(rows, None)
    return rows if first is None else itertools.chain([first], rows)
