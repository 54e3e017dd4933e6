"""/v1/audits: QA across calls (the per-operator summary of the QA page)."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import AuditKey
from api.deps import ServicesDep
from api.errors import ERRORS
from api.schemas import AgentSummary
from pipeline.meta import DAY_OR_MOMENT, DayOrMoment, window_end, window_start

router = APIRouter(prefix="/v1/audits", tags=["qa"])


@router.get("/summary", response_model=list[AgentSummary], responses=ERRORS, summary="Per-operator QA summary")
def agent_summary(
    principal: AuditKey,
    services: ServicesDep,
    since: Annotated[DayOrMoment | None, Query(description=f"calls that started from; {DAY_OR_MOMENT}")] = None,
    until: Annotated[
        DayOrMoment | None, Query(description=f"calls that started up to: a date includes its day; {DAY_OR_MOMENT}")
    ] = None,
) -> list[AgentSummary]:
    rows = services.repository.agent_summary(principal.scope, window_start(since), window_end(until))
    return [AgentSummary(**row) for row in rows]
