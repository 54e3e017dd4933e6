"""/v1/audits: QA across calls (the per-operator summary of the QA page)."""

from datetime import datetime

from fastapi import APIRouter, Request

from api.auth import AuditKey
from api.errors import ERRORS
from api.schemas import AgentSummary
from pipeline.meta import aware

router = APIRouter(prefix="/v1/audits", tags=["qa"])


@router.get("/summary", response_model=list[AgentSummary], responses=ERRORS, summary="Per-operator QA summary")
def agent_summary(
    request: Request, principal: AuditKey, since: datetime | None = None, until: datetime | None = None
) -> list[AgentSummary]:
    rows = request.app.state.services.repository.agent_summary(principal.scope, aware(since), aware(until))
    return [AgentSummary(**row) for row in rows]
