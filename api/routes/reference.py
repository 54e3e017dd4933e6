"""/v1/reference: the values the ticket's closed fields take, for the operator page's pick lists (the
departments of the deployment's duty catalogue, request types, urgency, emotion) and QA's mark kinds; and the
search by duty behind the operator page's 其他单位 box (`/v1/reference/departments?q=电梯年检`).

The search matches names, keywords (by characters and by sound) and character pairs only: no embedding model is
loaded into the web process for it (bench/department_search.py: multilingual-e5 would add 8 points of top-3 at
seconds of start-up and tens of ms per keystroke; docs/BENCHMARKS.md)."""

import functools
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import ReadKey, ReviewKey
from api.deps import ServicesDep
from api.errors import ERRORS
from api.schemas import MARK_KINDS, DepartmentMatchOut, DepartmentSearchOut

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


@router.get(
    "/departments",
    response_model=DepartmentSearchOut,
    responses=ERRORS,
    summary="Units of the duty catalogue that handle a matter, or go by a name",
)
def search_departments(
    _principal: ReviewKey,
    services: ServicesDep,
    q: Annotated[
        str,
        Query(min_length=1, max_length=64, description="a matter in the caller's or the operator's words, or a name"),
    ],
    limit: Annotated[int, Query(ge=1, le=20, description="at most this many units")] = 8,
) -> DepartmentSearchOut:
    """The duty catalogue's units ranked by how well their name or duties match `q` ("电梯年检" → 市场监督管理局,
    its matter 特种设备与产品质量), each with the duty and the words that matched."""
    found = _catalogue(services.settings.extract.catalogue).search(q, k=limit)
    return DepartmentSearchOut(
        query=q,
        items=[
            DepartmentMatchOut(
                department=item.department,
                score=item.score,
                duty=item.duty,
                words=list(item.words),
                matched_by=item.matched_by,
            )
            for item in found
        ],
    )


@functools.cache
def _catalogue(catalogue_path: Path | None):
    from extract.catalogue import load_catalogue

    return load_catalogue(catalogue_path)


@functools.cache
def _reference(catalogue_path: Path | None) -> ReferenceOut:
    from models.ticket import EMOTIONS, REQUEST_TYPES, REVIEW_LEVELS, URGENCY_LEVELS

    catalogue = _catalogue(catalogue_path)
    return ReferenceOut(
        departments=[department.name for department in catalogue.departments],
        request_types=list(REQUEST_TYPES),
        urgency_levels=list(URGENCY_LEVELS),
        emotions=list(EMOTIONS),
        review_levels=list(REVIEW_LEVELS),
        mark_kinds=list(MARK_KINDS),
    )
