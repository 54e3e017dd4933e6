"""/v1/audits: QA across calls (the per-operator summary of the QA page)."""

from typing import Annotated

from fastapi import APIRouter, Query

from api.auth import AuditKey
from api.deps import ServicesDep
from api.errors import ERRORS
from api.schemas import AgentSummary
from pipeline.meta import MOMENT_RANGE, Moment, aware

router = APIRouter(prefix="/v1/audits", tags=["qa"])


@router.get("/summary", response_model=list[AgentSummary], responses=ERRORS, summary="Per-operator QA summary")
def agent_summary(
    principal: AuditKey,
    services: ServicesDep,
    since: Annotated[Moment | None, Query(description=f"calls created at or after; {MOMENT_RANGE}")] = None,
    until: Annotated[Moment | None, Query(description=f"calls created before; {MOMENT_RANGE}")] = None,
) -> list[AgentSummary]:
    rows = services.repository.agent_summary(principal.scope, aware(since), aware(until))
    return [AgentSummary(**row) for row in rows]
