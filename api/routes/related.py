"""/v1/calls/{id}/related and /links: earlier tickets a call repeats, and the operator's links (并单) and
dismissals. Search and decisions live in `pipeline.service.repository.related`."""

from typing import Literal

from fastapi import APIRouter, Query, Response

from api.auth import ReadKey, ReviewKey
from api.deps import ServicesDep
from api.errors import ERRORS
from api.schemas import LinkIn, LinkOut, RelatedTicketOut
from extract.masking import mask_numbers
from pipeline.service.repository import LinkView, RelatedTicket
from pipeline.service.wiring import related_options

router = APIRouter(prefix="/v1/calls", tags=["related tickets"])


@router.get(
    "/{call_id}/related",
    response_model=list[RelatedTicketOut],
    responses=ERRORS,
    summary="Earlier tickets this call repeats: same caller, same place, same matter, best first, with reasons",
)
def get_related(call_id: str, principal: ReadKey, services: ServicesDep) -> list[RelatedTicketOut]:
    services.repository.visible(call_id, principal.scope)
    found = services.repository.related(call_id, related_options(services.settings))
    return [_related_out(item) for item in found]


@router.get("/{call_id}/links", response_model=list[LinkOut], responses=ERRORS, summary="Links of a call (并单)")
def get_links(call_id: str, principal: ReadKey, services: ServicesDep) -> list[LinkOut]:
    services.repository.visible(call_id, principal.scope)
    return [_link_out(view) for view in services.repository.links(call_id)]


@router.post(
    "/{call_id}/links",
    response_model=list[LinkOut],
    responses=ERRORS,
    summary="Link the call to an earlier ticket (并单) or dismiss it; answers the call's links",
)
def post_link(call_id: str, link: LinkIn, principal: ReviewKey, services: ServicesDep) -> list[LinkOut]:
    services.repository.visible(call_id, principal.scope)
    options = related_options(services.settings)
    services.repository.check_linkable(call_id, link.ticket_id, link.source, principal.scope, options)
    for delivery_id in services.repository.decide(call_id, link.ticket_id, link.source, link.action, principal.name):
        services.queue.enqueue_webhook(delivery_id)
    return [_link_out(view) for view in services.repository.links(call_id)]


@router.delete(
    "/{call_id}/links/{ticket_id}",
    status_code=204,
    responses=ERRORS,
    summary="Take back a link or a dismissal",
)
def delete_link(
    call_id: str,
    ticket_id: str,
    principal: ReviewKey,
    services: ServicesDep,
    source: Literal["call", "import"] | None = Query(None),
) -> Response:
    services.repository.visible(call_id, principal.scope)
    for delivery_id in services.repository.undo(call_id, ticket_id, source, principal.name):
        services.queue.enqueue_webhook(delivery_id)
    return Response(status_code=204)


def _related_out(item: RelatedTicket) -> RelatedTicketOut:
    record = item.record
    return RelatedTicketOut(
        ticket_id=record.ticket_id,
        source=record.source,
        created_at=record.created_at,
        text=mask_numbers(record.text),
        matter=record.matter,
        district=record.district,
        place=record.place,
        department=record.department,
        same_caller=item.same_caller,
        same_place=item.same_place,
        same_matter=item.same_matter,
        similarity=item.similarity,
        days_before=item.days_before,
        reasons=item.reasons,
        decision=item.decision,
    )


def _link_out(view: LinkView) -> LinkOut:
    return LinkOut(
        call_id=view.call_id,
        ticket_id=view.record.ticket_id,
        source=view.record.source,
        action=view.action,
        direction=view.direction,
        actor=view.actor,
        at=view.at,
        text=mask_numbers(view.record.text),
        department=view.record.department,
    )
