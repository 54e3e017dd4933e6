"""/v1/reference: the values the ticket's closed fields take, for the operator page's pick lists (the
departments of the deployment's duty catalogue, request types, urgency, emotion) and QA's mark kinds."""

import functools
from pathlib import Path

from fastapi import APIRouter
from pydantic import BaseModel

from api.auth import ReadKey
from api.deps import ServicesDep
from api.errors import ERRORS
from api.schemas import MARK_KINDS

router = APIRouter(prefix="/v1/reference", tags=["calls"])


class ReferenceOut(BaseModel):
    departments: list[str]
    request_types: list[str]
    urgency_levels: list[str]
    emotions: list[str]
    review_levels: list[str]
    mark_kinds: list[str]


@router.get("", response_model=ReferenceOut, responses=ERRORS, summary="Values of the ticket's closed fields")
def reference(_principal: ReadKey, services: ServicesDep) -> ReferenceOut:
    return _reference(services.settings.extract.catalogue)


@functools.cache
def _reference(catalogue_path: Path | None) -> ReferenceOut:
    from extract.catalogue import load_catalogue
    from models.ticket import EMOTIONS, REQUEST_TYPES, REVIEW_LEVELS, URGENCY_LEVELS

    catalogue = load_catalogue(catalogue_path)
    return ReferenceOut(
        departments=[department.name for department in catalogue.departments],
        request_types=list(REQUEST_TYPES),
        urgency_levels=list(URGENCY_LEVELS),
        emotions=list(EMOTIONS),
        review_levels=list(REVIEW_LEVELS),
        mark_kinds=list(MARK_KINDS),
    )
